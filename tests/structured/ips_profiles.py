"""A small FHIR profile checker over the published IPS StructureDefinitions (docs/adr/0039-ips-profile-validation.md).

It reads each profile's snapshot as published in the npm package hl7.fhir.uv.ips and checks, element by element:
cardinality (min/max), fixed and pattern values, the error invariants (FHIRPath, evaluated by fhirpathpy), the
profiles named by an element's type (a resource or datatype profile of the package), and slices (membership by
their value, pattern, type and profile discriminators, then each slice's cardinality and rules). Each failure names
its element path. What it does not check: terminology bindings (no terminology server here), profiles outside the
package (FHIR core profiles such as vital signs: no member), and the base FHIR R4 structure, which the platform's own
validator (opendsp.fhir.validation) checks already.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.models import models as fhirpath_models

PACKAGE = "hl7.fhir.uv.ips"
VERSION = "2.0.0"
IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
# Where scripts/fetch-ips-package.sh unpacks the package (var/ is not committed); OPENDSP_IPS_PACKAGE overrides it.
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "var" / "fhir-packages" / f"{PACKAGE}-{VERSION}" / "package"
# Invariants fhirpathpy cannot evaluate: the narrative's XHTML checks (htmlChecks() is not implemented).
UNEVALUATED = {"txt-1"}
# Invariants checked here rather than by fhirpathpy, which does not resolve an Extension's value[x] nor, without type
# information, children(): ele-1, "All FHIR elements must have a @value or children", on a JSON object is "it has a
# property besides its id"; ext-1, "Must have either extensions or value[x], not both".
NATIVE = {
    "ele-1": lambda value: any(key != "id" for key in value),
    "ext-1": lambda value: ("extension" in value) != any(
        key.startswith("value") and key[5:6].isupper() for key in value),
}
R4 = fhirpath_models["r4"]
# FHIRPath's hasValue(), which fhirpathpy lacks: one item that is a primitive value. trace() writes nowhere.
OPTIONS = {"traceFn": lambda *_: None, "userInvocationTable": {"hasValue": {
    "fn": lambda inputs: [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]}}}


@functools.cache
def _compiled(expression: str) -> Any:
    return fhirpathpy.compile(expression, R4, OPTIONS)


def package_directory() -> Path:
    return Path(os.environ.get("OPENDSP_IPS_PACKAGE") or DEFAULT_DIRECTORY)


@dataclass
class Node:
    definition: dict[str, Any]
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)


def _segments(element_id: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for segment in element_id.split("."):
        name, _, slice_name = segment.partition(":")
        out.append((name, slice_name or None))
    return out


def _tree(structure: dict[str, Any]) -> Node:
    elements = structure["snapshot"]["element"]
    root = Node(elements[0])
    for element in elements[1:]:
        node = root
        *parents, (name, slice_name) = _segments(element["id"])[1:]
        for parent_name, parent_slice in parents:
            node = node.children[parent_name]
            if parent_slice:
                node = node.slices[parent_slice]
        if slice_name:
            node.children[name].slices[slice_name] = Node(element)
        else:
            node.children[name] = Node(element)
    return root


def _items(value: Any, name: str) -> list[tuple[str, str, Any]]:
    """The (json key, path step, value) of each item an element names in a JSON object; a choice element [x]
    matches its typed keys (valueQuantity...); a list's items are numbered in their step. A primitive present only
    by its extensions ("_performedDateTime": a data-absent-reason) is present."""
    if not isinstance(value, dict):
        return []
    present = {key.removeprefix("_") for key in value}
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = sorted(key for key in present if key.startswith(stem) and key[len(stem):len(stem) + 1].isupper())
    else:
        keys = [name] if name in present else []
    out: list[tuple[str, str, Any]] = []
    for key in keys:
        found = value[key] if key in value else value[f"_{key}"]
        if isinstance(found, list):
            out.extend((key, f"{key}[{index}]", item) for index, item in enumerate(found))
        else:
            out.append((key, key, found))
    return out


def matches(pattern: Any, value: Any) -> bool:
    """FHIR pattern matching: every property the pattern gives is in the value; a list's items each match one."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(v, value.get(k)) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(matches(p, v) for v in value) for p in pattern)
    return pattern == value


def _fixed_or_pattern(definition: dict[str, Any]) -> tuple[str, Any] | None:
    for key, value in definition.items():
        if key.startswith("fixed"):
            return "fixed", value
        if key.startswith("pattern"):
            return "pattern", value
    return None


def _profile_urls(definition: dict[str, Any]) -> list[str]:
    return [url.partition("|")[0] for kind in definition.get("type", []) for url in kind.get("profile", [])]


@dataclass
class Context:
    root: dict[str, Any]
    by_url: dict[str, dict[str, Any]]


