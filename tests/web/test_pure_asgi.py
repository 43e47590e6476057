"""The web layers are pure ASGI middleware (issue 15): none is built on ``BaseHTTPMiddleware``, and the portals'
layer still loads, refuses and writes back what it did before: the flow cookie, its CSRF token, the language."""

from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.middleware.base import BaseHTTPMiddleware

from opendsp.platform import Platform
from opendsp.web.app import create_app
from opendsp.web.security import CSRF_HEADER, WebMiddleware


def test_no_layer_is_built_on_base_http_middleware(platform: Platform) -> None:
    app = create_app(platform=platform)
    layers = [m.cls for m in app.user_middleware]
    assert WebMiddleware in layers
    assert not [layer for layer in layers if isinstance(layer, type) and issubclass(layer, BaseHTTPMiddleware)]


def test_the_portals_layer_sets_the_flow_once_and_checks_a_csrf_header(platform: Platform) -> None:
    with TestClient(create_app(platform=platform)) as http:
        first = http.get("/healthz")
        flow_cookies = [c for c in first.headers.get_list("set-cookie") if "opendsp_flow=" in c]
        assert len(flow_cookies) == 1 and "HttpOnly" in flow_cookies[0] and "SameSite=lax" in flow_cookies[0]
        again = http.get("/healthz")  # the browser sends the flow back: nothing new to write
        assert not [c for c in again.headers.get_list("set-cookie") if "opendsp_flow=" in c]
        page = http.get("/login", headers={"Accept-Language": "de"})  # the language, read by the layer
        assert page.status_code == 200 and 'lang="de"' in page.text
        forged = http.post("/language", headers={CSRF_HEADER: "forged"}, data={"language": "fr"})
        assert forged.status_code == 403 and forged.headers["x-content-type-options"] == "nosniff"
        # A FHIR client sends no browser token: the portals' layer leaves it to the API's own answer.
        assert http.post("/fhir", headers={CSRF_HEADER: "forged"}, content=b"{}").status_code != 403
