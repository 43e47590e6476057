"""Activation letters and activation on the portal, end to end over HTTP, abuse included."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from opendsp.accounts.models import Account, AccountState
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import PASSWORD, Browser, activate, letter_for, login, totp_secret
from tests.factories import make_record


def new_holder(platform: Platform):  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        person = record.holder
    return record, person


def test_a_letter_activates_the_account_and_the_record_once(platform: Platform, clock: FrozenClock) -> None:
    record, person = new_holder(platform)
    letter = letter_for(platform, person)
    assert letter.national_number == person.national_number
    browser = Browser(platform)

    credentials = activate(browser, clock, person.national_number, letter.activation)

    assert len(credentials.recovery) == 10
    assert browser.get("/account").status_code == 200
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.person_id == person.id)).one()
        assert account.state is AccountState.active
        assert session.get(Record, record.id).state is RecordState.active
        actions = [e.action for e in session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record.id)))]
    assert "account.activation.code_accepted" in actions and "account.activate" in actions and "record.activate" in actions

    # The code works once.
    other = Browser(platform)
    response = other.submit("/activate", {"identifier": person.national_number, "code": letter.activation},
                            form_page="/activate")
    assert response.status_code == 400 and "already" in other.page


def test_login_needs_password_and_a_fresh_authenticator_code(platform: Platform, clock: FrozenClock) -> None:
    _, person = new_holder(platform)
    letter = letter_for(platform, person)
    credentials = activate(Browser(platform), clock, person.national_number, letter.activation)
    browser = Browser(platform)
    response = login(browser, clock, credentials)
    assert response.status_code == 303 and response.headers["location"] == "/record"
    assert "Anne" in browser.get("/account").text


def test_an_expired_code_is_refused(platform: Platform, clock: FrozenClock) -> None:
    _, person = new_holder(platform)
    letter = letter_for(platform, person)
    clock.advance(timedelta(days=platform.settings.activation_code_days, seconds=1))
    browser = Browser(platform)
    response = browser.submit("/activate", {"identifier": person.national_number, "code": letter.activation},
                              form_page="/activate")
    assert response.status_code == 400 and "expired" in browser.page


def test_the_older_11_digit_number_is_accepted(platform: Platform, clock: FrozenClock) -> None:
    _, person = new_holder(platform)
    letter = letter_for(platform, person)
    browser = Browser(platform)
    response = browser.submit("/activate", {"identifier": person.national_number[:11], "code": letter.activation.lower()},
                              form_page="/activate")
    assert response.status_code == 303


def test_wrong_activation_codes_hold_back_their_source_not_the_holder(platform: Platform) -> None:
    record, person = new_holder(platform)
    letter = letter_for(platform, person)
    stranger = Browser(platform, address="203.0.113.9")
    for _ in range(platform.settings.login_max_failures):
        response = stranger.submit("/activate", {"identifier": person.national_number, "code": "AAAA-BBBB-CCCC"},
                                   form_page="/activate")
        assert response.status_code == 400
    # The stranger now waits, even with the right code (no oracle) ...
    response = stranger.submit("/activate", {"identifier": person.national_number, "code": letter.activation},
                               form_page="/activate")
    assert response.status_code == 429 and "wait until" in stranger.page
    # ... but the code is not blocked: the holder, at home, activates with their letter.
    holder = Browser(platform, address="198.51.100.20")
    response = holder.submit("/activate", {"identifier": person.national_number, "code": letter.activation},
                             form_page="/activate")
    assert response.status_code == 303
    with platform.sessions() as session:
        reasons = [e.reason for e in session.scalars(select(TraceEntry).where(
            TraceEntry.chain == str(record.id), TraceEntry.action.like("account.%")))]
    # Each wrong code was traced although its request rolled back.
    assert reasons.count("wrong_code") == platform.settings.login_max_failures
    assert "too_many_failures" in reasons and "held" in reasons


def test_a_new_letter_replaces_the_old_codes(platform: Platform) -> None:
    _, person = new_holder(platform)
    old = letter_for(platform, person)
    new = letter_for(platform, person)
    browser = Browser(platform)
    response = browser.submit("/activate", {"identifier": person.national_number, "code": old.activation},
                              form_page="/activate")
    assert response.status_code == 400
    response = browser.submit("/activate", {"identifier": person.national_number, "code": new.activation},
                              form_page="/activate")
    assert response.status_code == 303


def test_a_weak_password_is_refused_and_nothing_is_spent(platform: Platform, clock: FrozenClock) -> None:
    from opendsp.accounts import totp

    _, person = new_holder(platform)
    letter = letter_for(platform, person)
    browser = Browser(platform)
    response = browser.submit("/activate", {"identifier": person.national_number, "code": letter.activation},
                              form_page="/activate")
    browser.get(response.headers["location"])
    secret = totp_secret(browser.page)
    for weak in ("password123456", f"Schmit{person.national_number}", "short"):
        response = browser.submit("/activate/account", {"email": "a@example.lu", "password": weak, "confirmation": weak,
                                                        "code": totp.code_at(secret, clock.now())})
        assert response.status_code == 400
    response = browser.submit("/activate/account", {"email": "a@example.lu", "password": PASSWORD,
                                                    "confirmation": PASSWORD, "code": totp.code_at(secret, clock.now())})
    assert response.status_code == 200 and "recovery" in browser.page.lower()


def test_the_letter_is_in_the_person_s_language(platform: Platform) -> None:
    from opendsp.persons.models import Language, Person

    _, person = new_holder(platform)
    with platform.transaction() as session:
        session.get(Person, person.id).preferred_language = Language.de
    letter = letter_for(platform, person)
    assert "Aktivierungscode" in letter.text
