"""Reading a FHIR document Bundle: whether content is one, its clinical entries, their codes and dates.

Pure functions on parsed JSON: no database, no platform. The index, the FHIR
adapter and the portals read Bundles with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

INDEXED_TYPES = (
    "Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement", "Immunization",
    "MedicationRequest", "MedicationDispense",
)
_CODE_FIELDS = {
    "Observation": "code",
    "DiagnosticReport": "code",
    "AllergyIntolerance": "code",
    "Condition": "code",
    "MedicationStatement": "medicationCodeableConcept",
    "Immunization": "vaccineCode",
    "MedicationRequest": "medicationCodeableConcept",  # ATC, and the Luxembourg medicinal product where given
    "MedicationDispense": "medicationCodeableConcept",
}
_DATE_FIELDS = {
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod", "issued"),
    "AllergyIntolerance": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "Condition": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "Immunization": ("occurrenceDateTime", "recorded"),
    "MedicationRequest": ("authoredOn",),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
}


def parse_document(content: bytes) -> dict[str, Any] | None:
    """The Bundle if the content is a FHIR document Bundle, else None."""
    try:
        bundle = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "document":
        return None
    if not isinstance(bundle.get("entry"), list):
        return None
    return bundle


def entries(bundle: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any]]]:
    """(position, resource) of every indexed entry of a document Bundle."""
    for position, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") in INDEXED_TYPES:
            yield position, resource


def codings(resource: dict[str, Any]) -> list[tuple[str | None, str]]:
    concept = resource.get(_CODE_FIELDS.get(resource.get("resourceType", ""), "code"))
    out = []
    if isinstance(concept, dict):
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                system = coding.get("system")
                out.append((system if isinstance(system, str) else None, coding["code"]))
    return out


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 4:
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def effective_at(resource: dict[str, Any]) -> datetime | None:
    for name in _DATE_FIELDS.get(resource.get("resourceType", ""), ()):
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        moment = parse_instant(value)
        if moment is not None:
            return moment
    return None
