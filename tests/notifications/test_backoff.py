"""The retry schedule of the outbox, as a table (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opendsp.notifications.worker import RetrySchedule
from opendsp.settings import Settings

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
DEFAULT = RetrySchedule(first=MINUTE, ceiling=6 * HOUR, max_attempts=12)
NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, MINUTE), (2, 2 * MINUTE), (3, 4 * MINUTE), (4, 8 * MINUTE), (5, 16 * MINUTE), (6, 32 * MINUTE),
     (7, 64 * MINUTE), (8, 128 * MINUTE), (9, 256 * MINUTE), (10, 6 * HOUR), (11, 6 * HOUR), (500, 6 * HOUR)],
)
def test_the_wait_doubles_after_each_failure_up_to_the_ceiling(attempts: int, wait: timedelta) -> None:
    assert DEFAULT.delay(attempts) == wait


def test_the_last_attempt_gives_up_and_no_attempt_has_no_wait() -> None:
    assert DEFAULT.next_attempt(11, NOW) == NOW + 6 * HOUR
    assert DEFAULT.next_attempt(12, NOW) is None and DEFAULT.next_attempt(13, NOW) is None
    assert RetrySchedule(first=MINUTE, ceiling=HOUR, max_attempts=1).next_attempt(1, NOW) is None
    with pytest.raises(ValueError):
        DEFAULT.delay(0)


def test_twelve_attempts_span_about_a_day_by_default() -> None:
    schedule = RetrySchedule.from_settings(Settings(database_url="sqlite://"))
    assert schedule == DEFAULT
    span = sum((schedule.delay(n) for n in range(1, schedule.max_attempts)), timedelta())
    assert timedelta(hours=20) < span < timedelta(hours=21)


def test_the_schedule_comes_from_the_settings() -> None:
    settings = Settings(database_url="sqlite://", outbox_retry_seconds=5, outbox_retry_max_seconds=30,
                        outbox_max_attempts=3)
    schedule = RetrySchedule.from_settings(settings)
    assert [schedule.delay(n) for n in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (5, 10, 20, 30)]
    assert schedule.next_attempt(2, NOW) == NOW + timedelta(seconds=10) and schedule.next_attempt(3, NOW) is None
    with pytest.raises(ValueError):
        Settings(database_url="sqlite://", outbox_max_attempts=0)
