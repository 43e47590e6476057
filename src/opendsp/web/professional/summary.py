"""The patient summary view: allergies, problems, medication, immunisations and recent results.

Assembled from the structured index (which entry of which document is an
allergy, a condition, ...) restricted to the documents the professional may
see (the visibility rule applied in SQL),
then the source documents are read through ``RecordAccess.read_documents``:
one decision over them all and one trace entry naming them. Every line links
to its source document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from opendsp.fhir import structured
from opendsp.locale import N_, terms
from opendsp.locale.filters import coded_markup
from opendsp.locale.formats import format_date, format_quantity, format_written_date
from opendsp.policy.decision import AccessDenied
from opendsp.web.auth_views import PlatformDep
from opendsp.web.professional.context import professional_view
from opendsp.web.professional.layout import render_pro, render_refusal
from opendsp.web.professional.wishes import wish_lines

if TYPE_CHECKING:  # a name only: the documents are read through RecordAccess
    from opendsp.documents.models import Document

router = APIRouter()

# Section, the FHIR resource types it gathers, and its heading.
SECTIONS: list[tuple[str, tuple[str, ...], str]] = [
    ("allergies", ("AllergyIntolerance",), N_("Allergies and intolerances")),
    ("problems", ("Condition",), N_("Problems")),
    ("medication", ("MedicationStatement",), N_("Medication")),
    ("immunisations", ("Immunization",), N_("Immunisations")),
    ("results", ("Observation",), N_("Recent results")),
]
# At most this many source documents are consulted for one view (the newest first).
MAX_SOURCES = 20
RECENT_RESULTS = 15


@dataclass(frozen=True)
class Line:
    text: Markup  # escaped, the coded value in the reader's words (its original display on hover)
    detail: str
    flag: str | None
    document: Document


def _text(resource: dict[str, Any], language: str) -> tuple[Markup, str, str | None]:
    kind = resource.get("resourceType")
    field = {"MedicationStatement": "medicationCodeableConcept", "Immunization": "vaccineCode"}.get(kind, "code")
    term = coded_markup(terms.concept_word(resource.get(field), language), terms.concept_original(resource.get(field)))
    if kind == "AllergyIntolerance":
        return term, terms.concept_word(resource.get("verificationStatus"), language), None
    if kind == "Condition":
        return term, format_written_date(resource.get("onsetDateTime"), language), None
    if kind == "MedicationStatement":
        dosage = "; ".join(d["text"] for d in resource.get("dosage") or [] if isinstance(d, dict) and d.get("text"))
        return term, dosage, None
    if kind == "Immunization":
        return term, format_written_date(resource.get("occurrenceDateTime"), language), None
    quantity = resource.get("valueQuantity") or {}
    value = format_quantity(quantity.get("value"), quantity.get("unit") or quantity.get("code"), language)
    when = structured.effective_at(resource)
    return (term + Markup(": ") + value, format_date(when, language) if when else "",
            structured.out_of_range(resource))


@router.get("/pro/patients/{record_id}/summary", response_class=HTMLResponse)
def summary(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> HTMLResponse:
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        wanted = [t for _, types, _ in SECTIONS for t in types]
        try:
            # One decision over the source documents, and one trace entry naming them; the structured index
            # is read through RecordAccess too.
            found = view.access.read_structured_sources(record_id, resource_types=wanted, purpose="summary",
                                                        limit=MAX_SOURCES, with_wishes=True)
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        sources, positions = found.reading, found.positions
        patient = view.patient(record_id, sources.permit)
        lines: dict[str, list[Line]] = {key: [] for key, _, _ in SECTIONS}
        section_of = {t: key for key, types, _ in SECTIONS for t in types}
        for source in sources.items:  # newest first: the latest document's lines come first
            document = source.document
            bundle = structured.parse_document(source.read())
            if bundle is None:
                continue
            resources = bundle.get("entry") or []
            for position, kind in sorted(positions.get(document.id, [])):
                resource = resources[position].get("resource") if position < len(resources) else None
                if not isinstance(resource, dict) or resource.get("resourceType") != kind:
                    continue
                if kind == "Observation" and "valueQuantity" not in resource:
                    continue
                text, detail, flag = _text(resource, request.state.language)
                lines[section_of[kind]].append(Line(text=text, detail=detail, flag=flag, document=document))
        lines["results"] = lines["results"][:RECENT_RESULTS]
        return render_pro(request, view, "professional/summary.html", patient=patient, sections=SECTIONS,
                          lines=lines, truncated=sources.total > len(sources.items),
                          wishes=wish_lines(sources.wishes))
