"""`make run`'s stand-in for the State's portal: the same script and settings as the Makefile's, started the same
way, logs a demo holder in end to end; production mode refuses such an issuer."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.demo.load import DEMO_PASSWORD
from opendsp.platform import Platform
from opendsp.settings import InsecureSettings, Mode, Settings
from tests.accounts.oidc import skip_reason
from tests.accounts.portal import Browser, activate, letter_for
from tests.conftest import migrate
from tests.factories import make_record
from tests.migrated import Templates

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "myguichet_standin.mjs"


def makefile_standin_settings() -> dict[str, str]:
    """The OPENDSP_OIDC_* settings `make run` gives the server and the stand-in (the Makefile's STANDIN_ENV)."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^STANDIN_ENV :=((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert match, "the Makefile defines STANDIN_ENV"
    words = shlex.split(match.group(1).replace("\\\n", " "))
    return dict(word.split("=", 1) for word in words)


@pytest.fixture
def identities(tmp_path: Path) -> Path:
    return tmp_path / "identities.json"


@contextmanager
def running_standin(identities: Path, base_url: str) -> Iterator[dict[str, str]]:
    """The stand-in as `make run` starts it (the same command and variables), on a free port; its settings."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    variables = makefile_standin_settings()
    env = {**os.environ, **variables, "OPENDSP_PUBLIC_BASE_URL": base_url, "STANDIN_PORT": "0",
           "STANDIN_IDENTITIES": str(identities)}
    process = subprocess.Popen(["node", str(SCRIPT)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the stand-in did not start: {line}{process.stderr.read() if process.stderr else ''}")
        # The port is the Makefile's OIDC_PORT under make run; here any free one, so the issuer is the one printed.
        yield {**variables, "OPENDSP_OIDC_ISSUER": line.split()[1]}
    finally:
        process.terminate()
        process.wait(timeout=10)


def standin_settings(tmp_path: Path, database_url: str, standin: dict[str, str], base_url: str) -> Settings:
    return Settings(
        var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
        public_base_url=base_url, oidc_issuer=standin["OPENDSP_OIDC_ISSUER"],
        oidc_client_id=standin["OPENDSP_OIDC_CLIENT_ID"], oidc_client_secret=standin["OPENDSP_OIDC_CLIENT_SECRET"],
        oidc_acr_values=standin["OPENDSP_OIDC_ACR_VALUES"],
    )


@pytest.fixture
def standin(identities: Path) -> Iterator[dict[str, str]]:
    with running_standin(identities, "http://testserver") as variables:
        yield variables


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))  # the provider stamps its tokens with the real time


@pytest.fixture
def settings(tmp_path: Path, database_url: str, standin: dict[str, str]) -> Settings:
    return standin_settings(tmp_path, database_url, standin, "http://testserver")


def at_standin(browser: Browser, national_number: str, password: str) -> httpx.Response:
    """The person's side: from the login page's button to the stand-in's form, filled in; its last answer."""
    assert 'href="/login/federated"' in browser.get("/login").text  # the button is there
    start = browser.get("/login/federated")
    assert start.status_code == 303
    url = start.headers["location"]
    with httpx.Client(follow_redirects=False) as person:
        response = person.get(url)
        for _ in range(10):
            location = response.headers.get("location", "")
            if "/interaction/" in location:
                form_url = httpx.URL(url).join(location)
                assert "National number" in person.get(form_url).text
                response = person.post(form_url, data={"login": national_number, "password": password})
                continue
            if response.status_code not in (302, 303) or location.startswith("http://testserver/"):
                return response
            url = str(httpx.URL(url).join(location))
            response = person.get(url)
    raise AssertionError("the stand-in never answered")


def demo_holder(platform: Platform, clock: FrozenClock, identities: Path):  # type: ignore[no-untyped-def]
    """A holder whose account is active (as the demo's are), listed in the identities file as `demo load` does."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        person = record.holder
    activate(Browser(platform), clock, person.national_number, letter_for(platform, person).activation)
    identities.write_text(json.dumps({"persons": [{"national_number": person.national_number}],
                                      "password": DEMO_PASSWORD}))
    return person


def test_a_demo_holder_logs_in_with_the_standin(platform: Platform, clock: FrozenClock, identities: Path) -> None:
    person = demo_holder(platform, clock, identities)
    browser = Browser(platform)
    back = at_standin(browser, person.national_number, DEMO_PASSWORD)
    assert back.headers["location"].startswith("http://testserver/login/federated/callback?")
    parts = urlsplit(back.headers["location"])
    response = browser.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 303 and response.headers["location"] == "/record"
    page = browser.get("/record")
    assert page.status_code == 200 and person.given_name in page.text


@pytest.mark.parametrize("who, password", [("listed", "not-the-demo-password"), ("unlisted", DEMO_PASSWORD),
                                           ("listed", ""), ("listed", "x" * 20000)])
def test_the_standin_refuses_a_wrong_password_or_a_person_not_in_the_demo(
    platform: Platform, clock: FrozenClock, identities: Path, who: str, password: str
) -> None:
    person = demo_holder(platform, clock, identities)
    with platform.transaction() as session:
        stranger = make_record(session, platform).holder
    number = person.national_number if who == "listed" else stranger.national_number
    browser = Browser(platform)
    response = at_standin(browser, number, password)
    assert response.status_code in (400, 401)
    assert not response.headers.get("location", "").startswith("http://testserver/")
    assert browser.get("/record").status_code == 303  # not logged in


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8010", "https://127.0.0.1:8010", "https://localhost/",
                                    "https://10.1.2.3/", "https://[::1]:8443", "http://guichet.lu"])
def test_production_refuses_a_local_or_plain_http_issuer(issuer: str) -> None:
    settings = Settings(mode=Mode.production, database_url="postgresql://db/x", oidc_issuer=issuer,
                        oidc_acr_values="urn:lu:loa:substantial")
    with pytest.raises(InsecureSettings, match="OPENDSP_OIDC_ISSUER"):
        settings.check_production()


def test_the_makefile_issuer_is_refused_in_production() -> None:
    variables = makefile_standin_settings()
    settings = Settings(mode=Mode.production, database_url="postgresql://db/x",
                        oidc_issuer=variables["OPENDSP_OIDC_ISSUER"].replace("$(OIDC_PORT)", "8010"),
                        oidc_acr_values=variables["OPENDSP_OIDC_ACR_VALUES"])
    with pytest.raises(InsecureSettings, match="OPENDSP_OIDC_ISSUER"):
        settings.check_production()


def test_a_provider_that_is_not_running_gets_a_clear_page_not_an_error(
    tmp_path: Path, database_url: str, clock: FrozenClock, migrated_templates: Templates
) -> None:
    """`make run` without Node.js, or the stand-in stopped: the button answers "cannot be reached" (502), no 500."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
                        public_base_url="http://testserver", oidc_issuer=f"http://127.0.0.1:{closed}",
                        oidc_client_id="opendsp-demo", oidc_client_secret="x" * 40)
    platform = Platform(settings=settings, clock=clock, randomness=SeededRandomness(7))
    try:
        migrate(migrated_templates, platform)
        response = Browser(platform).get("/login/federated")
        assert response.status_code == 502 and "cannot be reached" in response.text
    finally:
        assert platform.engine is not None
        platform.engine.dispose()
