"""Sensitive acts need a recent login: a session left open (or stolen) does them only after a step-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from opendsp.accounts import totp
from opendsp.clock import FrozenClock
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser
from tests.factories import make_record
from tests.web.holder_world import logged_in

SENSITIVE = [
    ("/record/passwords", "/record/passwords/presence-code", {}),
    ("/record/state", "/record/state/close", {"reason": ""}),
    ("/record/state", "/record/state/close/confirm", {"confirm": "yes", "reason": ""}),
    ("/record/export", "/record/export", {}),
    ("/record/assistants", "/record/assistants", {"national_number": "ASSISTANT", "until": ""}),
    ("/record/assistants", "/record/assistants/invite", {"email": "paul@example.lu", "until": ""}),
]
IDS = ["new presence code", "close the record", "close: confirmed", "download everything", "name an assistant",
       "invite an assistant"]


def trace_count(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(TraceEntry)) or 0


@pytest.fixture
def people(platform: Platform) -> tuple[Person, Person]:
    with platform.transaction() as session:
        return make_record(session, platform, active=False).holder, make_record(session, platform).holder


def fill(data: dict[str, str], assistant: Person) -> dict[str, str]:
    return {k: (assistant.national_number if v == "ASSISTANT" else v) for k, v in data.items()}


@pytest.mark.parametrize(("page", "path", "data"), SENSITIVE, ids=IDS)
def test_an_old_login_is_sent_to_the_step_up_and_nothing_is_done(
    platform: Platform, clock: FrozenClock, people: tuple[Person, Person], page: str, path: str, data: dict[str, str]
) -> None:
    holder, assistant = people
    browser = logged_in(platform, clock, holder)
    clock.advance(timedelta(minutes=platform.settings.stepup_minutes + 1))
    browser.get(page)
    before = trace_count(platform)
    response = browser.submit(path, fill(data, assistant))
    assert response.status_code == 303 and response.headers["location"] == f"/stepup?next={page}"
    assert trace_count(platform) == before  # not decided, not done
    # The owner proves it again with a fresh authenticator code, comes back and sends the form again.
    clock.advance(timedelta(seconds=30))
    browser.get(response.headers["location"])
    code = totp.code_at(browser.credentials.secret, clock.now())  # type: ignore[attr-defined]
    answer = browser.submit("/stepup", {"next": page, "code": code, "password": ""})
    assert answer.status_code == 303 and answer.headers["location"] == page
    browser.get(page)
    done = browser.submit(path, fill(data, assistant))
    assert not done.headers.get("location", "").startswith("/stepup")
    # Done (an invitation is queued in the outbox like every other e-mail; tests/accounts/test_invitations.py).
    assert done.status_code in (200, 303)
    with platform.sessions() as session:
        assert session.scalars(select(TraceEntry).where(TraceEntry.action == "account.stepup")).first()


def test_a_recent_login_needs_no_step_up_and_the_password_also_works(
    platform: Platform, clock: FrozenClock, people: tuple[Person, Person]
) -> None:
    holder, _ = people
    browser = logged_in(platform, clock, holder)
    browser.get("/record/passwords")
    assert browser.submit("/record/passwords/presence-code").status_code == 200
    clock.advance(timedelta(minutes=platform.settings.stepup_minutes + 1))
    browser.get("/record/state")
    assert browser.submit("/record/state/close", {"reason": ""}).status_code == 303
    browser.get("/stepup?next=/record/state")
    assert browser.submit("/stepup", {"next": "/record/state", "code": "",
                                      "password": browser.credentials.password}).status_code == 303  # type: ignore[attr-defined]
    browser.get("/record/state")
    browser.submit("/record/state/close/confirm", {"confirm": "yes", "reason": ""})
    with platform.sessions() as session:
        assert session.scalars(select(Record.state).where(Record.person_id == holder.id)).one() is RecordState.closed


def test_wrong_answers_at_the_step_up_count_as_failed_logins(
    platform: Platform, clock: FrozenClock, people: tuple[Person, Person]
) -> None:
    holder, _ = people
    browser = logged_in(platform, clock, holder)
    clock.advance(timedelta(minutes=platform.settings.stepup_minutes + 1))
    browser.get("/stepup?next=/record/export")
    statuses = [browser.submit("/stepup", {"next": "/record/export", "code": "", "password": f"guess {n} ..."}).status_code
                for n in range(platform.settings.login_max_failures + 1)]
    assert statuses == [400] * platform.settings.login_max_failures + [429]
    # The step-up page goes back to a page of this site only.
    assert Browser(platform).get("/stepup?next=//evil.example").status_code == 303  # not logged in: to the login


def test_the_window_is_a_setting() -> None:
    from opendsp.settings import Settings

    assert Settings().stepup_minutes == 10 and Settings(stepup_minutes=3).stepup_minutes == 3
