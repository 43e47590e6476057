"""Security headers on every response: pages, JSON, FHIR, tokens, redirects, errors, files.

``SecurityHeaders`` is the outermost ASGI middleware, so nothing leaves the
server without its headers, not even an error answered before routing. A
header a route set itself (a document framed by the reading page sets
``X-Frame-Options: SAMEORIGIN``) is kept; every other is added:

- ``Content-Security-Policy``: the portals' policy on HTML (scripts, styles,
  fonts and images from this site only, no framing, forms back here only);
  on anything else nothing may load or run, and nothing may frame it;
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``
  (a URL of this site is never sent to another);
- ``X-Frame-Options: DENY`` for browsers that ignore ``frame-ancestors``;
- ``Cache-Control: no-store`` on everything but the static files and the favicon: pages,
  FHIR resources, tokens and redirects may all carry health data or secrets;
- ``Strict-Transport-Security`` when the public address is https.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=63072000; includeSubDomains"
# Shared, versioned assets: the only answers a browser or a proxy may keep.
CACHEABLE_PREFIXES = ("/static/", "/favicon.ico")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_page = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", PAGE_POLICY if is_page else DATA_POLICY)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                if not cacheable:
                    headers.setdefault("Cache-Control", "no-store")
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
