"""Documents bloqués: documents the holder hides from every professional, and showing them again."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.criteria import DocumentCriteria
from opendsp.documents.types import DocumentStatus
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Reason
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.holder.reading import NOT_FOUND
from opendsp.web.security import csrf_protect

router = APIRouter()
forms = APIRouter(dependencies=[Depends(csrf_protect)])
SHOWN = 100


@router.get("/record/hidden", response_class=HTMLResponse)
def hidden_page(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        access, record = view.access, view.record
        hidden = access.list_documents(record.id, where=DocumentCriteria(hidden=True).conditions(), limit=SHOWN)
        others = access.list_documents(
            record.id, where=DocumentCriteria(hidden=False, status=DocumentStatus.current).conditions(), limit=SHOWN)
        return render_holder(request, view, "holder/hidden.html", hidden=hidden, others=others)


def _back(next_page: str, done: str) -> str:
    # Back to the page the form was on (only pages of this portal), saying what was done.
    target = next_page if next_page.startswith("/record") and "//" not in next_page else "/record/hidden"
    return f"{target}{'&' if '?' in target else '?'}done={done}"


@forms.post("/record/hidden/{document_id}/hide")
def hide(request: Request, platform: PlatformDep, document_id: uuid.UUID,
         next_page: Annotated[str, Form(alias="next")] = "/record/hidden") -> Response:
    with holder_view(request, platform) as view:
        _set_hidden(view, document_id, hidden=True)
    return see_other(_back(next_page, "hidden"))


@forms.post("/record/hidden/{document_id}/unhide")
def unhide(request: Request, platform: PlatformDep, document_id: uuid.UUID,
           next_page: Annotated[str, Form(alias="next")] = "/record/hidden") -> Response:
    with holder_view(request, platform) as view:
        _set_hidden(view, document_id, hidden=False)
    return see_other(_back(next_page, "shown"))


def _set_hidden(view: HolderView, document_id: uuid.UUID, *, hidden: bool) -> None:
    """One act, one trace entry; a document the holder's side does not see, of another record or of none,
    is not found."""
    try:
        view.access.set_hidden_in(view.record.id, document_id, hidden=hidden)
    except AccessDenied as denied:
        if denied.decision.reason is Reason.not_found:
            raise HTTPException(404, NOT_FOUND) from None
        raise
