"""Every route of the FHIR API but the two public documents needs a token, and answers FHIR."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import Mount, Route

from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.fhir.conftest import Fhir, valid

PUBLIC = {"/metadata", "/.well-known/smart-configuration"}
PUBLIC_BASE = ("GET", "/")  # the base URL answers with the CapabilityStatement, as /metadata


def routes_of(routes: list[Any]) -> Iterator[Any]:
    """Every route, those of the routers included (one per IHE transaction) too."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from routes_of(included.routes) if included is not None else [route]


def test_every_fhir_route_is_protected(platform: Platform, fhir: Fhir) -> None:
    app = create_app(platform=platform)
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/fhir")
    walked = 0
    for route in routes_of(mount.routes):
        assert isinstance(route, Route)
        path = route.path.replace("{document_id}", "00000000-0000-0000-0000-000000000000").replace(
            "{patient_id}", "00000000-0000-0000-0000-000000000000")
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            response = fhir.http.request(method, "/fhir" + path, content=b"{}",
                                         headers={"Content-Type": "application/fhir+json"})
            if route.path in PUBLIC or (method, route.path) == PUBLIC_BASE:
                assert response.status_code == 200
                continue
            walked += 1
            assert response.status_code == 401, (method, path, response.status_code)
            assert valid(response.json())["issue"][0]["code"] == "login"
    assert walked >= 20  # the IHE transactions, Encounter, and the six kinds of structured entries
