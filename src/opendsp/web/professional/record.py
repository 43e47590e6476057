"""A patient's record as the professional may see it: documents with filters, the timeline, reading a document.

Lists come from ``RecordAccess.list_documents``, which applies the visibility
rule inside the SQL query (hidden, restricted and withdrawn documents are
simply absent). A record-level refusal becomes the page that says how access
can be obtained.

Keyword search (``q``) is ``opendsp.search``: the other filters narrow it, and
its results pass through the same ``list_documents`` and visibility rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement

from opendsp.access.criteria import DocumentCriteria
from opendsp.documents.types import DocumentType
from opendsp.locale import N_
from opendsp.policy.decision import AccessDenied
from opendsp.search.services import search
from opendsp.web import reading
from opendsp.web.auth_views import PlatformDep
from opendsp.web.care_events import EventFilter, care_events, category_options, kind_options
from opendsp.documents.labels import TYPE_LABELS
from opendsp.web.professional.context import professional_view
from opendsp.web.professional.layout import render_pro, render_refusal
from opendsp.web.professional.wishes import wish_lines

router = APIRouter()
NOT_FOUND = N_("This document does not exist or is not available.")
PAGE_SIZE = 25


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Filters:
    q: str = ""
    type: str = ""
    author: str = ""
    since: str = ""
    until: str = ""

    @property
    def types(self) -> list[DocumentType]:
        return [DocumentType(self.type)] if self.type in {t.value for t in DocumentType} else []

    def where(self) -> list[ColumnElement[bool]]:
        """Conditions on the documents the policy lets the professional see (never a widening)."""
        return DocumentCriteria(since=_day(self.since), until=_day(self.until), author=self.author).conditions()

    def used(self) -> list[str]:
        """The names of the filters set besides the words and the type, for the trace (never their text)."""
        return [name for name, value in (("author", self.author), ("since", self.since), ("until", self.until))
                if value]

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("q", self.q), ("type", self.type), ("author", self.author),
                                   ("since", self.since), ("until", self.until)) if v}


def document_filters(q: str = "", type: str = "", author: str = "", since: str = "", until: str = "") -> Filters:
    return Filters(q=q.strip()[:200], type=type, author=author, since=since, until=until)


async def asked_filters(request: Request) -> tuple[Filters, int]:
    """The filters and the page asked for: keywords and an author's name only from a POST body (CSRF-checked),
    never from an address, which browsers keep in their history; type, dates and page may come in either."""
    values = await request.form() if request.method == "POST" else request.query_params
    text = {name: value for name in ("q", "type", "author", "since", "until", "page")
            if isinstance(value := values.get(name), str)}
    if request.method != "POST":
        for free_text in ("q", "author"):
            text.pop(free_text, None)
    page = text.pop("page", "1")
    return document_filters(**text), max(int(page), 1) if page.isdigit() and len(page) < 6 else 1


@router.api_route("/pro/patients/{record_id}", methods=["GET", "POST"], response_class=HTMLResponse)
def record_page(request: Request, platform: PlatformDep, record_id: uuid.UUID,
                asked: Annotated[tuple[Filters, int], Depends(asked_filters)]) -> HTMLResponse:
    filters, page = asked
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            if filters.q:
                listed = search(view.access, record_id, filters.q, types=filters.types, where=filters.where(),
                                limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, filters=filters.used())
            else:
                listed = view.access.list_documents(record_id, types=filters.types, where=filters.where(),
                                                    limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                                    with_wishes=True)  # the patient view shows them
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        patient = view.patient(record_id, listed.permit)
        kinds = [(t.value, TYPE_LABELS[t]) for t in DocumentType]
        return render_pro(request, view, "professional/record.html", patient=patient, documents=listed.items,
                          total=listed.total, page=page, pages=max(1, -(-listed.total // PAGE_SIZE)),
                          filters=filters, kinds=kinds, me=view.professional.id,
                          wishes=wish_lines(listed.wishes))


@router.get("/pro/patients/{record_id}/timeline", response_class=HTMLResponse)
def timeline(request: Request, platform: PlatformDep, record_id: uuid.UUID, kind: str = "",
             category: str = "") -> HTMLResponse:
    wanted = EventFilter.parse(kind, category)
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:  # one act: documents and stays
            found = view.access.timeline(record_id, documents=wanted.documents, stays=wanted.stays,
                                         types=wanted.types)
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        patient = view.patient(record_id, found.permit)
        events = care_events(found.documents, found.stays)
        return render_pro(request, view, "professional/timeline.html", patient=patient, events=events,
                          kinds=kind_options(), categories=category_options(), kind=wanted.kind,
                          category=wanted.category)


@router.get("/pro/patients/{record_id}/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, platform: PlatformDep, record_id: uuid.UUID,
                  document_id: uuid.UUID) -> HTMLResponse:
    """One act: the record-level answer first (the same whatever the id), then the document or "not found"."""
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            shown = reading.read(view.access, record_id, document_id, request.state.language,
                                 viewer_url=platform.settings.pacs_viewer_url)
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        except reading.DocumentNotFound:
            raise HTTPException(404, NOT_FOUND) from None
        patient = view.patient(record_id, shown.permit)
        document = shown.document
        own = document.author_professional_id == view.professional.id and document.status.value == "current"
        return render_pro(request, view, "professional/document.html", patient=patient, reading=shown,
                          base=f"/pro/patients/{record_id}/documents/", own=own)


@router.get("/pro/patients/{record_id}/documents/{document_id}/content")
def document_content(request: Request, platform: PlatformDep, record_id: uuid.UUID, document_id: uuid.UUID,
                     download: bool = False) -> Response:
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            # The reading and its trace commit with this transaction; the content streams after it.
            return reading.content_response(view.access, record_id, document_id, download=download)
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        except reading.DocumentNotFound:
            raise HTTPException(404, NOT_FOUND) from None
