"""The OAuth 2.0 endpoints: the token endpoint (both grants; errors follow RFC 6749 §5.2) and the
authorization endpoint of SMART App Launch, a page of the portal (``opendsp.clients.launch``)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from opendsp.clients import launch
from opendsp.clients.services import IssuedToken, TokenRefused, Tokens
from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.web.security import csrf_protect, security
from opendsp.web.templating import render, translate

MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(error: str, description: str, status: int) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def token_router(platform: Platform, tokens: Tokens) -> APIRouter:
    router = APIRouter()

    @router.post("/auth/token", include_in_schema=False)
    async def token(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _error("invalid_request", "send the token request as application/x-www-form-urlencoded", 400)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return _error("invalid_request", "the token request is too large", 413)
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return _error("invalid_request", "the token request is not UTF-8", 400)
        if any(len(values) > 1 for values in fields.values()):
            return _error("invalid_request", "a parameter was repeated", 400)
        form = {name: values[0] for name, values in fields.items()}
        request_id = str(uuid.uuid4())

        def issue() -> IssuedToken:
            if form.get("grant_type") != "authorization_code":
                with platform.transaction() as session:
                    return tokens.issue(session=session, form=form, request_id=request_id)
            # The code is used (or, presented again, revoked) in a transaction of its own, whatever follows.
            with platform.transaction() as session:
                claimed = tokens.claim_code(session, form)
            if isinstance(claimed, TokenRefused):
                raise claimed
            with platform.transaction() as session:
                return tokens.exchange_code(session=session, form=form, code=claimed, request_id=request_id)

        try:
            issued = await run_in_threadpool(issue)
        except TokenRefused as refused:
            return _error(refused.error, refused.description, refused.status)
        return JSONResponse(issued.as_json(), headers=NO_STORE)

    return router


# -- SMART App Launch: the authorization endpoint, on the portal -------------------------------


def _single(items: list[tuple[str, str]]) -> dict[str, str] | None:
    """The parameters, or None when one is repeated (RFC 6749 §3.1)."""
    values: dict[str, str] = {}
    for name, value in items:
        if name in values:
            return None
        values[name] = value
    return values


INVALID_REQUEST = N_("The application's request is not valid.")


def authorize_router(platform: Platform) -> APIRouter:
    """``GET /auth/authorize`` shows the confirmation page to the person logged in (after the login if need be);
    ``POST /auth/authorize`` (CSRF-protected) carries out their answer."""
    router = APIRouter(dependencies=[Depends(csrf_protect)])
    fhir_base = platform.settings.public_base_url.rstrip("/") + "/fhir"

    def refused(request: Request, error: launch.AuthorizationError) -> Response:
        if error.redirect:
            raise AssertionError("redirected errors are handled by the caller")
        return render(request, "message.html", 400 if error.error != "access_denied" else 403,
                      title_text=translate(request, error.message or INVALID_REQUEST),
                      body_text=translate(request, "Nothing was shared with the application."))

    def checked(request: Request, params: dict[str, str] | None) -> launch.AppRequest | Response:
        if params is None:
            return refused(request, launch.AuthorizationError(
                "invalid_request", "a parameter was repeated", redirect=False,
                message=INVALID_REQUEST))
        try:
            with platform.sessions() as session:
                return launch.check_request(session, params, fhir_base)
        except launch.AuthorizationError as error:
            if not error.redirect:
                return refused(request, error)
            return RedirectResponse(launch.redirect_to(params["redirect_uri"], error=error.error,
                                                       error_description=error.description,
                                                       state=params.get("state") or None), status_code=303)

    def approving(request: Request, app: launch.AppRequest, session: Session) -> launch.Approver | None:
        viewer = security(request).viewer(request)
        if viewer is None:
            return None
        return launch.approver(session, app, account_id=viewer.account_id, kind=viewer.kind,
                               professional_id=viewer.professional_id, person_id=viewer.person_id,
                               acting_for=viewer.acting_for)

    @router.get("/auth/authorize", include_in_schema=False)
    def authorize(request: Request) -> Response:
        app = checked(request, _single(list(request.query_params.multi_items())))
        if not isinstance(app, launch.AppRequest):
            return app
        with platform.sessions() as session:
            try:
                who = approving(request, app, session)
            except launch.AuthorizationError as error:
                return refused(request, error)
            if who is None:
                target = request.url.path + "?" + request.url.query
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        return render(request, "smart_authorize.html", app=app, approver=who, fields=app.parameters(),
                      scopes=describe(app), minutes=int(launch.TOKEN_LIFETIME.total_seconds() // 60))

    @router.post("/auth/authorize", include_in_schema=False)
    async def decide(request: Request) -> Response:
        form = await request.form()
        fields = _single([(name, value) for name, value in form.multi_items()
                          if name in launch.PARAMETERS and isinstance(value, str)])
        answer = form.get("decision")

        def carry_out() -> Response:
            app = checked(request, fields)
            if not isinstance(app, launch.AppRequest):
                return app
            with platform.transaction() as session:
                try:
                    who = approving(request, app, session)
                except launch.AuthorizationError as error:
                    return refused(request, error)
                if who is None:
                    return RedirectResponse("/login", status_code=303)
                request_id = str(uuid.uuid4())
                if answer == "allow":
                    target = launch.grant(session=session, platform=platform, request=app, approver=who,
                                          fhir_base=fhir_base, request_id=request_id)
                else:
                    target = launch.refuse(session=session, platform=platform, request=app, approver=who,
                                           request_id=request_id)
            return RedirectResponse(target, status_code=303)

        return await run_in_threadpool(carry_out)

    return router


# What each scope lets an app do, for the confirmation page (translated there).
RESOURCE_LABELS = {
    "DocumentReference": N_("documents (their description)"),
    "Binary": N_("the content of documents"),
    "List": N_("the documents sent together (submission sets)"),
    "Patient": N_("patients' identity (national number, name, birth date)"),
    "AuditEvent": N_("the trace (who accessed the record, when and why)"),
    "Consent": N_("the choices on the record (trusted circle, blocks, emergency access, wishes)"),
    "Encounter": N_("hospital stays"),
    "*": N_("everything the access allows"),
}
PERMISSION_LABELS = {"c": N_("add"), "r": N_("read"), "u": N_("change"), "d": N_("delete"), "s": N_("search")}


def describe(app: launch.AppRequest) -> list[tuple[str, list[str], str]]:
    """(label of the resource, labels of the permissions, the scope as written) for every scope granted."""
    return [(RESOURCE_LABELS.get(scope.resource, scope.resource),
             [PERMISSION_LABELS[p] for p in "cruds" if p in scope.permissions], scope.text)
            for scope in app.granted.scopes]
