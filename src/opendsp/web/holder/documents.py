"""Vie documentaire: every document of the record with its status and versions; withdrawing one's own."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement

from opendsp.access.criteria import DocumentCriteria
from opendsp.documents.types import DocumentStatus, DocumentType
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action, Reason
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.holder.reading import NOT_FOUND
from opendsp.web.security import csrf_protect

if TYPE_CHECKING:  # a name only: documents are read through RecordAccess
    from opendsp.documents.models import Document

router = APIRouter()
forms = APIRouter(dependencies=[Depends(csrf_protect)])
PER_PAGE = 20
MYSELF = "holder"  # the author filter's value for the personal space


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters(kind: str, since: str, until: str, author: str, status: str) -> list[ColumnElement[bool]]:
    name = author.strip()
    return DocumentCriteria(
        types=(DocumentType(kind),) if kind in DocumentType._value2member_map_ else (),
        since=_day(since), until=_day(until),
        status=DocumentStatus(status) if status in DocumentStatus._value2member_map_ else None,
        by_holder=name == MYSELF, author="" if name == MYSELF else name,
    ).conditions()


async def asked_filters(request: Request) -> dict[str, str]:
    """The filters asked for: an author's name only from a POST body (CSRF-checked), never from an address
    that browsers keep in their history; type, status, dates, the page and "my own documents" in either."""
    values = await request.form() if request.method == "POST" else request.query_params
    asked = {name: value for name in ("kind", "since", "until", "author", "status", "page")
             if isinstance(value := values.get(name), str)}
    if request.method != "POST" and asked.get("author", MYSELF) != MYSELF:
        del asked["author"]
    return asked


@router.api_route("/record/documents", methods=["GET", "POST"], response_class=HTMLResponse)
def documents_page(request: Request, platform: PlatformDep,
                   asked: Annotated[dict[str, str], Depends(asked_filters)]) -> HTMLResponse:
    kind, since, until, author, status = (asked.get(name, "") for name in ("kind", "since", "until", "author",
                                                                            "status"))
    number = asked.get("page", "1")
    page = max(int(number), 1) if number.isdigit() and len(number) < 6 else 1
    with holder_view(request, platform) as view:
        # One act, one trace entry: the page of documents with the versions the holder's side may see.
        found = view.access.list_documents(view.record.id, where=filters(kind, since, until, author, status),
                                           limit=PER_PAGE, offset=(page - 1) * PER_PAGE, with_versions=True)
        pages = max(1, -(-found.total // PER_PAGE))
        query = {"kind": kind, "since": since, "until": until, "author": author, "status": status}
        return render_holder(request, view, "holder/documents.html", found=found, page=page, pages=pages,
                             versions=found.versions, query=query, kinds=list(DocumentType),
                             statuses=list(DocumentStatus), myself=MYSELF)


def _changeable(view: HolderView, document_id: uuid.UUID) -> Document:
    """The policy's permit to withdraw, before the form shows anything of the document (traced); a document
    the holder's side may not reach, of another record or of none, is not found."""
    try:
        return view.access.authorise_document_change(view.record.id, document_id, Action.withdraw_document)
    except AccessDenied as denied:
        if denied.decision.reason is Reason.not_found:
            raise HTTPException(404, NOT_FOUND) from None
        raise


@router.get("/record/documents/{document_id}/withdraw", response_class=HTMLResponse)
def withdraw_form(request: Request, platform: PlatformDep, document_id: uuid.UUID) -> HTMLResponse:
    with holder_view(request, platform) as view:
        document = _changeable(view, document_id)
        return render_holder(request, view, "holder/withdraw.html", document=document)


@forms.post("/record/documents/{document_id}/withdraw")
def withdraw(request: Request, platform: PlatformDep, document_id: uuid.UUID,
             confirm: Annotated[str, Form()] = "") -> Response:
    if confirm != "yes":
        return see_other(f"/record/documents/{document_id}/withdraw")
    with holder_view(request, platform) as view:
        try:
            # The policy decides: the holder's side withdraws its own current documents of this record.
            view.access.withdraw_in(view.record.id, document_id)
        except AccessDenied as denied:
            if denied.decision.reason is Reason.not_found:
                raise HTTPException(404, NOT_FOUND) from None
            raise
    return see_other("/record/documents?done=withdrawn")
