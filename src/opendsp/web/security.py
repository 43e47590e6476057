"""The portals' browser security: cookies, the flow state, CSRF, rate limits, headers, the viewer.

Two cookies, both HttpOnly and SameSite=Lax (Lax, not Strict: the return
from the State's login portal is a cross-site navigation that must carry the
flow cookie), Secure in production and then ``__Host-`` prefixed:

- the *flow* cookie, signed (itsdangerous) and short-lived: the CSRF token of
  an anonymous browser and the steps of login, activation and federation;
- the *session* cookie: an opaque random token for a ``WebSession`` row.

Every unsafe request must carry the CSRF token of its browser (the session's
once logged in, the flow's before): in the ``X-CSRF-Token`` header, checked
before a byte of the body is read (scripts), or in the form field
``csrf_token`` (forms without script; the body is bounded by ``web.limits``
and a multipart form is read in memory, token first, by ``web.multipart``).
"""

from __future__ import annotations

import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendsp.accounts import sessions as web_sessions
from opendsp.accounts.models import AccountKind
from opendsp.locale import DEFAULT_LANGUAGE, LANGUAGES, N_
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.headers import CACHEABLE_PREFIXES

FLOW_MAX_AGE = timedelta(minutes=30)
# A step of a flow (the password checked, an activation code accepted) must be finished within this.
STEP_MAX_AGE = timedelta(minutes=10)
LANGUAGE_COOKIE = "opendsp_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
# Adapters that authenticate each call themselves (bearer tokens, client assertions): no browser CSRF token.
NO_BROWSER_PREFIXES = ("/fhir", "/auth/token")
NUL_REFUSED = N_("The form holds a character that is not allowed.")


def session_secret(settings: Settings) -> bytes:
    """The key that signs flow cookies: from the environment, or a file made once (mode 0600)."""
    if settings.session_secret_source == "env":
        if not settings.session_secret or len(settings.session_secret) < 32:
            raise ValueError("OPENDSP_SESSION_SECRET must hold at least 32 characters")
        return settings.session_secret.encode()
    path = Path(settings.session_secret_source.removeprefix("file:"))
    if not path.exists():
        # Written whole under another name, then linked: processes starting together (web workers) all read
        # the one secret that won, never a file still empty.
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process made it first: theirs is the secret
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class CookieNames:
    flow: str
    session: str

    @classmethod
    def for_settings(cls, settings: Settings) -> CookieNames:
        # The __Host- prefix makes browsers refuse the cookie from a subdomain or without Secure.
        prefix = "__Host-" if settings.secure_cookies else ""
        return cls(flow=f"{prefix}opendsp_flow", session=f"{prefix}opendsp_session")


@dataclass(frozen=True)
class Viewer:
    """Who is logged in on this request (a snapshot: views load what they need)."""

    session_id: uuid.UUID
    account_id: uuid.UUID
    kind: AccountKind
    display_name: str
    roles: frozenset[str]
    csrf_token: str
    acting_for: uuid.UUID | None
    organisation_id: uuid.UUID | None
    person_id: uuid.UUID | None
    professional_id: uuid.UUID | None


