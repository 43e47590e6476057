"""Security headers on every kind of response, and no saved setting changed by a GET."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendsp.clock import FrozenClock
from opendsp.persons.models import Language, Person
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.app import create_app
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.web.holder_world import World, build, log_in

@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> World:
    return build(platform, clock)


@pytest.fixture
def holder(platform: Platform, clock: FrozenClock, world: World) -> Browser:
    return log_in(platform, clock, world.credentials)


RESPONSES = {
    "page": ("GET", "/login", None),
    "json": ("GET", "/healthz", None),
    "fhir": ("GET", "/fhir/metadata", None),
    "fhir error": ("GET", "/fhir/DocumentReference", None),
    "token error": ("POST", "/auth/token", {"grant_type": "client_credentials"}),
    "redirect": ("GET", "/", None),
    "portal 404": ("GET", "/record/nothing-here", None),
    "405": ("GET", "/language", None),
    "413": ("POST", "/login", {"identifier": "a" * 70_000}),
    "NUL in the address": ("GET", "/login?next=%00", None),
}


@pytest.mark.parametrize("kind", list(RESPONSES))
def test_every_kind_of_response_carries_the_security_headers(platform: Platform, kind: str) -> None:
    method, path, form = RESPONSES[kind]
    http = TestClient(create_app(platform=platform), follow_redirects=False, raise_server_exceptions=False)
    response = http.request(method, path, data=form)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in headers  # plain http: no HSTS
    assert "x-request-id" in headers
    if headers.get("content-type", "").startswith("text/html"):
        assert "script-src 'self'" in headers["content-security-policy"]
    else:
        assert headers["content-security-policy"].startswith("default-src 'none'")


def test_static_files_may_be_cached_and_https_brings_hsts(tmp_path: Path, database_url: str) -> None:
    secure = Settings(var_dir=tmp_path / "var", database_url=database_url, public_base_url="https://dsp.example.lu")
    http = TestClient(create_app(secure), follow_redirects=False)
    for path in ("/healthz", "/static/opendsp/opendsp.css", "/"):
        response = http.get(path)
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in http.get("/static/opendsp/opendsp.css").headers


def test_get_language_changes_nothing_and_the_language_forms_need_the_csrf_token(
        platform: Platform, world: World, holder: Browser) -> None:
    refused = holder.client.get("/language?lang=de&next=/record")
    assert refused.status_code == 405
    assert "opendsp_lang" not in refused.headers.get("set-cookie", "")
    forged = holder.client.post("/language", data={"lang": "de", "next": "/record", "csrf_token": "forged"})
    assert forged.status_code == 403
    with platform.sessions() as session:
        assert session.get(Person, world.holder.id).preferred_language is not Language.de  # type: ignore[union-attr]
    page = holder.get("/record").text
    assert 'action="/language"' in page and 'name="lang" value="de"' in page
    chosen = holder.choose_language("de", "/record")
    assert chosen.status_code == 303 and chosen.headers["location"] == "/record"
    with platform.sessions() as session:
        assert session.get(Person, world.holder.id).preferred_language is Language.de  # type: ignore[union-attr]
