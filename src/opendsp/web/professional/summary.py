"""The patient summary view: allergies, problems, current medication, immunisations, the latest imaging and
discharge reports, and recent results.

Assembled from the structured index (which entry of which document is an
allergy, a condition, a prescription, ...) restricted to the documents the
professional may see (the visibility rule applied in SQL), then the source
documents are read through ``RecordAccess.read_structured_sources``: one
decision over them all and one trace entry naming them. The current
medication is the medication list's rule (``structured.medications``), the
immunisations the vaccination record's (``structured.vaccinations``: each
once). Every line links to its source document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from opendsp.documents.types import DocumentType
from opendsp.fhir import structured
from opendsp.locale import N_, terms, translations
from opendsp.locale.filters import coded_markup
from opendsp.locale.formats import format_date, format_quantity, format_written_date
from opendsp.policy.decision import AccessDenied
from opendsp.structured.bundles import resources_by_url
from opendsp.structured.medications import medication_list, party_names
from opendsp.structured.vaccinations import vaccination_record
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
    ("current_medication", ("MedicationRequest", "MedicationDispense"), N_("Current medication")),
    ("medication", ("MedicationStatement",), N_("Medication")),
    ("immunisations", ("Immunization",), N_("Immunisations")),
    ("imaging", ("DiagnosticReport", "ImagingStudy"), N_("Latest imaging reports")),
    ("discharge", (), N_("Latest discharge report")),
    ("results", ("Observation",), N_("Recent results")),
]
# At most this many source documents are consulted for one view (the newest first).
MAX_SOURCES = 40
RECENT_RESULTS = 15
SINCE = N_("since %(date)s")
LAST_DISPENSED = N_("last dispensed %(date)s")
LATEST_IMAGING = 3
CURRENT_MEDICINES = 15


@dataclass(frozen=True)
class Line:
    text: Markup  # escaped, the coded value in the reader's words (its original display on hover)
    detail: str
    flag: str | None
    document: Document


def _word(concept: Any, language: str) -> Markup:
    return coded_markup(terms.concept_word(concept, language), terms.concept_original(concept))


def _text(resource: dict[str, Any], language: str) -> tuple[Markup, str, str | None]:
    kind = resource.get("resourceType")
    field = {"MedicationStatement": "medicationCodeableConcept", "Immunization": "vaccineCode"}.get(kind, "code")
    term = _word(resource.get(field), language)
    if kind == "AllergyIntolerance":
        return term, terms.concept_word(resource.get("verificationStatus"), language), None
    if kind == "Condition":
        return term, format_written_date(resource.get("onsetDateTime"), language), None
    if kind == "MedicationStatement":
        dosage = "; ".join(d["text"] for d in resource.get("dosage") or [] if isinstance(d, dict) and d.get("text"))
        return term, dosage, None
    quantity = resource.get("valueQuantity") or {}
    value = format_quantity(quantity.get("value"), quantity.get("unit") or quantity.get("code"), language)
    when = structured.effective_at(resource)
    return (term + Markup(": ") + value, format_date(when, language) if when else "",
            structured.out_of_range(resource))


def _current_medication(sources: list[tuple[Document, dict[str, Any], list[dict[str, Any]]]],
                        language: str, _: Callable[[str], str]) -> list[Line]:
    """The medication list's lines (what is prescribed, what was dispensed, since when), each linked to its
    newest source: the latest dispensation, else the latest prescription."""
    documents = {source[0].id: source[0] for source in sources}
    medicines = medication_list(
        (document.id, [r for r in resources if r.get("resourceType") in ("MedicationRequest", "MedicationDispense")],
         party_names(bundle))
        for document, bundle, resources in sources)
    lines = []
    for medicine in medicines[:CURRENT_MEDICINES]:
        parts = []
        if medicine.since:
            parts.append(_(SINCE) % {"date": format_written_date(medicine.since, language)})
        if medicine.prescribed and medicine.prescribed[0].dosage:
            parts.append(medicine.prescribed[0].dosage)
        if medicine.dispensed:
            handed = medicine.dispensed[0].handed_over
            parts.append(_(LAST_DISPENSED) % {"date": format_written_date(handed, language) if handed else "—"})
        source = (medicine.dispensed or medicine.prescribed)[0].document_id
        lines.append(Line(text=_word(medicine.medicine, language), detail=" · ".join(parts), flag=None,
                          document=documents[source]))
    return lines


def _immunisations(sources: list[tuple[Document, dict[str, Any], list[dict[str, Any]]]],
                   language: str) -> list[Line]:
    """Each vaccination once (later summaries repeat the earlier ones), linked to the newest document stating it."""
    documents = {document.id: document for document, _, _ in sources}
    found = vaccination_record((document.id, resources) for document, _, resources in sources)
    return [Line(text=_word(v.vaccine, language), detail=format_written_date(v.given, language) if v.given else "",
                 flag=None, document=documents[v.document_id]) for v in found]


def _imaging(document: Document, bundle: dict[str, Any], resources: list[dict[str, Any]],
             language: str) -> list[Line]:
    """An imaging report's examinations, each with the study's modalities and body sites in the reader's words."""
    studies = resources_by_url(bundle)
    lines = []
    for report in (r for r in resources if r.get("resourceType") == "DiagnosticReport"):
        seen: list[str] = []
        for reference in report.get("imagingStudy") or []:
            study = studies.get(reference.get("reference")) if isinstance(reference, dict) else None
            if not isinstance(study, dict):
                continue
            codings = [c for c in study.get("modality") or [] if isinstance(c, dict)]
            codings += [s["bodySite"] for s in study.get("series") or []
                        if isinstance(s, dict) and isinstance(s.get("bodySite"), dict)]
            for coding in codings:
                word = terms.concept_word({"coding": [coding]}, language)
                if word and word not in seen:
                    seen.append(word)
        when = report.get("effectiveDateTime") or report.get("issued")
        detail = " · ".join([*seen, *([format_written_date(when, language)] if isinstance(when, str) else [])])
        lines.append(Line(text=_word(report.get("code"), language), detail=detail, flag=None, document=document))
    return lines


