"""Step-up before sensitive acts: one dependency for every route that needs a recent login.

    @router.post("/record/export", dependencies=[RecentLogin("/record/export")])

When the login (or the last step-up) is older than ``OPENDSP_STEPUP_MINUTES``
the act is not done: the browser is sent to ``/stepup`` (password or
authenticator code, or the State's portal again), then back to ``back``, the
page of the form, to send it again.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendsp.accounts import stepup
from opendsp.accounts.models import Account, AccountKind, WebSession
from opendsp.accounts.services import AccountRefused
from opendsp.web.auth_views import PlatformDep, client_of, refusal_text, require_viewer, safe_next, see_other
from opendsp.web.security import security
from opendsp.web.templating import render

PAGE = "/stepup"


class StepUpNeeded(Exception):
    def __init__(self, back: str) -> None:
        self.back = back


def RecentLogin(back: str) -> Any:  # noqa: N802 - reads as a dependency's name where it is used
    """A route dependency: the viewer's login must be recent, else the browser goes to the step-up page."""

    def check(request: Request) -> None:
        viewer = require_viewer(request, AccountKind.person, AccountKind.professional)
        platform = request.app.state.platform
        with platform.sessions() as session:
            web = session.get(WebSession, viewer.session_id)
            recent = web is not None and stepup.is_recent(web, now=platform.clock.now(), settings=platform.settings)
        if not recent:
            raise StepUpNeeded(back)

    return Depends(check)


async def step_up_needed(request: Request, error: Exception) -> Response:
    assert isinstance(error, StepUpNeeded)
    return RedirectResponse(f"{PAGE}?next={quote(error.back, safe='/')}", status_code=303)


router = APIRouter()


def page(request: Request, back: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    viewer = require_viewer(request, AccountKind.person, AccountKind.professional)
    platform = request.app.state.platform
    with platform.sessions() as session:
        account = session.get(Account, viewer.account_id)
        assert account is not None
        has_password, has_totp = account.password_hash is not None, account.totp_secret is not None
    return render(request, "stepup.html", status, back=back, error=error, has_password=has_password,
                  has_totp=has_totp, minutes=platform.settings.stepup_minutes,
                  federated_url=f"/login/federated?next={quote(back, safe='/')}")


@router.get(PAGE, response_class=HTMLResponse)
def stepup_form(request: Request, next: str = "/account") -> HTMLResponse:
    return page(request, safe_next(next) or "/account")


@router.post(PAGE)
def stepup_submit(request: Request, platform: PlatformDep, next: Annotated[str, Form()] = "/account",
                  password: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "") -> Response:
    back = safe_next(next) or "/account"
    viewer = require_viewer(request, AccountKind.person, AccountKind.professional)
    security(request).allow_attempt(request, "stepup")
    try:
        with platform.transaction() as session:
            stepup.confirm(session=session, platform=platform, web_session_id=viewer.session_id, password=password,
                           code=code, client=client_of(request))
    except AccountRefused as refusal:
        return page(request, back, refusal_text(request, refusal), 429 if refusal.code == "held" else 400)
    return see_other(back)
