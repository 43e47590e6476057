"""Failed logins hold back their source, never the owner; refusals tell nothing; limits live in the database.

Every test attacks from outside over HTTP, from addresses of its choosing
(the TCP peer of the test client), as a stranger who knows a public licence
number or a national number would.
"""

from __future__ import annotations

import email
import re
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from opendsp.accounts import services
from opendsp.accounts.mailer import MailFolder
from opendsp.accounts.models import Account, AccountState, Throttle
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.notifications.worker import OutboxWorker
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate, letter_for, login
from tests.factories import make_organisation, make_professional, make_record

STRANGER = "203.0.113.9"
OWNER = "198.51.100.20"


@pytest.fixture
def holder(platform: Platform, clock: FrozenClock) -> Credentials:
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    return activate(Browser(platform, address=OWNER), clock, person.national_number,
                    letter_for(platform, person).activation)


@pytest.fixture
def professional(platform: Platform, clock: FrozenClock) -> Credentials:
    """A professional: their licence number is public, so anyone can type it."""
    with platform.transaction() as session:
        pro = make_professional(session, platform, organisation=make_organisation(session, platform))
        account = services.account_of_professional(session=session, platform=platform, professional=pro)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence = pro.licence_number
    return activate(Browser(platform, address=OWNER), clock, licence, code, realm="/pro")


def guess(platform: Platform, identifier: str, times: int, *, address: str = STRANGER) -> list[int]:
    browser = Browser(platform, address=address)
    return [
        browser.submit("/login", {"identifier": identifier, "password": f"guess number {n} of many"},
                       form_page="/login").status_code
        for n in range(times)
    ]


def test_a_stranger_cannot_keep_a_professional_out(platform: Platform, clock: FrozenClock,
                                                   professional: Credentials) -> None:
    rounds = 4
    for _ in range(rounds):  # again and again, each time the wait is over
        statuses = guess(platform, professional.identifier, platform.settings.login_max_failures + 1)
        assert statuses[-1] == 429
        clock.advance(timedelta(minutes=1))
        # Meanwhile the owner, from their own place, logs in with password and authenticator code.
        assert login(Browser(platform, address=OWNER), clock, professional).status_code == 303
        clock.advance(timedelta(hours=1))


def test_the_stranger_waits_longer_each_time(platform: Platform, clock: FrozenClock, holder: Credentials) -> None:
    settings = platform.settings
    browser = Browser(platform, address=STRANGER)

    def attempt() -> int:
        return browser.submit("/login", {"identifier": holder.identifier, "password": "wrong again and again"},
                              form_page="/login").status_code

    for _ in range(settings.login_max_failures):
        assert attempt() == 400
    waits = []
    for _ in range(3):
        waited = 0
        while attempt() == 429:
            clock.advance(timedelta(seconds=30))
            waited += 30
        waits.append(waited)
    assert waits[0] < waits[1] < waits[2]


