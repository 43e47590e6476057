"""Login and rate-limit counters are forgotten once idle for a day: the table does not grow with every guess.

A stranger who types made-up national numbers from many addresses leaves a
row per identifier and address; ``opendsp worker`` (hourly) and ``opendsp
accounts purge-throttles`` delete those idle for ``guard.MEMORY`` whose hold
has ended, and keep every counter still counting or still holding.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from opendsp.accounts import guard
from opendsp.accounts.models import Throttle
from opendsp.accounts.upkeep import ThrottlePurger, purge_throttles
from opendsp.cli import main
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import Browser

NOBODY = ["1980051799948", "1975010112345", "LIC-NOBODY"]


def keys(platform: Platform) -> set[str]:
    with platform.sessions() as session:
        return set(session.scalars(select(Throttle.key)))


def guess(platform: Platform, identifier: str, *, address: str) -> int:
    browser = Browser(platform, address=address)
    return browser.submit("/login", {"identifier": identifier, "password": "a guess of many"},
                          form_page="/login").status_code


def test_counters_of_identifiers_naming_nobody_are_purged_after_a_day(platform: Platform,
                                                                       clock: FrozenClock) -> None:
    for n, identifier in enumerate(NOBODY):
        assert guess(platform, identifier, address=f"203.0.113.{n + 1}") == 400
    guessed = keys(platform)
    assert len([key for key in guessed if key.startswith("login:u:")]) == 2 * len(NOBODY)  # per address and in total
    assert any(key.startswith("rate:") for key in guessed)

    clock.advance(timedelta(hours=23))
    assert purge_throttles(platform) == 0  # within the day: still counting
    assert guess(platform, NOBODY[0], address="203.0.113.1") == 400  # this one counts again from now

    clock.advance(timedelta(hours=2))
    purged = purge_throttles(platform)
    left = keys(platform)
    assert purged == len(guessed) - len(left) > 0
    part = guard.Subject.of(None, NOBODY[0]).part  # only the identifier guessed again, from where and in total
    assert {key for key in left if key.startswith("login:")} == {f"login:{part}:203.0.113.1", f"login:{part}:*"}


def test_a_hold_that_has_not_ended_is_kept_however_old_its_last_failure(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    now = clock.now()
    with platform.transaction() as session:
        session.add_all([
            Throttle(key="login:u:held:203.0.113.7", source="203.0.113.7", count=30, started_at=now - timedelta(days=3),
                     updated_at=now - timedelta(days=2), blocked_until=now + timedelta(minutes=5)),
            Throttle(key="login:u:ended:203.0.113.7", source="203.0.113.7", count=30,
                     started_at=now - timedelta(days=3), updated_at=now - timedelta(days=2),
                     blocked_until=now - timedelta(minutes=5)),
        ])
    assert purge_throttles(platform) == 1
    assert keys(platform) == {"login:u:held:203.0.113.7"}


def _old_and_fresh_rows(platform: Platform, now: datetime) -> None:
    with platform.transaction() as session:
        for name, idle in (("old", timedelta(days=2)), ("fresh", timedelta(minutes=1))):
            session.add(Throttle(key=f"login:u:{name}:192.0.2.1", source="192.0.2.1", count=1,
                                 started_at=now - idle, updated_at=now - idle))


def run(platform: Platform, *args: str):  # type: ignore[no-untyped-def]
    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir),
           "OPENDSP_PASSWORD_HASH_PROFILE": "fast"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_the_worker_purges_in_its_own_thread_until_stopped(platform: Platform, clock: FrozenClock) -> None:
    _old_and_fresh_rows(platform, clock.now())
    stop = threading.Event()
    thread = ThrottlePurger(platform, stop=stop, interval=timedelta(hours=1)).start()
    deadline = time.monotonic() + 30
    while keys(platform) != {"login:u:fresh:192.0.2.1"} and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the thread's first pass, not for an expiry
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive() and keys(platform) == {"login:u:fresh:192.0.2.1"}


def test_the_purge_command_and_the_worker_purge(platform: Platform) -> None:
    _old_and_fresh_rows(platform, datetime.now(UTC))  # the commands run on the real clock
    result = run(platform, "accounts", "purge-throttles")
    assert result.exit_code == 0 and "1 idle login counter(s) purged" in result.output, result.output
    assert keys(platform) == {"login:u:fresh:192.0.2.1"}

    with platform.transaction() as session:
        session.execute(Throttle.__table__.delete())
    _old_and_fresh_rows(platform, datetime.now(UTC))  # the commands run on the real clock
    result = run(platform, "worker", "--once")
    assert result.exit_code == 0 and "1 idle login counter(s) purged" in result.output, result.output
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Throttle)) == 1
