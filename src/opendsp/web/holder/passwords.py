"""Mots de passe: the connection identifier, and the presence code — a new one, shown once.

A new presence code is ``RecordAccess.regenerate_presence_code`` (managing
access): the policy decides whether the person acting may (the holder, and
whoever acts with the holder's rights as the policy says), the trace keeps the
act, and the previous code stops working at once. The code is shown in the
answer to the form, once; only its hash is kept.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendsp.accounts.models import Account
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.web.auth_views import PlatformDep
from opendsp.web.stepup import RecentLogin
from opendsp.web.holder.common import cannot, refusal
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder

router = APIRouter()
PAGE = "/record/passwords"


def page(request: Request, platform: Platform, *, code: str | None = None, error: str | None = None,
         status: int = 200) -> HTMLResponse:
    with holder_view(request, platform) as view:
        account = view.session.get(Account, view.viewer.account_id)
        assert account is not None
        choices = view.access.access_choices(view.record.id)
        return render_holder(
            request, view, "holder/passwords.html", status, login=account.login, code=code,
            presence_code_set_at=choices.presence_code_set_at,
            cannot_text=cannot(request, view.access.would(view.record.id, Action.manage_access)), error=error,
            own_record=not view.acting_for_someone,
        )


@router.get(PAGE, response_class=HTMLResponse)
def passwords(request: Request, platform: PlatformDep) -> HTMLResponse:
    return page(request, platform)


@router.post(f"{PAGE}/presence-code", response_class=HTMLResponse, dependencies=[RecentLogin(PAGE)])
def new_presence_code(request: Request, platform: PlatformDep) -> HTMLResponse:
    """A new presence code, answered in this page only (never in a redirect, a cookie or a log)."""
    try:
        with holder_view(request, platform) as view:
            code = view.access.regenerate_presence_code(view.record.id)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403)
    return page(request, platform, code=code)
