"""Strong login over HTTP: brute force, replayed codes, lockout, recovery codes, sessions, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from opendsp.accounts import totp
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate, letter_for, login
from tests.factories import make_record


@pytest.fixture
def credentials(platform: Platform, clock: FrozenClock) -> Credentials:
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    letter = letter_for(platform, person)
    return activate(Browser(platform), clock, person.national_number, letter.activation)


def password_step(browser: Browser, credentials: Credentials, password: str | None = None):  # type: ignore[no-untyped-def]
    return browser.submit("/login", {"identifier": credentials.identifier, "password": password or credentials.password},
                          form_page="/login")


def test_wrong_passwords_hold_back_their_source_with_growing_waits(
    platform: Platform, clock: FrozenClock, credentials: Credentials
) -> None:
    browser = Browser(platform)
    for _ in range(platform.settings.login_max_failures):
        assert password_step(browser, credentials, "not the password at all").status_code == 400
    # Held back, even for the right password (no oracle), and told until when.
    response = password_step(browser, credentials)
    assert response.status_code == 429 and "wait until" in browser.page
    clock.advance(timedelta(minutes=platform.settings.login_wait_minutes, seconds=1))
    # One more failure after the wait: the wait doubles.
    assert password_step(browser, credentials, "still not the password").status_code == 400
    clock.advance(timedelta(minutes=platform.settings.login_wait_minutes, seconds=1))
    assert password_step(browser, credentials).status_code == 429
    clock.advance(timedelta(minutes=platform.settings.login_wait_minutes, seconds=1))
    assert password_step(browser, credentials).status_code == 303
    with platform.sessions() as session:
        reasons = [e.reason for e in session.scalars(select(TraceEntry).where(TraceEntry.action.like("account.%")))]
    assert reasons.count("wrong_password") == platform.settings.login_max_failures + 1
    assert "too_many_failures" in reasons and "held" in reasons


def test_an_unknown_identifier_gets_the_same_answer_as_a_wrong_password(platform: Platform) -> None:
    browser = Browser(platform)
    response = browser.submit("/login", {"identifier": "1980051799999", "password": "whatever it is"}, form_page="/login")
    assert response.status_code == 400
    unknown = browser.page
    assert "not correct" in unknown


def test_a_replayed_authenticator_code_is_refused(platform: Platform, clock: FrozenClock, credentials: Credentials) -> None:
    first = Browser(platform)
    assert login(first, clock, credentials).status_code == 303
    used = totp.code_at(credentials.secret, clock.now())
    thief = Browser(platform)
    assert password_step(thief, credentials).status_code == 303
    thief.get("/login/code")
    response = thief.submit("/login/code", {"code": used})
    assert response.status_code == 400
    with platform.sessions() as session:
        assert session.scalars(select(TraceEntry.reason).where(TraceEntry.reason == "replayed_totp")).first()


def test_wrong_authenticator_codes_hold_back_their_source(
    platform: Platform, clock: FrozenClock, credentials: Credentials
) -> None:
    browser = Browser(platform)
    assert password_step(browser, credentials).status_code == 303
    browser.get("/login/code")
    for _ in range(platform.settings.login_max_failures):
        assert browser.submit("/login/code", {"code": "000000"}).status_code == 400
    clock.advance(timedelta(seconds=30))
    response = Browser(platform).submit("/login", {"identifier": credentials.identifier, "password": credentials.password},
                                        form_page="/login")
    assert response.status_code == 429
    # The owner, elsewhere, is not held back.
    assert login(Browser(platform, address="192.0.2.80"), clock, credentials).status_code == 303


def test_a_recovery_code_works_once(platform: Platform, clock: FrozenClock, credentials: Credentials) -> None:
    browser = Browser(platform)
    password_step(browser, credentials)
    browser.get("/login/code")
    assert browser.submit("/login/code", {"code": credentials.recovery[0]}).status_code == 303
    again = Browser(platform)
    password_step(again, credentials)
    again.get("/login/code")
    assert again.submit("/login/code", {"code": credentials.recovery[0]}).status_code == 400


def test_a_form_without_its_csrf_token_is_refused(platform: Platform, credentials: Credentials) -> None:
    browser = Browser(platform)
    browser.get("/login")
    response = browser.client.post("/login", data={"identifier": credentials.identifier, "password": credentials.password})
    assert response.status_code == 403
    response = browser.client.post("/login", data={"identifier": credentials.identifier,
                                                   "password": credentials.password, "csrf_token": "forged"})
    assert response.status_code == 403


def test_every_form_of_the_portals_needs_a_csrf_token(platform: Platform) -> None:
    import re

    from opendsp.console.views import router as console
    from opendsp.web import holder, professional
    from opendsp.web import stepup, unlock
    from opendsp.web.auth_views import router as portal

    client = Browser(platform).client
    routers = [portal, console, stepup.router, unlock.router, *holder.routers(), *professional.routers()]
    posts = [route.path for r in routers for route in r.routes if "POST" in getattr(route, "methods", set())]
    assert len(posts) > 25
    # A streamed upload turns an anonymous caller away before reading the body; its token is checked once
    # logged in (tests/web/test_holder_documents.py).
    streamed = {"/record/upload"}
    for path in (p for p in posts if p not in streamed):
        concrete = re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", path)
        assert client.post(concrete, data={"x": "1"}).status_code == 403, path


def test_sessions_end_when_idle_and_after_the_absolute_limit(
    platform: Platform, clock: FrozenClock, credentials: Credentials
) -> None:
    browser = Browser(platform)
    login(browser, clock, credentials)
    clock.advance(timedelta(minutes=platform.settings.session_idle_minutes - 1))
    assert browser.get("/account").status_code == 200
    clock.advance(timedelta(minutes=platform.settings.session_idle_minutes))
    assert browser.get("/account").status_code == 303

    browser = Browser(platform)
    login(browser, clock, credentials)
    for _ in range(platform.settings.session_absolute_hours * 6):
        clock.advance(timedelta(minutes=10))
        if browser.get("/account").status_code != 200:
            break
    assert browser.get("/account").status_code == 303


def test_logout_everywhere_ends_every_session(platform: Platform, clock: FrozenClock, credentials: Credentials) -> None:
    phone, laptop = Browser(platform), Browser(platform)
    login(phone, clock, credentials)
    login(laptop, clock, credentials)
    laptop.get("/account")
    assert laptop.submit("/logout/everywhere").status_code == 303
    assert phone.get("/account").status_code == 303
    assert laptop.get("/account").status_code == 303


def test_session_cookies_are_httponly_samesite_and_secure_in_production(platform: Platform, clock: FrozenClock,
                                                                        credentials: Credentials) -> None:
    browser = Browser(platform)
    response = login(browser, clock, credentials)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "opendsp_session" in cookie
    from opendsp.settings import Mode, Settings

    assert Settings(mode=Mode.production).secure_cookies
    assert Settings(public_base_url="https://dsp.example.lu").secure_cookies


def test_too_many_secrets_from_one_client_are_slowed_down(platform: Platform) -> None:
    browser = Browser(platform)
    statuses = [
        browser.submit("/login", {"identifier": f"19800517{n:03d}00", "password": "x" * 12}, form_page="/login").status_code
        for n in range(platform.settings.rate_limit_attempts + 1)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:-1]


def test_key_rotation_reseals_authenticator_secrets(platform: Platform, clock: FrozenClock, credentials: Credentials) -> None:
    from opendsp.accounts import sealing
    from opendsp.accounts.models import Account

    keyring = platform.keys
    old = keyring.current_key_id
    keyring.add_key(platform.randomness)  # type: ignore[attr-defined]
    with platform.transaction() as session:
        assert sealing.rotate(session, platform) == 1
        assert sealing.rotate(session, platform) == 0
    keyring._keys.pop(old)  # type: ignore[attr-defined]  # the old master key is retired
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.totp_secret.is_not(None))).one()
        assert sealing.unseal(platform, account.id, account.totp_secret) == credentials.secret
    assert login(Browser(platform), clock, credentials).status_code == 303