def _discharge(document: Document, bundle: dict[str, Any], language: str) -> Line:
    """The discharge report: its title and its sections' headings in the reader's words."""
    composition = next((e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict)
                        and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Composition"),
                       {})
    headings = [terms.concept_word(section.get("code"), language) or str(section.get("title") or "")
                for section in composition.get("section") or [] if isinstance(section, dict)]
    return Line(text=Markup.escape(document.title), detail=" · ".join(h for h in headings if h), flag=None,
                document=document)


@router.get("/pro/patients/{record_id}/summary", response_class=HTMLResponse)
def summary(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> HTMLResponse:
    language = request.state.language
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        wanted = [t for _, types, _ in SECTIONS for t in types]
        try:
            # One decision over the source documents, and one trace entry naming them; the structured index
            # is read through RecordAccess too. Discharge reports are read whether or not they hold entries.
            found = view.access.read_structured_sources(record_id, resource_types=wanted, purpose="summary",
                                                        limit=MAX_SOURCES, with_wishes=True,
                                                        document_types=[DocumentType.discharge_letter])
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        sources, positions = found.reading, found.positions
        patient = view.patient(record_id, sources.permit)
        lines: dict[str, list[Line]] = {key: [] for key, _, _ in SECTIONS}
        section_of = {t: key for key, types, _ in SECTIONS for t in types}
        read: list[tuple[Document, dict[str, Any], list[dict[str, Any]]]] = []  # newest document first
        for source in sources.items:
            document = source.document
            bundle = structured.parse_document(source.read())
            if bundle is None:
                continue
            entries = bundle.get("entry") or []
            resources = []
            for position, kind in sorted(positions.get(document.id, [])):
                resource = entries[position].get("resource") if position < len(entries) else None
                if isinstance(resource, dict) and resource.get("resourceType") == kind:
                    resources.append(resource)
            read.append((document, bundle, resources))
            if document.type is DocumentType.imaging_report and len(lines["imaging"]) < LATEST_IMAGING:
                lines["imaging"] += _imaging(document, bundle, resources, language)
            if document.type is DocumentType.discharge_letter and not lines["discharge"]:
                lines["discharge"].append(_discharge(document, bundle, language))
            for resource in resources:
                key = section_of[resource["resourceType"]]
                if key not in ("allergies", "problems", "medication", "results"):
                    continue  # the sections below are built from all their sources at once
                if key == "results" and "valueQuantity" not in resource:
                    continue
                text, detail, flag = _text(resource, language)
                lines[key].append(Line(text=text, detail=detail, flag=flag, document=document))
        lines["current_medication"] = _current_medication(read, language, translations(language).gettext)
        lines["immunisations"] = _immunisations(read, language)
        lines["imaging"] = lines["imaging"][:LATEST_IMAGING]
        lines["results"] = lines["results"][:RECENT_RESULTS]
        return render_pro(request, view, "professional/summary.html", patient=patient, sections=SECTIONS,
                          lines=lines, truncated=sources.total > len(sources.items),
                          wishes=wish_lines(sources.wishes))
