"""The link e-mailed to an owner whose logins are held back (``accounts/guard.py``).

Opening it shows a button; only the POST, with the page's CSRF token, lifts
the holds (no state change on GET: mail scanners follow links). The browser
that uses it becomes a known one for the account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.accounts import services
from opendsp.web.auth_views import PlatformDep, client_of
from opendsp.web.devices import remember
from opendsp.web.security import security
from opendsp.web.templating import render, translate

router = APIRouter()


@router.get("/unlock", response_class=HTMLResponse)
def unlock_page(request: Request, token: str = "") -> HTMLResponse:
    return render(request, "unlock.html", token=token[:200])


@router.post("/unlock")
def unlock(request: Request, platform: PlatformDep, token: Annotated[str, Form()] = "") -> Response:
    security(request).allow_attempt(request, "unlock")
    with platform.transaction() as session:
        account = services.unlock_by_link(session=session, platform=platform, token=token[:200],
                                          client=client_of(request))
        account_id = account.id if account else None
    if account_id is None:
        return render(request, "message.html", 410,
                      title_text=translate(request, "This link does not work: it was used already or has expired."),
                      body_text=translate(request, "Nothing was changed."))
    response = render(request, "message.html",
                      title_text=translate(request, "Logins to your account no longer wait."),
                      body_text=translate(request, "You can log in now, from this browser too."))
    remember(request, response, account_id)
    return response