def test_guessing_from_everywhere_spares_a_browser_the_owner_used(
    platform: Platform, clock: FrozenClock, holder: Credentials
) -> None:
    settings = platform.settings
    known = Browser(platform, address=OWNER)
    assert login(known, clock, holder).status_code == 303
    per_source = settings.login_max_failures - 1  # each address stays under its own limit
    for n in range(settings.login_account_max_failures // per_source + 1):
        guess(platform, holder.identifier, per_source, address=f"192.0.2.{n + 1}")
    # A browser the account never logged in from waits, wherever it is (the owner's address included) ...
    assert guess(platform, holder.identifier, 1, address="192.0.2.250") == [429]
    assert guess(platform, holder.identifier, 1, address=OWNER) == [429]
    # ... but the owner's own browser still gets in, with the password and a fresh code (after logging out:
    # a logged-in person asking for the login page is sent home).
    known.get("/record")
    assert known.client.post("/logout", data={"csrf_token": known.csrf()}).status_code == 303
    assert login(known, clock, holder).status_code == 303


def test_the_owner_is_told_by_email_and_the_link_lifts_every_hold(
    platform: Platform, clock: FrozenClock, holder: Credentials, tmp_path: Path
) -> None:
    settings = platform.settings
    for n in range(settings.login_account_max_failures // (settings.login_max_failures - 1) + 1):
        guess(platform, holder.identifier, settings.login_max_failures - 1, address=f"192.0.2.{n + 1}")
    new_phone = Browser(platform, address="192.0.2.200")
    assert new_phone.submit("/login", {"identifier": holder.identifier, "password": holder.password},
                            form_page="/login").status_code == 429
    # One e-mail, however many failures, sent by the outbox's worker with a fresh link in it.
    folder = MailFolder(tmp_path / "mail")
    assert OutboxWorker(platform, folder).run(once=True).sent == 1
    (sent,) = list(folder.path.glob("*.eml"))
    message = email.message_from_bytes(sent.read_bytes())
    body = message.get_payload(decode=True).decode()
    assert message["To"] == "anne@example.lu" and holder.identifier not in body
    link = re.search(r"http://testserver(/unlock\?token=[A-Za-z0-9_-]+)", body)
    assert link
    # Opening the link changes nothing (mail scanners open links); its button does, once.
    assert new_phone.get(link.group(1)).status_code == 200
    assert new_phone.submit("/unlock", {"token": link.group(1).split("=", 1)[1]}).status_code == 200
    assert login(new_phone, clock, holder).status_code == 303
    with platform.sessions() as session:
        assert not session.scalars(select(Throttle).where(Throttle.key.like("login:a:%"),
                                                          Throttle.blocked_until > clock.now())).first()
        actions = [e.action for e in session.scalars(select(TraceEntry).where(TraceEntry.action == "account.unlock"))]
    assert actions == ["account.unlock"]
    again = Browser(platform, address="192.0.2.201")
    assert again.submit("/unlock", {"token": link.group(1).split("=", 1)[1]}, form_page="/unlock").status_code == 410


def test_the_owner_sees_failed_logins_on_the_account_page(
    platform: Platform, clock: FrozenClock, holder: Credentials
) -> None:
    guess(platform, holder.identifier, platform.settings.login_max_failures)
    browser = Browser(platform, address=OWNER)
    login(browser, clock, holder)
    page = browser.get("/account").text
    assert 'id="failed-logins"' in page and "5 times" in page


def test_the_helpdesk_lifts_the_holds(platform: Platform, clock: FrozenClock, holder: Credentials) -> None:
    guess(platform, holder.identifier, platform.settings.login_max_failures)
    with platform.transaction() as session:
        account = session.scalars(select(Account).where(Account.login == holder.identifier)).one()
        services.unlock(session=session, platform=platform, account=account, actor=SYSTEM)
    assert login(Browser(platform, address=STRANGER), clock, holder).status_code == 303


class CountingHasher:
    """Counts argon2 work done by the real hasher (each verify and hash runs as usual)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        verify, hash_ = PasswordHasher.verify, PasswordHasher.hash

        def counted_verify(hasher, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            return verify(hasher, *args, **kwargs)

        def counted_hash(hasher, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            return hash_(hasher, *args, **kwargs)

        monkeypatch.setattr(PasswordHasher, "verify", counted_verify)
        monkeypatch.setattr(PasswordHasher, "hash", counted_hash)


def test_every_login_refusal_reads_the_same_after_the_same_work(
    platform: Platform, clock: FrozenClock, holder: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    with platform.transaction() as session:
        inactive = make_record(session, platform, active=False).holder.national_number
        closed = make_record(session, platform, active=False).holder
        services.account_of_person(session=session, platform=platform, person=closed).state = AccountState.closed
        locked = make_record(session, platform, active=False).holder.national_number
    guess(platform, locked, platform.settings.login_max_failures, address="192.0.2.99")
    counter = CountingHasher(monkeypatch)
    answers = {}
    for case, identifier in [("unknown", "1980051799948"), ("not activated", inactive), ("closed", closed.national_number),
                             ("wrong password", holder.identifier), ("unknown licence", "LIC-NOBODY")]:
        counter.calls = 0
        browser = Browser(platform, address="192.0.2.77")
        response = browser.submit("/login", {"identifier": identifier, "password": "a wrong password here"},
                                  form_page="/login")
        error = re.search(r'id="form-error"><p>(.*?)</p>', browser.page)
        answers[case] = (response.status_code, error.group(1) if error else None, counter.calls)
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values())) == (400, "The identifier or the password is not correct.", 1)
    # A source held back answers alike for a real account and an unknown one.
    guess(platform, "1980051799948", platform.settings.login_max_failures, address="192.0.2.99")
    held = []
    for identifier in (locked, "1980051799948"):
        counter.calls = 0
        browser = Browser(platform, address="192.0.2.99")
        response = browser.submit("/login", {"identifier": identifier, "password": "whatever it is"}, form_page="/login")
        held.append((response.status_code, counter.calls))
    assert held[0] == held[1] == (429, 1)


def test_activation_does_not_tell_whether_a_number_is_active(
    platform: Platform, clock: FrozenClock, holder: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    with platform.transaction() as session:
        waiting = make_record(session, platform, active=False).holder
    letter_for(platform, waiting)
    counter = CountingHasher(monkeypatch)
    answers = {}
    for case, identifier in [("active", holder.identifier), ("not active", waiting.national_number),
                             ("unknown", "1980051799948")]:
        counter.calls = 0
        browser = Browser(platform, address="192.0.2.78")
        response = browser.submit("/activate", {"identifier": identifier, "code": "AAAA-BBBB-CCCC"}, form_page="/activate")
        error = re.search(r'id="form-error"><p>(.*?)</p>', browser.page)
        answers[case] = (response.status_code, error.group(1) if error else None, counter.calls)
    assert len(set(answers.values())) == 1, answers
    assert "already" not in str(answers)


def test_rate_limits_hold_across_processes(platform: Platform) -> None:
    """Two app instances (two processes' worth of memory) share one count: it lives in the database."""
    limit = platform.settings.rate_limit_attempts
    first, second = Browser(platform, address=STRANGER), Browser(platform, address=STRANGER)
    statuses = []
    for n in range(limit + 1):
        browser = first if n % 2 else second
        statuses.append(browser.submit("/login", {"identifier": f"LIC-{n}", "password": "x" * 12},
                                       form_page="/login").status_code)
    assert statuses[-1] == 429 and 429 not in statuses[:-1]
