"""Login and activation through an independent OpenID Connect provider (npm oidc-provider), abuse included."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from opendsp.accounts.models import Account, AccountState
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.settings import Settings
from opendsp.trace.models import TraceEntry
from tests.accounts.oidc import CLAIM, CLIENT_ID, CLIENT_SECRET, OidcTestProvider, oidc_provider  # noqa: F401
from tests.accounts.portal import Browser
from tests.factories import make_record


@pytest.fixture
def clock() -> FrozenClock:
    # The provider stamps its tokens with the real time.
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, oidc_provider: OidcTestProvider) -> Settings:  # noqa: F811
    return Settings(
        var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
        public_base_url="http://testserver", oidc_issuer=oidc_provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, oidc_national_number_claim=CLAIM,
    )


def holder(platform: Platform, *, active: bool = False):  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        record = make_record(session, platform, active=active)
        return record, record.holder


def authenticate_at_provider(browser: Browser, national_number: str, **at_provider: str) -> str:
    """The person's side at the State's portal: returns the callback URL it sends them back to.

    ``at_provider``: what the provider records of the login (``acr``, ``amr``, ``variant``: another account there).
    """
    start = browser.get("/login/federated")
    assert start.status_code == 303
    url = start.headers["location"]
    with httpx.Client(follow_redirects=False) as person:
        for _ in range(10):
            response = person.get(url)
            if response.status_code in (302, 303) and "/interaction/" in response.headers["location"]:
                interaction = httpx.URL(url).join(response.headers["location"])
                person.get(interaction)
                response = person.post(interaction, data={"login": national_number, **at_provider})
            location = response.headers.get("location", "")
            if location.startswith("http://testserver/"):
                return location
            assert response.status_code in (302, 303), response.text
            url = str(httpx.URL(url).join(location))
    raise AssertionError("the provider never sent the browser back")


def callback(browser: Browser, url: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    return browser.get(f"{parts.path}?{parts.query}")


class Tampering(httpx.BaseTransport):
    """Between the portal and the provider: rewrites the ID token of the token response."""

    def __init__(self, change: Callable[[str], str]) -> None:
        self.change, self.inner = change, httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/token"):
            return response
        response.read()
        body = response.json()
        body["id_token"] = self.change(body["id_token"])
        return httpx.Response(response.status_code, json=body)


def claims_of(token: str) -> dict:  # type: ignore[type-arg]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def resigned(key: RSAKey, **changes: object) -> Callable[[str], str]:
    def change(token: str) -> str:
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, {**claims_of(token), **changes}, key)

    return change


def refused(platform: Platform, browser: Browser, response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert browser.get("/account").status_code == 303  # not logged in
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.action == "account.login")
                                .order_by(TraceEntry.id.desc())).first()
    assert entry is not None and entry.outcome.value == "refused"
    return entry.reason or ""


def test_a_person_activates_without_a_letter(platform: Platform) -> None:
    record, person = holder(platform)
    browser = Browser(platform)
    response = callback(browser, authenticate_at_provider(browser, person.national_number))
    assert response.status_code == 303 and response.headers["location"] == "/activate/federated"
    response = browser.submit("/activate/federated", {"email": "anne@example.lu", "mobile": ""},
                              form_page="/activate/federated")
    assert response.status_code == 303 and response.headers["location"] == "/record"
    assert browser.get("/account").status_code == 200
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.person_id == person.id)).one()
        assert account.state is AccountState.active and account.federated_subject.endswith(person.national_number)
        assert session.get(Record, record.id).state is RecordState.active


def test_an_active_person_logs_in(platform: Platform) -> None:
    _, person = holder(platform, active=True)
    browser = Browser(platform)
    callback(browser, authenticate_at_provider(browser, person.national_number))
    browser.submit("/activate/federated", {"email": "anne@example.lu"}, form_page="/activate/federated")
    again = Browser(platform)
    response = callback(again, authenticate_at_provider(again, person.national_number))
    assert response.status_code == 303 and response.headers["location"] == "/record"


def test_a_tampered_id_token_is_refused(platform: Platform) -> None:
    _, person = holder(platform)
    _, intruder = holder(platform)
    browser = Browser(platform)

    def tamper(token: str) -> str:
        header, payload, signature = token.split(".")
        claims = {**claims_of(token), CLAIM: intruder.national_number}
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"{header}.{forged}.{signature}"

    browser.app.state.federation.transport = Tampering(tamper)
    reason = refused(platform, browser, callback(browser, authenticate_at_provider(browser, person.national_number)))
    assert reason.startswith("federation:bad_signature")


def test_a_token_signed_by_another_key_is_refused(platform: Platform) -> None:
    _, person = holder(platform)
    browser = Browser(platform)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "test-key"}, private=True)
    browser.app.state.federation.transport = Tampering(resigned(stranger))
    reason = refused(platform, browser, callback(browser, authenticate_at_provider(browser, person.national_number)))
    assert reason.startswith("federation:bad_signature")


def test_an_unsigned_token_is_refused(platform: Platform) -> None:
    _, person = holder(platform)
    browser = Browser(platform)

    def unsigned(token: str) -> str:
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
        return f"{header}.{token.split('.')[1]}."

    browser.app.state.federation.transport = Tampering(unsigned)
    reason = refused(platform, browser, callback(browser, authenticate_at_provider(browser, person.national_number)))
    assert reason.startswith("federation:bad_signature")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"nonce": "not-the-one-we-sent"}, "wrong_nonce"), ({"aud": "another-client"}, "wrong_audience"),
     ({"iss": "https://elsewhere.example"}, "wrong_issuer"), ({"exp": 1_000_000}, "expired")],
    ids=["wrong nonce", "wrong audience", "wrong issuer", "expired"],
)
def test_a_correctly_signed_token_for_another_purpose_is_refused(
    platform: Platform, oidc_provider: OidcTestProvider, changes: dict, reason: str  # type: ignore[type-arg]  # noqa: F811
) -> None:
    _, person = holder(platform)
    browser = Browser(platform)
    browser.app.state.federation.transport = Tampering(resigned(oidc_provider.key, **changes))
    got = refused(platform, browser, callback(browser, authenticate_at_provider(browser, person.national_number)))
    assert got == f"federation:{reason}"


def test_a_forged_state_and_a_replayed_callback_are_refused(platform: Platform) -> None:
    _, person = holder(platform)
    browser = Browser(platform)
    url = authenticate_at_provider(browser, person.national_number)
    forged = url.replace("state=", "state=x")
    assert refused(platform, browser, callback(browser, forged)) == "federation:state_mismatch"
    # The flow is spent: the genuine callback, replayed afterwards, finds nothing to finish.
    assert refused(platform, browser, callback(browser, url)) == "federation:no_pending_login"
