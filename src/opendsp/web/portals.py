"""Puts the portals' web layer on the app: security, federation, static files, routers, error pages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendsp.access.services import ContentUnavailable
from opendsp.locale import N_
from opendsp.policy.decision import AccessDenied
from opendsp.platform import Platform
from opendsp.web.security import WebMiddleware, WebSecurity

HERE = Path(__file__).parent
# Paths whose errors are pages for people; the other adapters (FHIR, health) keep their own answers.
REFUSED = N_("This is not available to you.")
VALUE_REFUSED = N_("A value is too long or holds a character that is not allowed.")
NOT_STORED = N_("The document could not be stored just now")
NOT_STORED_BODY = N_("Nothing was saved. Please send it again in a moment.")
NOT_READABLE = N_("The document cannot be opened just now")
NOT_READABLE_BODY = N_("Please try again later. If it lasts, tell the platform's support.")
UNAVAILABLE = N_("The service is unavailable for a moment")
UNAVAILABLE_BODY = N_("Please try again in a minute. If you were saving something, check whether it was saved "
                      "before you send it again.")
# Every 404 a person meets says the same: an unknown address, a malformed id, an unknown or unreachable
# document or record cannot be told apart.
PAGE_MISSING = N_("This page does not exist or is not available.")
PAGE_MISSING_BODY = N_("Check the address, or go back to your home page.")
# Paths answered for programs (JSON, OperationOutcome); every other path is a page for people.
API_PREFIXES = ("/fhir", "/auth/token", "/healthz", "/.well-known")
PORTAL_PREFIXES = ("/login", "/logout", "/activate", "/pro/", "/account", "/console", "/language", "/record",
                   "/auth/authorize", "/stepup", "/unlock", "/statistics")


def install_portals(app: FastAPI, platform: Platform) -> None:
    from opendsp.console.views import AdministratorsOnly, administrators_only
    from opendsp.console.views import router as console_router
    from opendsp.web.auth_views import NotLoggedIn
    from opendsp.web.auth_views import router as auth_router
    from opendsp.web import holder, professional
    from opendsp.web.holder.common import refused_page
    from opendsp.web.templating import render, translate

    settings = platform.settings
    app.state.security = WebSecurity(platform)
    app.state.federation = None
    if settings.oidc_issuer:
        from opendsp.accounts.federation import OidcClient

        app.state.federation = OidcClient(settings, platform.clock)
    app.add_middleware(WebMiddleware)

    # The design system (GOV.UK Frontend themed as our own, built by `make css`), the fonts, the icons.
    app.mount("/static/opendsp", StaticFiles(directory=HERE / "static"), name="opendsp-static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.ico", media_type="image/vnd.microsoft.icon")

    app.include_router(auth_router)
    from opendsp.web.figures import router as figures_router

    app.include_router(figures_router)  # the published figures: anyone, no login, no cookie
    _install_guard(app)
    app.include_router(console_router)
    app.add_exception_handler(AdministratorsOnly, administrators_only)
    holder.install(app)
    professional.install(app)

    def for_people(request: Request) -> bool:
        return not request.url.path.startswith(API_PREFIXES)

    async def not_logged_in(request: Request, error: Exception) -> Response:
        assert isinstance(error, NotLoggedIn)
        return RedirectResponse(error.login_url, status_code=303)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if not for_people(request):
            return await http_exception_handler(request, error)
        if error.status_code == 404:
            return page_missing(request)
        return render(request, "message.html", error.status_code, title_text=translate(request, str(error.detail)))

    async def form_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        if not for_people(request):
            return await request_validation_exception_handler(request, error)
        if any(detail.get("loc", ("",))[0] == "path" for detail in error.errors()):
            return page_missing(request)  # a malformed id in the address: as for an unknown one
        return render(request, "message.html", 400, title_text=translate(request, "The form is incomplete."))

    async def refused(request: Request, error: Exception) -> Response:
        # The policy said no (and the refusal is traced); the page does not say what exists behind it.
        assert isinstance(error, AccessDenied)
        if request.url.path.startswith("/record"):
            return refused_page(request, error)  # the holder's side: why (e.g. a delegation ended), and where to go
        return render(request, "message.html", 403, title_text=translate(request, REFUSED))

    async def value_refused(request: Request, error: Exception) -> Response:
        # The database could not hold a value (too long, a NUL) that no check caught first: the sender's fault,
        # answered plainly; the driver's words (SQL, values) go nowhere.
        assert isinstance(error, DataError)
        logging.getLogger(__name__).warning("a value refused by the database: %s", type(error.orig).__name__)
        if not for_people(request):
            return JSONResponse({"detail": VALUE_REFUSED}, status_code=400)
        return render(request, "message.html", 400, title_text=translate(request, VALUE_REFUSED))

    async def content_unavailable(request: Request, error: Exception) -> Response:
        # The content store could not take or give a document's content (a deposit whose pending content
        # store check took back, a missing blob, a key not in the keyring): a 503, and the transaction was
        # rolled back on the way out, so nothing is half-written. Never a stack trace, never a 500.
        assert isinstance(error, ContentUnavailable)
        logging.getLogger(__name__).error("content unavailable: %s", error)
        headers = {"Retry-After": "60"}
        writing = request.method not in {"GET", "HEAD"}
        if not for_people(request):
            return JSONResponse({"detail": "the document's content is unavailable now"}, status_code=503,
                                headers=headers)
        response = render(request, "message.html", 503,
                          title_text=translate(request, NOT_STORED if writing else NOT_READABLE),
                          body_text=translate(request, NOT_STORED_BODY if writing else NOT_READABLE_BODY))
        response.headers.update(headers)
        return response

    async def database_unavailable(request: Request, error: Exception) -> Response:
        # The database cannot be reached or gave up on the transaction (a failover, a restart, a lock): a 503.
        # The transaction is not retried here, its commit may or may not have happened (docs/operations.md,
        # "A transaction cut by a failover"); the next request gets a new connection to the current primary.
        assert isinstance(error, OperationalError)
        logging.getLogger(__name__).error("database unavailable: %s", type(error.orig).__name__)
        headers = {"Retry-After": "30"}
        if not for_people(request):
            return JSONResponse({"detail": "the service is unavailable for a moment"}, status_code=503,
                                headers=headers)
        request.state.viewer = None  # the page cannot ask the database who is logged in: shown as to anyone
        response = render(request, "message.html", 503, title_text=translate(request, UNAVAILABLE),
                          body_text=translate(request, UNAVAILABLE_BODY))
        response.headers.update(headers)
        return response

    app.add_exception_handler(ContentUnavailable, content_unavailable)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(DataError, value_refused)
    app.add_exception_handler(NotLoggedIn, not_logged_in)
    app.add_exception_handler(AccessDenied, refused)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, form_error)


def page_missing(request: Request, *, acting: tuple[Any, Any] | None = None) -> Response:
    """The one 404 page for people, in the portal's layout of whoever is logged in (the professional keeps their menu).

    ``acting``: the professional and organisation a request has already loaded in its own transaction, so that a
    refusal answered as "unknown" inside that transaction does not wait for a second connection (SQLite has one
    writer) and renders the very same page.
    """
    from opendsp.accounts.models import AccountKind
    from opendsp.professionals.models import Organisation, Professional
    from opendsp.web.templating import render, translate

    texts = {"title_text": translate(request, PAGE_MISSING), "body_text": translate(request, PAGE_MISSING_BODY)}
    viewer = request.app.state.security.viewer(request)
    if viewer is not None and viewer.kind is AccountKind.professional and request.url.path.startswith("/pro"):
        def page(professional: Any, organisation: Any) -> Response:
            return render(request, "professional/message.html", 404, professional=professional,
                          organisation=organisation, patient=None, current=request.url.path, **texts)

        if acting is not None:
            return page(*acting)
        platform: Platform = request.app.state.platform
        with platform.sessions() as session:
            professional = session.get(Professional, viewer.professional_id)
            organisation = session.get(Organisation, viewer.organisation_id) if viewer.organisation_id else None
            return page(professional, organisation)
    return render(request, "message.html", 404, **texts)


def _install_guard(app: FastAPI) -> None:
    """Step-up before sensitive acts, and the e-mailed unlock link (accounts/guard.py)."""
    from fastapi import Depends

    from opendsp.web import stepup, unlock
    from opendsp.web.security import csrf_protect

    app.include_router(stepup.router, dependencies=[Depends(csrf_protect)])
    app.include_router(unlock.router, dependencies=[Depends(csrf_protect)])
    app.add_exception_handler(stepup.StepUpNeeded, stepup.step_up_needed)
