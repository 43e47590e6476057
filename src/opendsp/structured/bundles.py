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
    "ImagingStudy", "Procedure",
    "MedicationRequest", "MedicationDispense",
)
_CODE_FIELDS = {
    "Observation": "code",
    "DiagnosticReport": "code",
    "AllergyIntolerance": "code",
    "Condition": "code",
    "MedicationStatement": "medicationCodeableConcept",
    "Immunization": "vaccineCode",
    "Procedure": "code",
    # ImagingStudy has no one concept: its modalities and body sites are Codings (see ``codings``).
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
    "ImagingStudy": ("started",),
    "Procedure": ("performedDateTime", "performedPeriod"),
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


def _study_codings(study: dict[str, Any]) -> list[Any]:
    """An ImagingStudy's modalities and body sites: the study's own, then each series'."""
    found: list[Any] = list(study.get("modality") or []) if isinstance(study.get("modality"), list) else []
    for series in study.get("series") or []:
        if isinstance(series, dict):
            found.extend([series.get("modality"), series.get("bodySite")])
    return found


def codings(resource: dict[str, Any]) -> list[tuple[str | None, str]]:
    if resource.get("resourceType") == "ImagingStudy":
        listed = _study_codings(resource)
    else:
        concept = resource.get(_CODE_FIELDS.get(resource.get("resourceType", ""), "code"))
        listed = concept.get("coding") or [] if isinstance(concept, dict) else []
    out: list[tuple[str | None, str]] = []
    for coding in listed if isinstance(listed, list) else []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            system = coding.get("system")
            pair = (system if isinstance(system, str) else None, coding["code"])
            if pair not in out:
                out.append(pair)
    return out


def resources_by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource of a Bundle by its entry's fullUrl."""
    found: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry") or []:
        if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str) and isinstance(entry.get("resource"), dict):
            found[entry["fullUrl"]] = entry["resource"]
    return found


# The document types whose FHIR content must be fit for the type (``content_problems``) before it is stored.
CHECKED_TYPES = frozenset({"imaging_report", "discharge_letter"})


def content_problems(bundle: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """What makes a document Bundle unfit for its document type: (message, FHIRPath), empty when it is fit.

    An imaging report's DiagnosticReports each name their ImagingStudy, and the study is in the same Bundle
    (a report without the study it describes cannot be linked to the images); a discharge report has a
    Composition with sections.
    """
    problems: list[tuple[str, str]] = []
    by_url = resources_by_url(bundle)
    positions = [(i, e.get("resource")) for i, e in enumerate(bundle.get("entry") or []) if isinstance(e, dict)]
    if kind == "imaging_report":
        reports = [(i, r) for i, r in positions if isinstance(r, dict) and r.get("resourceType") == "DiagnosticReport"]
        if not reports:
            problems.append(("an imaging report carries a DiagnosticReport", "Bundle.entry"))
        for index, report in reports:
            where = f"Bundle.entry[{index}].resource.imagingStudy"
            studies = report.get("imagingStudy")
            if not isinstance(studies, list) or not studies:
                problems.append(("the DiagnosticReport of an imaging report references its ImagingStudy", where))
                continue
            for j, reference in enumerate(studies):
                target = by_url.get(reference.get("reference")) if isinstance(reference, dict) else None
                if target is None or target.get("resourceType") != "ImagingStudy":
                    problems.append(("the referenced ImagingStudy is not in this Bundle", f"{where}[{j}]"))
    elif kind == "discharge_letter":
        compositions = [r for _, r in positions if isinstance(r, dict) and r.get("resourceType") == "Composition"]
        if not compositions or not isinstance(compositions[0].get("section"), list) or not compositions[0]["section"]:
            problems.append(("a discharge report has a Composition with sections", "Bundle.entry[0].resource.section"))
    return problems


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
