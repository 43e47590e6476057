"""Consentements: the holder's wishes (organ donation after death, ...) and the history of their changes.

Reading the wishes and recording one go through ``RecordAccess`` (``wishes``,
``set_wish``): decided by the policy and traced. Earlier answers are kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.services import InvalidRequest
from opendsp.access.trace_reading import ANSWER_LABELS, WISH_LABELS
from opendsp.access.wishes import ANSWERS, WishKind, WishValue
from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.common import cannot, notice, refusal
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.templating import translate

router = APIRouter()
PAGE = "/record/consents"
DONE = {"saved": N_("Your wish was recorded.")}
CHOOSE = N_("Choose one of the answers.")
COMMENT_LONG = N_("The comment has at most 500 characters.")


def page(request: Request, platform: Platform, *, error: str | None = None, status: int = 200,
         values: dict[str, str] | None = None) -> HTMLResponse:
    with holder_view(request, platform) as view:
        history = view.access.wishes(view.record.id)  # newest first
        current = {}
        for wish in history:
            current.setdefault(wish.kind, wish)
        kinds = [
            (kind.value, WISH_LABELS[kind.value],
             [(value.value, ANSWER_LABELS[value.value]) for value in WishValue if value in ANSWERS[kind]])
            for kind in WishKind
        ]
        return render_holder(
            request, view, "holder/consents.html", status, kinds=kinds, current_wishes=current, history=history,
            wish_labels=WISH_LABELS, answer_labels=ANSWER_LABELS,
            cannot_text=cannot(request, view.access.would(view.record.id, Action.manage_access)),
            notice=notice(request, DONE), error=error, values=values or {},
        )


@router.get(PAGE, response_class=HTMLResponse)
def consents(request: Request, platform: PlatformDep) -> HTMLResponse:
    return page(request, platform)


@router.post(PAGE)
def set_wish(request: Request, platform: PlatformDep, kind: Annotated[str, Form()] = "",
             value: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "") -> Response:
    values = {"kind": kind, "value": value, "comment": comment}
    text = " ".join(comment.split())
    try:
        wish_kind, answer = WishKind(kind), WishValue(value)
    except ValueError:
        return page(request, platform, error=translate(request, CHOOSE), status=400, values=values)
    if len(text) > 500:
        return page(request, platform, error=translate(request, COMMENT_LONG), status=400, values=values)
    try:
        with holder_view(request, platform) as view:
            view.access.set_wish(view.record.id, wish_kind, answer, comment=text or None)
    except InvalidRequest:
        return page(request, platform, error=translate(request, CHOOSE), status=400, values=values)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403)
    return see_other(f"{PAGE}?done=saved")
