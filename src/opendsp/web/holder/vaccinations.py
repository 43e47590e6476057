"""The vaccination record ("Carnet de vaccination"): the holder's vaccinations, on a page and as a PDF to print.

Gathered from the Immunization entries of the record's structured documents
(the patient summaries, and any other document that states a vaccination),
each vaccination once with a link to its source; those the holder's side
declared itself (``declare_vaccination``) are marked so, on the page and in
the PDF. The documents are read
through ``RecordAccess`` as one act: one decision and one trace entry naming
them. A parent acting for their child, or an assistant, sees the child's or
the holder's record: the record is the one being looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fpdf import FPDF

from opendsp.access.export import slug
from opendsp.locale import N_, terms, translations
from opendsp.locale.formats import format_date, format_datetime, format_written_date
from opendsp.locale.latin1 import latin_1
from opendsp.structured.bundles import parse_document
from opendsp.structured.vaccinations import Vaccination, vaccination_record
from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder

if TYPE_CHECKING:  # a name only: the documents are read through RecordAccess
    from opendsp.documents.models import Document

router = APIRouter()

# The newest documents with vaccinations are read; each summary repeats the earlier ones, so this is plenty.
MAX_SOURCES = 50


@dataclass(frozen=True)
class VaccinationLine:
    vaccination: Vaccination
    source: Document


def _record(view: HolderView) -> tuple[list[VaccinationLine], bool]:
    found = view.access.read_structured_sources(view.record.id, resource_types=["Immunization"],
                                                purpose="vaccination_record", limit=MAX_SOURCES)
    documents: dict[object, Document] = {}
    sources = []
    for item in found.reading.items:  # newest first
        bundle = parse_document(item.read())
        entries = (bundle or {}).get("entry") or []
        positions = sorted(position for position, kind in found.positions.get(item.document.id, [])
                           if kind == "Immunization")
        resources = [entries[p].get("resource") for p in positions if p < len(entries)]
        documents[item.document.id] = item.document
        sources.append((item.document.id, [r for r in resources if isinstance(r, dict)]))
    declared = {i for i, document in documents.items() if document.authored_by_holder}
    lines = [VaccinationLine(v, documents[v.document_id]) for v in vaccination_record(sources, declared)]
    return lines, found.reading.total > len(found.reading.items)


@router.get("/record/vaccinations", response_class=HTMLResponse)
def vaccinations(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        lines, truncated = _record(view)
        return render_holder(request, view, "holder/vaccinations.html", lines=lines, truncated=truncated)


@router.get("/record/vaccinations.pdf")
def vaccinations_pdf(request: Request, platform: PlatformDep) -> Response:
    language = request.state.language
    with holder_view(request, platform) as view:
        lines, truncated = _record(view)
        holder, made_at = view.holder, view.access.now
        content = _pdf(lines, language=language, holder=holder.display_name,
                       birth=format_date(holder.birth_date, language) if holder.birth_date else "", made_at=made_at,
                       truncated=truncated)
        name = f"dsp-vaccinations-{slug(holder.family_name)}.pdf"
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _pdf(lines: list[VaccinationLine], *, language: str, holder: str, birth: str, made_at: datetime,
         truncated: bool) -> bytes:
    """The vaccination record on A4: who, when it was made, then one row per vaccination with its source."""
    _ = translations(language).gettext
    title = _(N_("Vaccination record"))
    document = FPDF(format="A4")
    document.set_auto_page_break(auto=True, margin=14)
    document.set_title(latin_1(f"{title} — {holder}"))
    document.add_page()
    document.set_font("helvetica", "B", 16)
    document.multi_cell(0, 9, latin_1(title), new_x="LMARGIN", new_y="NEXT")
    document.set_font("helvetica", "", 11)
    who = holder + (f" — {_(N_('born on %(date)s')) % {'date': birth}}" if birth else "")
    document.multi_cell(0, 6, latin_1(who), new_x="LMARGIN", new_y="NEXT")
    document.set_font("helvetica", "", 9)
    made = _(N_("Made on %(date)s.")) % {"date": format_datetime(made_at, language)}
    sourced = _(N_("From the vaccinations stated in the documents of the shared care record."))
    if any(line.vaccination.declared for line in lines):
        sourced += " " + _(N_("Those marked \"declared by the holder\" were not recorded by a professional."))
    document.multi_cell(0, 5, latin_1(f"{made} {sourced}"), new_x="LMARGIN", new_y="NEXT")
    document.ln(4)
    if not lines:
        document.set_font("helvetica", "", 11)
        document.multi_cell(0, 6, latin_1(_(N_("No vaccination is recorded in the documents of this record."))))
        return bytes(document.output())
    headings = [_(N_("Date")), _(N_("Vaccine")), _(N_("Dose")), _(N_("Batch")), _(N_("Source"))]
    declared = _(N_("Declared by the holder"))
    with document.table(col_widths=(22, 62, 14, 26, 56), text_align="LEFT", line_height=5) as table:
        table.row([latin_1(h) for h in headings])
        for line in lines:
            v = line.vaccination
            table.row([latin_1(text) for text in (
                format_written_date(v.given, language) if v.given else _(N_("Date not stated")),
                terms.concept_word(v.vaccine, language) + (f" — {declared}" if v.declared else ""),
                v.dose or "", v.lot_number or "",
                declared if v.declared else f"{line.source.title} ({format_date(line.source.care_date, language)})",
            )])
    if truncated:
        document.ln(3)
        document.multi_cell(0, 5, latin_1(_(N_("Only the newest documents were read: older vaccinations may be "
                                               "missing."))))
    return bytes(document.output())
