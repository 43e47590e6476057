"""Reading and validating FHIR JSON against the FHIR definitions: R4 (4.0.1) and R4B models, and bindings.

Every resource passes three checks (ADR 0005):

1. the **FHIR R4 4.0.1** models generated from the official definitions by the
   SMART on FHIR project (``fhirclient.models``): the element names of R4
   itself (an element R4B added is refused), their data types, single or list,
   the required elements (min 1), choice types, and the formats of dates;
2. ``fhir.resources``' **R4B** (4.3.0) pydantic models: the formats of every
   primitive (ids, URIs, codes, decimals, base64, instants) more strictly;
3. the required value-set bindings of the elements this API acts on, which
   neither model checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import ValidationError

from opendsp.fhir.errors import FhirError, Issue

# Required bindings of the elements the API reads (FHIR R4 value sets).
REQUIRED_CODES: dict[str, dict[str, frozenset[str]]] = {
    "Bundle": {
        "type": frozenset({"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                           "history", "searchset", "collection"}),
    },
    "DocumentReference": {
        "status": frozenset({"current", "superseded", "entered-in-error"}),
        "docStatus": frozenset({"preliminary", "final", "amended", "entered-in-error"}),
    },
    "Encounter": {
        "status": frozenset({"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
                             "entered-in-error", "unknown"}),
    },
    "List": {
        "status": frozenset({"current", "retired", "entered-in-error"}),
        "mode": frozenset({"working", "snapshot", "changes"}),
    },
}
HTTP_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
RELATIONS = frozenset({"replaces", "transforms", "signs", "appends"})


@cache
def model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


@cache
def r4_class(resource_type: str) -> Any:
    """The FHIR R4 (4.0.1) model of a resource type, from fhirclient (one module per resource)."""
    import importlib

    module = importlib.import_module(f"fhirclient.models.{resource_type.lower()}")
    model = getattr(module, resource_type)
    if getattr(model, "resource_type", None) != resource_type:
        raise KeyError(resource_type)
    return model


def _r4_issues(resource: dict[str, Any], resource_type: str) -> list[Issue]:
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    try:
        r4_class(resource_type)(resource, strict=True)
    except FHIRValidationError as error:
        issues = []
        for path, problem in _flatten(error):
            where = resource_type + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in path.split(".") if p)
            issues.append(Issue("structure", f"{where} (FHIR R4 4.0.1): {problem}", expression=where))
        return issues
    return []


_OBJECT = re.compile(r"<fhirclient\.models\.\w+\.(\w+) object at 0x[0-9a-f]+>")
_CLASS = re.compile(r"<class '(?:fhirclient\.models\.\w+\.)?(\w+)'>")


def _flatten(error: Exception, path: str = "") -> list[tuple[str, str]]:
    """fhirclient nests its errors by element: (the element's path, the problem) for each, in plain words."""
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    if isinstance(error, FHIRValidationError):
        where = f"{path}.{error.path}" if path and error.path else (error.path or path)
        return [found for inner in error.errors for found in _flatten(inner, where)]
    text = str(error.args[0]) if error.args else str(error)
    return [(path, _CLASS.sub(r"\1", _OBJECT.sub(r"\1", text)))]


# No FHIR resource this API takes nests deeper; a deeper body is refused before any model walks it.
MAX_JSON_DEPTH = 64


def read_json(body: bytes) -> Any:
    try:
        value = json.loads(body)
    except RecursionError:
        raise FhirError(400, "structure", f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise FhirError(400, "structure", "the request body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise FhirError(
            400, "structure", f"the request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    """Refuse a body nested too deeply, or holding a NUL character (no text in this API may hold one)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise FhirError(400, "invalid", "the request body holds a NUL character in a text")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise FhirError(400, "structure", f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)


def _path(resource_type: str, location: Iterable[Any]) -> str:
    text = resource_type
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _issue_code(error_type: str) -> str:
    if error_type.endswith("missing") or error_type == "missing":
        return "required"
    if error_type == "extra_forbidden":
        return "structure"
    return "value"


def validate(resource: Any, expected: Iterable[str] | None = None) -> dict[str, Any]:
    """Check a parsed resource; return it unchanged, or raise FhirError listing every problem."""
    if not isinstance(resource, dict):
        raise FhirError(400, "structure", "a FHIR resource is a JSON object")
    resource_type = resource.get("resourceType")
    wanted = list(expected or [])
    if not isinstance(resource_type, str):
        raise FhirError(400, "structure", "the resource has no resourceType", expression="resourceType")
    if wanted and resource_type not in wanted:
        raise FhirError(
            400, "invalid", f"expected a {' or '.join(wanted)} resource, got {resource_type}", expression="resourceType"
        )
    try:
        cls = model_class(resource_type)
        r4_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        raise FhirError(400, "not-supported", f"unknown resource type {resource_type!r} (FHIR R4)",
                        expression="resourceType") from None
    r4 = _r4_issues(resource, resource_type)
    if r4:
        raise FhirError(400, "structure", "the resource does not validate against FHIR R4 (4.0.1)", issues=r4)
    try:
        cls.model_validate(resource)
    except ValidationError as error:
        issues = [
            Issue(_issue_code(item["type"]), f"{_path(resource_type, item['loc'])}: {item['msg']}",
                  expression=_path(resource_type, item["loc"]))
            for item in error.errors()
        ]
        raise FhirError(400, "structure", "the resource does not validate", issues=issues) from None
    except (TypeError, ValueError) as error:
        raise FhirError(400, "structure", f"the resource does not validate: {error}") from None
    issues = list(_binding_issues(resource, resource_type))
    if issues:
        raise FhirError(400, "code-invalid", "a code is not in its required value set", issues=issues)
    return resource


def _binding_issues(resource: dict[str, Any], path: str) -> Iterable[Issue]:
    resource_type = resource.get("resourceType", "")
    for element, allowed in REQUIRED_CODES.get(resource_type, {}).items():
        value = resource.get(element)
        if value is not None and value not in allowed:
            yield Issue("code-invalid", f"{path}.{element}: {value!r} is not one of {', '.join(sorted(allowed))}",
                        expression=f"{path}.{element}")
    if resource_type == "DocumentReference":
        for i, relation in enumerate(resource.get("relatesTo") or []):
            if relation.get("code") not in RELATIONS:
                yield Issue("code-invalid", f"{path}.relatesTo[{i}].code: {relation.get('code')!r} is not one of "
                            f"{', '.join(sorted(RELATIONS))}", expression=f"{path}.relatesTo[{i}].code")
        if not resource.get("content"):
            yield Issue("required", f"{path}.content: at least one content is required", expression=f"{path}.content")
    if resource_type == "Bundle":
        for i, entry in enumerate(resource.get("entry") or []):
            method = (entry.get("request") or {}).get("method")
            if method is not None and method not in HTTP_VERBS:
                yield Issue("code-invalid", f"{path}.entry[{i}].request.method: {method!r} is not an HTTP verb",
                            expression=f"{path}.entry[{i}].request.method")
            inner = entry.get("resource")
            if isinstance(inner, dict):
                yield from _binding_issues(inner, f"{path}.entry[{i}].resource")
    for i, contained in enumerate(resource.get("contained") or []):
        if isinstance(contained, dict):
            yield from _binding_issues(contained, f"{path}.contained[{i}]")


def parse(body: bytes, expected: Iterable[str] | None = None) -> dict[str, Any]:
    return validate(read_json(body), expected)
