"""Close and reopen the record: what it changes, in plain words, confirmed twice.

A first form leads to a confirmation page; only its second, explicit
confirmation acts, through ``RecordAccess.close`` or ``reopen`` (decided by
the policy, traced). Nothing is deleted by closing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.records.models import RecordState
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.stepup import RecentLogin
from opendsp.web.holder.common import notice, refusal
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.templating import translate

router = APIRouter()
PAGE = "/record/state"
DONE = {
    "closed": N_("The record is closed. You can reopen it at any time."),
    "reopened": N_("The record is open again."),
}
CONFIRM = N_("Tick the box to confirm.")
REASON_LONG = N_("The reason has at most 500 characters.")
ACTIONS = {"close": Action.close_record, "reopen": Action.reopen_record}


def page(request: Request, platform: Platform, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    with holder_view(request, platform) as view:
        record = view.record
        action = "reopen" if record.state is RecordState.closed else "close"
        decision = view.access.would(record.id, ACTIONS[action])
        return render_holder(request, view, "holder/state.html", status, record=record, action=action,
                             allowed=decision.permitted, notice=notice(request, DONE), error=error,
                             refused_text=None if decision.permitted else refusal(request, AccessDenied(decision)))


@router.get(PAGE, response_class=HTMLResponse)
def state(request: Request, platform: PlatformDep) -> HTMLResponse:
    return page(request, platform)


def confirmation(request: Request, platform: Platform, action: str, *, reason: str = "", error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    """The second step: the same explanation, and an explicit confirmation."""
    with holder_view(request, platform) as view:
        decision = view.access.would(view.record.id, ACTIONS[action])
        if not decision.permitted:
            return render_holder(request, view, "holder/state.html", 403, record=view.record, action=action,
                                 allowed=False, refused_text=refusal(request, AccessDenied(decision)))
        return render_holder(request, view, "holder/state_confirm.html", status, record=view.record, action=action,
                             reason=reason, error=error)


def _reason(text: str) -> str:
    return " ".join(text.split())


@router.post(f"{PAGE}/close", response_class=HTMLResponse, dependencies=[RecentLogin(PAGE)])
def close_first(request: Request, platform: PlatformDep, reason: Annotated[str, Form()] = "") -> HTMLResponse:
    if len(_reason(reason)) > 500:
        return page(request, platform, error=translate(request, REASON_LONG), status=400)
    return confirmation(request, platform, "close", reason=_reason(reason))


@router.post(f"{PAGE}/reopen", response_class=HTMLResponse)
def reopen_first(request: Request, platform: PlatformDep) -> HTMLResponse:
    return confirmation(request, platform, "reopen")


@router.post(f"{PAGE}/close/confirm", dependencies=[RecentLogin(PAGE)])
def close_confirmed(request: Request, platform: PlatformDep, confirm: Annotated[str, Form()] = "",
                    reason: Annotated[str, Form()] = "") -> Response:
    text = _reason(reason)
    if confirm != "yes":
        return confirmation(request, platform, "close", reason=text, error=translate(request, CONFIRM), status=400)
    if len(text) > 500:
        return page(request, platform, error=translate(request, REASON_LONG), status=400)
    try:
        with holder_view(request, platform) as view:
            view.access.close(view.record.id, reason=text or None)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403)
    return see_other(f"{PAGE}?done=closed")


@router.post(f"{PAGE}/reopen/confirm")
def reopen_confirmed(request: Request, platform: PlatformDep, confirm: Annotated[str, Form()] = "") -> Response:
    if confirm != "yes":
        return confirmation(request, platform, "reopen", error=translate(request, CONFIRM), status=400)
    try:
        with holder_view(request, platform) as view:
            view.access.reopen(view.record.id)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403)
    return see_other(f"{PAGE}?done=reopened")
