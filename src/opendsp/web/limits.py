"""How many bytes of body each route accepts, enforced while the body streams in.

``BodyLimits`` is a pure ASGI middleware around the whole application. It
wraps ``receive``: a request that declares a ``Content-Length`` over its
route's limit is refused at the first read, before a byte of the body leaves
the socket, and a body that grows past the limit (chunked, or longer than it
said) is refused at the chunk that crosses it. Nothing is buffered here.

The refusal is an ``HTTPException(413)`` raised where the route reads its
body, so each adapter answers in its own format: a page in the visitor's
language on the portals, an OperationOutcome under /fhir, JSON elsewhere.
Forms are small; only the upload routes and the FHIR API take more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendsp.documents.uploads import MAX_UPLOAD_BYTES
from opendsp.locale import N_

# Every form of the portals and the token endpoint: fields only, a few kilobytes each.
FORM_BYTES = 64 * 1024
# A professional's PDF deposit (web.professional.forms.MAX_PDF_BYTES) with the form around it.
PDF_DEPOSIT_BYTES = 20 * 1024 * 1024 + FORM_BYTES
# A Provide Document Bundle carries its documents in base64 (fhir.app.MAX_REQUEST_BYTES).
FHIR_BYTES = 64 * 1024 * 1024
TOO_LARGE = N_("The request is too large.")


@dataclass(frozen=True)
class RouteLimit:
    pattern: re.Pattern[str]
    limit: int


# The first pattern that matches the path gives the limit; every other route takes FORM_BYTES.
LIMITS: tuple[RouteLimit, ...] = (
    RouteLimit(re.compile(r"^/record/upload$"), MAX_UPLOAD_BYTES + FORM_BYTES),
    RouteLimit(re.compile(r"^/pro/patients/[^/]+/(deposit|documents/[^/]+/replace)$"), PDF_DEPOSIT_BYTES),
    RouteLimit(re.compile(r"^/fhir(/|$)"), FHIR_BYTES),
)


def body_limit(path: str) -> int:
    return next((route.limit for route in LIMITS if route.pattern.match(path)), FORM_BYTES)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = declared_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise HTTPException(413, TOO_LARGE)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)
