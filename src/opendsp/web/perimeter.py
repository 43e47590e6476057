"""The layers every request crosses before a route, outermost first (docs/security.md).

1. ``AccessLog``: one line per request, without the URL's query or secrets;
2. ``SecurityHeaders``: the headers of every response, errors included;
3. ``RefuseNul``: a NUL in the address is answered 400 before routing;
4. the portals' own middleware (flow cookie, language, a CSRF token sent in a header), pure ASGI like the others;
5. ``BodyLimits``: each route's body limit, enforced while the body streams in. It is the innermost layer,
   so that its 413 reaches the routes' error handlers directly (a middleware built on ``BaseHTTPMiddleware``
   between them would turn it into a 400).
"""

from __future__ import annotations

from fastapi import FastAPI

from opendsp.settings import Settings
from opendsp.web.access_log import AccessLog
from opendsp.web.headers import SecurityHeaders
from opendsp.web.inputs import RefuseNul
from opendsp.web.limits import BodyLimits


def limit_bodies(app: FastAPI) -> None:
    """Before any other middleware is added (``add_middleware`` puts each new layer outside the others)."""
    app.add_middleware(BodyLimits)


def install_perimeter(app: FastAPI, settings: Settings) -> None:
    """After the portals' middleware: these layers go around everything."""
    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders, https=settings.public_base_url.startswith("https://"))
    app.add_middleware(AccessLog)
