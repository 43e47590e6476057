"""One authenticator code opens one login, even when two logins present it at the same moment (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from opendsp.accounts import services, totp
from opendsp.accounts.models import Account
from opendsp.accounts.services import AccountRefused, Client
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, letter_for
from tests.factories import make_record


def test_two_concurrent_logins_with_one_code_cannot_both_pass(
    platform: Platform, clock: FrozenClock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE): two logins cannot overlap there")
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    credentials = activate(Browser(platform), clock, person.national_number, letter_for(platform, person).activation)
    with platform.sessions() as session:
        account_id = session.scalars(select(Account.id).where(Account.login == credentials.identifier)).one()
    clock.advance(timedelta(seconds=30))
    code = totp.code_at(credentials.secret, clock.now())

    first_checked, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def log_in(name: str, hold: bool) -> None:
        try:
            with platform.transaction() as session:
                outcomes[name] = services.check_second_factor(
                    session=session, platform=platform, account_id=account_id, code=code, client=Client(ip=name))
                if hold:  # the first login has claimed the step but not committed yet
                    first_checked.set()
                    assert release_first.wait(20)
        except AccountRefused as refusal:
            outcomes[name] = refusal.code
        finally:
            first_checked.set()

    first = threading.Thread(target=log_in, args=("192.0.2.1", True))
    first.start()
    assert first_checked.wait(20)
    second = threading.Thread(target=log_in, args=("192.0.2.2", False))
    second.start()
    # The second login's UPDATE now waits for the first transaction's row lock: let the first one commit.
    _wait_for_a_lock_wait(platform)
    release_first.set()
    first.join(20)
    second.join(20)

    assert sorted(outcomes.values()) == ["password+totp", "wrong_second_factor"], outcomes
    with platform.sessions() as session:
        assert session.scalars(select(TraceEntry).where(TraceEntry.reason == "replayed_totp")).first()


def _wait_for_a_lock_wait(platform: Platform) -> None:
    assert platform.engine is not None
    deadline = time.monotonic() + 20
    with platform.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND query ILIKE 'UPDATE accounts%'"
            )).scalar_one()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second login never waited for the first one's lock")
