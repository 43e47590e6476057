"""Who may read one document: the holder restricts it to the professionals they name, or lifts the restriction.

Reading the choice (``RecordAccess.document_readers``) and changing it (``set_confidentiality_in``) are each one
act, decided by the policy and traced; a document the holder's side does not see, of another record or of none,
is not found (404), like an unknown id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.services import InvalidRequest
from opendsp.documents.types import ConfidentialityLevel
from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action, Reason
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.common import cannot, notice, refusal
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.holder.reading import NOT_FOUND
from opendsp.web.templating import translate

router = APIRouter()
DONE = {
    "restricted": N_("The document is restricted: only the professionals listed read it."),
    "normal": N_("The restriction was lifted: the professionals with access to your record read this document."),
}
CHOOSE_LEVEL = N_("Choose who may read this document.")
CHOOSE_NAMED = N_("Choose among the professionals offered.")
NAMED_ONLY_WHEN_RESTRICTED = N_("Name professionals only to restrict the document; untick them to lift the restriction.")


def _path(document_id: uuid.UUID) -> str:
    return f"/record/documents/{document_id}/readers"


def page(request: Request, platform: Platform, document_id: uuid.UUID, *, error: str | None = None,
         status: int = 200, values: dict[str, object] | None = None) -> HTMLResponse:
    with holder_view(request, platform) as view:
        try:
            readers = view.access.document_readers(view.record.id, document_id)
        except AccessDenied as denied:
            if denied.decision.reason is Reason.not_found:
                raise HTTPException(404, NOT_FOUND) from None
            raise
        chosen = values or {"level": "restricted" if readers.restricted else "normal",
                            "named": {str(p.id) for p in readers.named}}
        return render_holder(
            request, view, "holder/readers.html", status, readers=readers, document=readers.document,
            professions=PROFESSIONS, specialties=SPECIALTIES, chosen=chosen, error=error,
            cannot_text=cannot(request, view.access.would(view.record.id, Action.manage_access)),
            notice=notice(request, DONE),
        )


@router.get("/record/documents/{document_id}/readers", response_class=HTMLResponse)
def readers_page(request: Request, platform: PlatformDep, document_id: uuid.UUID) -> HTMLResponse:
    return page(request, platform, document_id)


@router.post("/record/documents/{document_id}/readers")
def set_readers(request: Request, platform: PlatformDep, document_id: uuid.UUID,
                level: Annotated[str, Form()] = "", named: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    values: dict[str, object] = {"level": level, "named": set(named)}
    try:
        confidentiality = ConfidentialityLevel(level)
        readers = [uuid.UUID(value) for value in named[:200]]
    except ValueError:
        message = CHOOSE_LEVEL if level not in ConfidentialityLevel._value2member_map_ else CHOOSE_NAMED
        return page(request, platform, document_id, error=translate(request, message), status=400, values=values)
    if confidentiality is ConfidentialityLevel.normal and readers:
        return page(request, platform, document_id, error=translate(request, NAMED_ONLY_WHEN_RESTRICTED),
                    status=400, values=values)
    try:
        with holder_view(request, platform) as view:
            view.access.set_confidentiality_in(view.record.id, document_id, confidentiality, named=readers)
    except InvalidRequest:
        return page(request, platform, document_id, error=translate(request, CHOOSE_NAMED), status=400,
                    values=values)
    except AccessDenied as denied:
        if denied.decision.reason is Reason.not_found:
            raise HTTPException(404, NOT_FOUND) from None
        return page(request, platform, document_id, error=refusal(request, denied), status=403)
    return see_other(f"{_path(document_id)}?done={confidentiality.value}")
