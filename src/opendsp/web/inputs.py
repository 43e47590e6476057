"""A NUL character in a URL is refused before any route sees it.

No name, title, code or search term holds a NUL, and PostgreSQL refuses it
in text (the request would end in a 500). ``RefuseNul`` answers 400 for a
NUL in the path or the query string: an OperationOutcome under /fhir, a
short page in the visitor's language elsewhere. Forms and JSON bodies are
checked where they are read (``web.security.csrf_protect``,
``fhir.validation.read_json``).
"""

from __future__ import annotations

import json
from html import escape

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from opendsp.locale import N_, translations
from opendsp.web.security import language_of

REFUSED = N_("The address holds a character that is not allowed.")
FHIR_DIAGNOSTICS = "a parameter or the path holds a NUL character"


def holds_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def contains_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not holds_nul(scope):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/fhir"):
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "invalid", "diagnostics": FHIR_DIAGNOSTICS}]}
            body, media_type = json.dumps(outcome).encode(), b"application/fhir+json"
        else:
            language = language_of(Request(scope))
            text = escape(translations(language).gettext(REFUSED))
            body = (f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8"><title>{text}</title>'
                    f"</head><body><h1>{text}</h1></body></html>").encode()
            media_type = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