class WebSecurity:
    """Built once by the app factory; reached from requests as ``request.app.state.security``."""

    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.platform = platform
        self.settings = settings
        self.cookies = CookieNames.for_settings(settings)
        self.signer = URLSafeTimedSerializer(session_secret(settings), salt="opendsp.flow")
        self.allowed_origins = {_origin(settings.public_base_url)}

    # -- the flow cookie ----------------------------------------------------------------

    def read_flow(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(self.cookies.flow)
        if raw:
            try:
                flow = self.signer.loads(raw, max_age=int(FLOW_MAX_AGE.total_seconds()))
                if isinstance(flow, dict) and flow.get("csrf"):
                    return flow
            except BadSignature:
                pass
        return {"csrf": secrets.token_urlsafe(32), "new": True}

    def write_flow(self, response: Response, flow: dict[str, Any]) -> None:
        flow = {k: v for k, v in flow.items() if k != "new"}
        response.set_cookie(
            self.cookies.flow, self.signer.dumps(flow), max_age=int(FLOW_MAX_AGE.total_seconds()), path="/",
            secure=self.settings.secure_cookies, httponly=True, samesite="lax",
        )

    def set_session_cookie(self, response: Response, token: str) -> None:
        # No Max-Age: the cookie dies with the browser; the server ends the session on its own time-outs.
        response.set_cookie(
            self.cookies.session, token, path="/", secure=self.settings.secure_cookies, httponly=True, samesite="lax"
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookies.session, path="/", secure=self.settings.secure_cookies, httponly=True,
                               samesite="lax")

    # -- the viewer ---------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer | None:
        """The logged-in viewer, once per request; an expired session is ended here."""
        if "viewer" in request.state._state:
            return request.state.viewer  # type: ignore[no-any-return]
        token = request.cookies.get(self.cookies.session)
        viewer = None
        if token:
            with self.platform.transaction() as session:
                found = web_sessions.resume(session=session, platform=self.platform, token=token)
                if found:
                    web, account = found
                    viewer = Viewer(
                        session_id=web.id, account_id=account.id, kind=account.kind, display_name=account.display_name,
                        roles=frozenset(account.roles), csrf_token=web.csrf_token, acting_for=web.acting_for_person_id,
                        organisation_id=web.organisation_id, person_id=account.person_id,
                        professional_id=account.professional_id,
                    )
        request.state.viewer = viewer
        return viewer

    def csrf_token(self, request: Request) -> str:
        viewer = self.viewer(request)
        return viewer.csrf_token if viewer else request.state.flow["csrf"]

    def allow_attempt(self, request: Request, secret: str) -> None:
        """Raise 429 when this client has entered too many secrets of this kind lately (counted in the database)."""
        from opendsp.accounts import guard
        from opendsp.web.proxies import client_address

        key = f"rate:{secret}:{guard.network_of(client_address(request))}"
        with self.platform.transaction() as session:
            allowed = guard.allow(session, key=key, limit=self.settings.rate_limit_attempts,
                                  window=timedelta(minutes=self.settings.rate_limit_window_minutes),
                                  now=self.platform.clock.now())
        if not allowed:
            raise HTTPException(429, N_("Too many attempts: wait a few minutes before trying again."))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security(request: Request) -> WebSecurity:
    return request.app.state.security  # type: ignore[no-any-return]


async def csrf_protect(request: Request) -> None:
    """A dependency of every portal router: unsafe requests need the browser's CSRF token.

    From the header when it is sent (already checked before the body by ``WebMiddleware``), else from the form:
    a multipart form is read in memory and its token checked before any file (``web.multipart``).
    """
    if request.method in SAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        check_csrf_token(request, header)
        return
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        from opendsp.web.multipart import read_multipart

        form = await read_multipart(request, lambda sent: check_csrf_token(request, sent))
    else:
        form = await request.form()
        check_csrf_token(request, form.get("csrf_token"))
    if any(isinstance(value, str) and "\x00" in value for _name, value in form.multi_items()):
        raise HTTPException(400, NUL_REFUSED)


def check_csrf_token(request: Request, sent: object) -> None:
    """The form's token against the session's (for forms read without ``request.form()``, e.g. streamed uploads)."""
    guard = security(request)
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin not in guard.allowed_origins and origin != _origin(str(request.base_url)):
        raise HTTPException(403, N_("This form was sent from another site."))
    expected = guard.csrf_token(request)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, N_("This form has expired or was not sent from this site: reload the page and try again."))


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


class WebMiddleware:
    """Loads the flow cookie and the language, and writes the flow back when a view changed it.

    A pure ASGI middleware (not ``BaseHTTPMiddleware``): the request and its body go to the app untouched, with no
    task or memory stream in between; the flow cookie joins the response's headers as they are sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # the headers only: the body is left to the app
        guard: WebSecurity = request.app.state.security
        flow = guard.read_flow(request)
        request.state.flow = flow
        request.state.flow_changed = bool(flow.get("new"))
        request.state.language = language_of(request)
        refused = _refused_csrf_header(request)
        if refused is not None:
            await refused(scope, receive, send)
            return

        # Shared, cacheable assets (the stylesheet, the favicon) never carry a cookie: a cache would hand it to
        # everyone, and a page that sets none (the published figures) would get one through its favicon.
        asset = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_flow(message: Message) -> None:
            if message["type"] == "http.response.start" and request.state.flow_changed and not asset:
                carrier = Response()
                guard.write_flow(carrier, request.state.flow)
                headers = MutableHeaders(scope=message)
                for name, value in carrier.raw_headers:
                    if name == b"set-cookie":
                        headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_flow)  # the security headers are added by web.headers


def _refused_csrf_header(request: Request) -> Response | None:
    """A CSRF token sent in the header is checked here, before routing and before the body is read."""
    if request.method in SAFE_METHODS or request.url.path.startswith(NO_BROWSER_PREFIXES):
        return None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        return None
    from opendsp.web.templating import translate  # templating renders with this module's WebSecurity

    try:
        check_csrf_token(request, sent)
    except HTTPException as refused:
        return PlainTextResponse(translate(request, str(refused.detail)), status_code=refused.status_code)
    return None


def update_flow(request: Request, **changes: Any) -> None:
    flow = request.state.flow
    for key, value in changes.items():
        if value is None:
            flow.pop(key, None)
        else:
            flow[key] = value
    request.state.flow_changed = True


def step(request: Request, name: str, now: datetime) -> dict[str, Any] | None:
    """A step of a flow, if it was taken recently enough."""
    value = request.state.flow.get(name)
    if not isinstance(value, dict) or "at" not in value:
        return None
    if now - datetime.fromisoformat(value["at"]) > STEP_MAX_AGE:
        return None
    return value