class Profiles:
    """The package's profiles by canonical URL, each as a tree of its snapshot's elements."""

    def __init__(self, directory: Path) -> None:
        self.trees: dict[str, Node] = {}
        for path in sorted(directory.glob("StructureDefinition-*.json")):
            structure = json.loads(path.read_text(encoding="utf-8"))
            if structure.get("kind") in ("resource", "complex-type") and "snapshot" in structure:
                self.trees[structure["url"]] = _tree(structure)

    def validate(self, resource: dict[str, Any], url: str, *, bundle: dict[str, Any] | None = None) -> list[str]:
        """The failures of a resource against a profile, each "path: what"; [] when it conforms."""
        container = bundle if bundle is not None else resource
        entries = container.get("entry", []) if container.get("resourceType") == "Bundle" else []
        by_url: dict[str, dict[str, Any]] = {}  # what resolve() finds: the Bundle's entries by their fullUrl
        for entry in entries:
            if isinstance(entry, dict) and entry.get("fullUrl") and isinstance(entry.get("resource"), dict):
                by_url[entry["fullUrl"]] = entry["resource"]
        failures: list[str] = []
        self._check(self.trees[url], resource, resource.get("resourceType", "?"), Context(resource, by_url), failures)
        return failures

    def conforms(self, value: Any, url: str, context: Context) -> bool:
        failures: list[str] = []
        self._check(self.trees[url], value, "", Context(value if "resourceType" in value else context.root,
                                                         context.by_url), failures)
        return not failures

    def _check(self, node: Node, value: Any, path: str, context: Context, failures: list[str]) -> None:
        definition = node.definition
        rule = _fixed_or_pattern(definition)
        if rule is not None:
            kind, expected = rule
            if not (value == expected if kind == "fixed" else matches(expected, value)):
                failures.append(f"{path}: {json.dumps(value)} is not the {kind} value {json.dumps(expected)}")
        if isinstance(value, dict):
            self._invariants(definition, value, path, context, failures)
            for url in _profile_urls(definition):
                if url in self.trees:
                    inner = Context(value, context.by_url) if "resourceType" in value else context
                    self._check(self.trees[url], value, path, inner, failures)
        for name, child in node.children.items():
            items = _items(value, name)
            self._cardinality(child.definition, len(items), f"{path}.{name}", failures)
            for _key, step, item in items:
                self._check(child, item, f"{path}.{step}", context, failures)
            if child.slices:
                self._slices(child, name, items, path, context, failures)

    def _slices(self, sliced: Node, name: str, items: list[tuple[str, str, Any]], path: str, context: Context,
                failures: list[str]) -> None:
        """Each item joins the slices whose discriminators it meets. An item that only one slice can hold by its
        other discriminators joins that slice whether or not it conforms to the slice's profile, so that its
        failures are reported rather than the item left unsliced (slicing that is open would let it pass)."""
        discriminators = sliced.definition.get("slicing", {}).get("discriminator", [])
        loose = [d for d in discriminators if d["type"] != "profile"]
        members: dict[str, list[tuple[str, Any]]] = {slice_name: [] for slice_name in sliced.slices}
        for key, step, item in items:
            candidates = [slice_name for slice_name, node in sliced.slices.items()
                          if self._member(node, loose, key, item, slice_name, context)]
            if len(candidates) == 1 and len(loose) < len(discriminators):
                members[candidates[0]].append((step, item))
                continue
            for slice_name in candidates:
                if self._member(sliced.slices[slice_name], discriminators, key, item, slice_name, context):
                    members[slice_name].append((step, item))
        for slice_name, node in sliced.slices.items():
            self._cardinality(node.definition, len(members[slice_name]), f"{path}.{name}:{slice_name}", failures)
            for step, item in members[slice_name]:
                self._check(node, item, f"{path}.{step}:{slice_name}", context, failures)

    @staticmethod
    def _cardinality(definition: dict[str, Any], count: int, path: str, failures: list[str]) -> None:
        low, high = definition.get("min", 0), definition.get("max", "*")
        if count < low:
            failures.append(f"{path}: {count} found, at least {low} required")
        if high != "*" and count > int(high):
            failures.append(f"{path}: {count} found, at most {high} allowed")

    @staticmethod
    def _invariants(definition: dict[str, Any], value: dict[str, Any], path: str, context: Context,
                    failures: list[str]) -> None:
        for constraint in definition.get("constraint", []):
            if constraint.get("severity") != "error" or constraint["key"] in UNEVALUATED:
                continue
            if constraint["key"] in NATIVE:
                if not NATIVE[constraint["key"]](value):
                    failures.append(f"{path}: invariant {constraint['key']} fails: {constraint.get('human', '')}")
                continue
            try:
                result = _compiled(constraint["expression"])(value, {"resource": context.root})
            except Exception as error:  # noqa: BLE001 - an invariant the checker cannot evaluate is a failure too
                failures.append(f"{path}: invariant {constraint['key']} not evaluated ({error})")
                continue
            if result == [False]:
                failures.append(f"{path}: invariant {constraint['key']} fails: {constraint.get('human', '')}")

    def _at(self, item: Any, path: str, context: Context) -> list[Any]:
        values = [item]
        for step in path.split("."):
            if step == "$this":
                continue
            if step == "resolve()":
                values = [context.by_url.get(v.get("reference")) for v in values if isinstance(v, dict)]
                values = [v for v in values if v is not None]
            else:
                values = [v for value in values for _key, _step, v in _items(value, step)]
        return values

    def _member(self, node: Node, discriminators: list[dict[str, Any]], key: str, item: Any, slice_name: str,
                context: Context) -> bool:
        if not discriminators:  # a choice element's type slices: valueQuantity, valueCodeableConcept...
            return key == slice_name
        for discriminator in discriminators:
            target = node
            for step in discriminator["path"].split("."):
                if step not in ("$this", "resolve()"):
                    target = target.children.get(step, Node({}))
            actual = self._at(item, discriminator["path"], context)
            kind = discriminator["type"]
            if kind in ("value", "pattern"):
                rule = _fixed_or_pattern(target.definition)
                if rule is not None and not any(matches(rule[1], value) for value in actual):
                    return False
            elif kind == "type":
                types = {t["code"] for t in target.definition.get("type", [])}
                if types and not any(isinstance(v, dict) and v.get("resourceType") in types for v in actual):
                    return False
            elif kind == "profile":
                urls = _profile_urls(target.definition)
                if not all(url in self.trees for url in urls):
                    return False  # a profile outside the package: no member can be shown to conform
                if not any(isinstance(v, dict) and self.conforms(v, url, context) for v in actual for url in urls):
                    return False
        return True
