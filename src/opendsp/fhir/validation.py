"""Reading and validating FHIR JSON against the FHIR definitions (fhir.resources, R4B models).

The R4B (4.3.0) models are used for 4.0.1 content: the resources this API
reads and writes have the same shape in both (see ADR 0005). The models check
structure, cardinality of single elements, data types and their formats; they
do not check the required value-set bindings, so those of the elements this
API acts on are checked here as well.
"""

from __future__ import annotations

import json
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


def read_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise FhirError(400, "structure", "the request body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise FhirError(
            400, "structure", f"the request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


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
    except (KeyError, ValueError, AttributeError, ImportError):
        raise FhirError(400, "not-supported", f"unknown resource type {resource_type!r}", expression="resourceType") from None
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
