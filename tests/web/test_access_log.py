"""The server's logs hold no national number, no search term and no secret of a URL.

Real requests go through uvicorn configured as ``opendsp serve`` configures it;
every log record of the run is captured and searched for what must not be there.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from opendsp.clients.services import make_client_assertion
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder
from tests.fhir.conftest import register
from tests.live import serve
from tests.web.professional import professional_with_account
from tests.web.test_holder_documents import holder_browser

# Not "uvicorn.access": uvicorn writes its access log whenever that logger has a handler, and ours would be one.
LOGGERS = ("", "uvicorn", "uvicorn.error", "opendsp", "opendsp.access")
SEARCH_TERMS = ("echographie-renale-gauche", "oncologie-pediatrique", "depistage-vih")
INVITATION = "invitation-secret-" + "x" * 24


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@contextmanager
def captured_logs() -> Iterator[Captured]:
    handler = Captured()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def live_client(url: str, browser: Browser) -> httpx.Client:
    """The browser's login (its session cookie) used against the live server."""
    return httpx.Client(base_url=url, cookies=dict(browser.client.cookies), follow_redirects=False, timeout=30)


def csrf_of(page: str) -> str:
    from tests.accounts.portal import CSRF

    found = CSRF.search(page)
    assert found
    return found.group(1)


@pytest.fixture(autouse=True)
def _access_log_level() -> Iterator[None]:
    access = logging.getLogger("opendsp.access")
    before = access.level
    yield
    access.setLevel(before)


def test_a_run_of_real_requests_leaves_no_health_data_or_secret_in_the_logs(platform: Platform,
                                                                          clock: FrozenClock) -> None:
    holder, record = holder_browser(platform, clock)
    pro = professional_with_account(platform, clock)
    with platform.transaction() as session:
        record = session.merge(record)
        national_number = record.holder.national_number
        holder_side = as_holder(session, platform, record)
        holder_side.activate(record.id)  # a record not activated is found by no professional
        holder_side.add_to_circle(record.id, pro.id)
        record_id = record.id
        organisation = pro_organisation(session, pro.id)
    software = register(platform, organisation, "Cabinet soft")
    secrets = (national_number, INVITATION, *SEARCH_TERMS)

    with serve(platform, as_in_production=True) as (url, _served), captured_logs() as logs:
        uvicorns = logging.getLogger("uvicorn.access")
        assert not uvicorns.hasHandlers() and not uvicorns.propagate  # so uvicorn writes no access line at all
        with live_client(url, holder) as http:
            form = http.get("/record/search")
            assert form.status_code == 200
            answer = http.post("/record/search", data={"q": SEARCH_TERMS[0], "csrf_token": csrf_of(form.text)})
            assert answer.status_code == 200
            http.get(f"/record/search?q={SEARCH_TERMS[1]}")  # an old bookmark: the term is in the address
            http.get(f"/record/documents?type=laboratory_report&q={national_number}")
        with live_client(url, pro.browser) as http:
            form = http.get("/pro/find")
            found = http.post("/pro/find", data={"national_number": national_number, "csrf_token": csrf_of(form.text)})
            assert found.status_code == 200 and f"/pro/patients/{record_id}" in found.text
            page = http.get(f"/pro/patients/{record_id}?q={SEARCH_TERMS[2]}")  # an old bookmark
            filtered = http.post(f"/pro/patients/{record_id}",
                                 data={"q": SEARCH_TERMS[2], "author": SEARCH_TERMS[1], "csrf_token": csrf_of(page.text)})
            assert filtered.status_code == page.status_code  # the record's answer (not activated: a refusal)
        with httpx.Client(base_url=url, timeout=30) as http:
            http.get(f"/invitations/{INVITATION}")
            assertion = make_client_assertion(private_jwk=software.key, client_id=software.client_id,
                                              token_url=f"{url}/auth/token", licence_number=pro_licence(platform, pro.id),
                                              now=platform.clock.now(), jti=uuid.uuid4().hex)
            token = http.post("/auth/token", data={
                "grant_type": "client_credentials", "scope": "system/Patient.rs",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion}).json()["access_token"]
            patients = http.get(f"/fhir/Patient?identifier={national_number}",
                                headers={"Authorization": f"Bearer {token}"})
            assert patients.status_code in (200, 400)

    text = "\n".join(logs.lines)
    for secret in secrets:
        assert secret not in text, f"{secret!r} was logged"
    access = [line for line in logs.lines if line.startswith("opendsp.access ")]
    assert any("POST /record/search 200" in line for line in access), access
    assert any("POST /pro/find 200" in line for line in access)
    assert any("POST /pro/patients/{record_id} " in line for line in access)
    assert any("GET /invitations/{token}" in line for line in access)
    assert any(line.split()[1:3] == ["GET", "/fhir/Patient"] for line in access)
    assert all("rid=" in line for line in access)
    assert not [line for line in logs.lines if line.startswith("uvicorn.access")]


def pro_organisation(session, professional_id):  # type: ignore[no-untyped-def]
    from opendsp.professionals.models import Professional

    return session.get(Professional, professional_id).organisations[0]


def pro_licence(platform: Platform, professional_id) -> str:  # type: ignore[no-untyped-def]
    from opendsp.professionals.models import Professional

    with platform.sessions() as session:
        return session.get(Professional, professional_id).licence_number  # type: ignore[union-attr]
