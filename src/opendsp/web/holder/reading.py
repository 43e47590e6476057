"""Reading one document of the record: the page, and its content as deposited."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.locale import N_
from opendsp.web import reading
from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder

router = APIRouter()
NOT_FOUND = N_("This document does not exist or is not available.")


@router.get("/record/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, platform: PlatformDep, document_id: uuid.UUID) -> HTMLResponse:
    with holder_view(request, platform) as view:
        try:
            # Within the record looked at: another holder's document id is not found, like an unknown one.
            shown = reading.read(view.access, view.record.id, document_id, request.state.language,
                                 viewer_url=platform.settings.pacs_viewer_url)
        except reading.DocumentNotFound:
            raise HTTPException(404, NOT_FOUND) from None
        return render_holder(request, view, "holder/document.html", reading=shown, base="/record/documents/")


@router.get("/record/documents/{document_id}/content")
def document_content(request: Request, platform: PlatformDep, document_id: uuid.UUID, download: bool = False) -> Response:
    with holder_view(request, platform) as view:
        try:
            # The reading and its trace commit with this transaction; the content streams after it.
            return reading.content_response(view.access, view.record.id, document_id, download=download)
        except reading.DocumentNotFound:
            raise HTTPException(404, NOT_FOUND) from None
