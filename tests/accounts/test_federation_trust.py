"""How far a federated login is trusted: the level and methods the provider reports, and the subject linked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from opendsp.accounts.models import Account
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.settings import Mode, Settings, InsecureSettings
from opendsp.trace.models import TraceEntry
from tests.accounts.oidc import (  # noqa: F401
    ACR_HIGH,
    ACR_LOW,
    ACR_SUBSTANTIAL,
    CLAIM,
    CLIENT_ID,
    CLIENT_SECRET,
    OidcTestProvider,
    oidc_provider,
)
from tests.accounts.portal import Browser
from tests.accounts.test_federation import authenticate_at_provider, callback, holder, refused


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, oidc_provider: OidcTestProvider) -> Settings:  # noqa: F811
    return Settings(
        var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
        public_base_url="http://testserver", oidc_issuer=oidc_provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, oidc_national_number_claim=CLAIM,
        oidc_acr_values=f"{ACR_HIGH} {ACR_SUBSTANTIAL}", oidc_amr_values="smartcard otp",
    )


def log_in(platform: Platform, national_number: str, **at_provider: str):  # type: ignore[no-untyped-def]
    browser = Browser(platform)
    return browser, callback(browser, authenticate_at_provider(browser, national_number, **at_provider))


def activated(platform: Platform, national_number: str, **at_provider: str) -> None:
    browser, response = log_in(platform, national_number, **at_provider)
    assert response.headers["location"] == "/activate/federated"
    assert browser.submit("/activate/federated", {"email": "anne@example.lu"},
                          form_page="/activate/federated").headers["location"] == "/record"


@pytest.mark.parametrize(
    ("at_provider", "reason"),
    [({"acr": ACR_LOW, "amr": "otp"}, "acr_not_accepted"), ({"amr": "otp"}, "acr_not_accepted"),
     ({"acr": ACR_HIGH, "amr": "pwd"}, "amr_not_accepted"), ({"acr": ACR_HIGH}, "amr_not_accepted")],
    ids=["level too low", "no level", "method not accepted", "no method"],
)
def test_a_login_weaker_than_required_is_refused(platform: Platform, at_provider: dict[str, str], reason: str) -> None:
    _, person = holder(platform)
    browser, response = log_in(platform, person.national_number, **at_provider)
    assert refused(platform, browser, response) == f"federation:{reason}"


def test_the_required_level_is_asked_for_and_a_strong_login_passes(platform: Platform) -> None:
    _, person = holder(platform)
    browser = Browser(platform)
    start = browser.get("/login/federated").headers["location"]
    assert "acr_values=" in start
    activated(platform, person.national_number, acr=ACR_SUBSTANTIAL, amr="smartcard")
    _, response = log_in(platform, person.national_number, acr=ACR_HIGH, amr="otp,smartcard")
    assert response.status_code == 303 and response.headers["location"] == "/record"


def test_the_first_link_is_kept_and_another_subject_is_refused_and_traced(platform: Platform) -> None:
    record, person = holder(platform)
    activated(platform, person.national_number, acr=ACR_HIGH, amr="otp")
    with platform.sessions() as session:
        linked = session.scalars(select(Account.federated_subject).where(Account.person_id == person.id)).one()
    assert linked and linked.endswith(f" {person.national_number}")  # "issuer sub": the provider's own account
    # Another account at the provider carries the same national number: refused, the link unchanged.
    browser, response = log_in(platform, person.national_number, acr=ACR_HIGH, amr="otp", variant="copy")
    assert response.status_code == 403 and browser.get("/account").status_code == 303
    with platform.sessions() as session:
        assert session.scalars(select(Account.federated_subject).where(Account.person_id == person.id)).one() == linked
        entry = session.scalars(select(TraceEntry).where(TraceEntry.reason == "federation:subject_mismatch")).one()
    assert entry.chain == str(record.id)  # on the holder's own trace: they see the attempt
    _, response = log_in(platform, person.national_number, acr=ACR_HIGH, amr="otp")
    assert response.headers["location"] == "/record"


def test_production_refuses_federation_that_accepts_any_level() -> None:
    settings = Settings(mode=Mode.production, database_url="postgresql://db/x", oidc_issuer="https://idp.example")
    with pytest.raises(InsecureSettings, match="OPENDSP_OIDC_ACR_VALUES"):
        settings.check_production()


def test_a_recent_federated_login_serves_as_step_up(platform: Platform, clock: FrozenClock) -> None:
    from datetime import timedelta

    _, person = holder(platform)
    activated(platform, person.national_number, acr=ACR_HIGH, amr="otp")
    browser, response = log_in(platform, person.national_number, acr=ACR_HIGH, amr="otp")
    assert response.headers["location"] == "/record"
    browser.get("/record/passwords")
    assert browser.submit("/record/passwords/presence-code").status_code == 200  # the login is recent
    clock.advance(timedelta(minutes=platform.settings.stepup_minutes + 1))
    browser.get("/record/passwords")
    response = browser.submit("/record/passwords/presence-code")
    assert response.headers["location"] == "/stepup?next=/record/passwords"
    # No password, no authenticator here: the step-up page offers the State's portal, and comes back.
    page = browser.get(response.headers["location"]).text
    assert 'href="/login/federated?next=/record/passwords"' in page and 'name="password"' not in page
    browser.get("/login/federated?next=/record/passwords")  # remembered for the end of the login
    back = callback(browser, authenticate_at_provider(browser, person.national_number, acr=ACR_HIGH, amr="otp"))
    assert back.headers["location"] == "/record/passwords"
    browser.get("/record/passwords")
    assert browser.submit("/record/passwords/presence-code").status_code == 200
