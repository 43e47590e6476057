"""Finding a patient in the professional's portal is PDQm's per-person lookup, not a rule of its own.

Each person found has the lookup in their own record's trace; a record closed, not activated or blocking the
professional answers exactly as a national number nobody has; lookups count in the hourly limit shared with
the FHIR API. The rights matrix of this module allows 3 lookups an hour, so that the limit is reached quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.clock import FrozenClock
from opendsp.persons.national_number import make_national_number
from opendsp.platform import Platform
from opendsp.policy.matrix import DEFAULT_MATRIX
from opendsp.records.models import Record
from opendsp.settings import Settings
from opendsp.trace.models import Outcome, TraceEntry
from tests.factories import as_holder, make_record
from tests.web.indistinguishable import answer
from tests.web.professional import Pro, professional_with_account

LOOKUPS_PER_HOUR = 3
NOBODY = make_national_number(date(1931, 2, 3), 987).value


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    matrix = tmp_path / "rights.yaml"
    text = DEFAULT_MATRIX.read_text()
    assert "patient_lookups_per_hour: 60" in text
    matrix.write_text(text.replace("patient_lookups_per_hour: 60", f"patient_lookups_per_hour: {LOOKUPS_PER_HOUR}"))
    return Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
                    public_base_url="http://testserver", rights_matrix=matrix)


def _find(pro: Pro, number: str):  # type: ignore[no-untyped-def]
    return pro.browser.submit("/pro/find", {"national_number": number}, form_page="/pro/find")


def _searches(platform: Platform, record_id: object | None) -> list[TraceEntry]:
    with platform.sessions() as session:
        where = TraceEntry.record_id.is_(None) if record_id is None else TraceEntry.record_id == record_id
        return list(session.scalars(select(TraceEntry).where(TraceEntry.action == "patients.search", where)
                                    .order_by(TraceEntry.id)))


def _record(platform: Platform, *, active: bool = True) -> tuple[Record, str]:
    with platform.transaction() as session:
        record = make_record(session, platform, active=active)
        number = record.holder.national_number
        session.expunge(record)
    return record, number


def test_a_person_found_has_the_lookup_in_their_own_trace_without_their_number(platform: Platform,
                                                                               clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, number = _record(platform)
    found = _find(pro, number)
    assert found.status_code == 200 and f'href="/pro/patients/{record.id}"' in found.text
    (entry,) = _searches(platform, record.id)
    assert entry.outcome is Outcome.permitted and entry.actor_id == str(pro.id)
    assert entry.basis == "licensed_professional" and entry.context["criteria"] == {"national_number": []}
    assert number not in str(entry.context)
    (search,) = _searches(platform, None)
    assert search.context == {"criteria": ["national_number"], "found": [str(record.person_id)],
                              "organisation": search.context["organisation"]}


def _block(session: Session, platform: Platform, record: Record, pro: Pro) -> None:
    holder = as_holder(session, platform, record)
    holder.add_to_circle(record.id, pro.id)  # a block wins over the circle
    holder.block(record.id, pro.id)


def _close(session: Session, platform: Platform, record: Record, pro: Pro) -> None:
    holder = as_holder(session, platform, record)
    holder.add_to_circle(record.id, pro.id)
    holder.close(record.id)


HIDDEN: list[tuple[str, Callable[[Session, Platform, Record, Pro], None]]] = [
    ("blocked (though in the circle)", _block),
    ("closed record (though in the circle)", _close),
]


@pytest.mark.parametrize("setting", [s for _, s in HIDDEN], ids=[n for n, _ in HIDDEN])
def test_a_record_the_professional_may_not_reach_answers_as_a_number_nobody_has(
        platform: Platform, clock: FrozenClock, setting: Callable[[Session, Platform, Record, Pro], None]) -> None:
    """Regression: /pro/find answered any person with a record, blocked or closed, with a link to it."""
    pro = professional_with_account(platform, clock)
    record, number = _record(platform)
    with platform.transaction() as session:
        setting(session, platform, session.merge(record), pro)
    hidden, unknown = _find(pro, number), _find(pro, NOBODY)
    assert hidden.status_code == 200 and 'id="not-found"' in hidden.text
    assert answer(hidden) == answer(unknown)
    (refusal,) = _searches(platform, record.id)  # the holder sees that they were looked up, and refused
    assert refusal.outcome is Outcome.refused and refusal.actor_id == str(pro.id)
    assert [s.context["found"] for s in _searches(platform, None)] == [[], []]


def test_a_record_not_activated_is_not_found_either(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, number = _record(platform, active=False)
    assert answer(_find(pro, number)) == answer(_find(pro, NOBODY))
    (refusal,) = _searches(platform, record.id)
    assert refusal.outcome is Outcome.refused and refusal.reason == "record_not_active"


def test_lookups_count_in_the_hourly_limit_shared_with_pdqm(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, number = _record(platform)
    for _ in range(LOOKUPS_PER_HOUR):
        assert _find(pro, NOBODY).status_code == 200
    refused = _find(pro, number)
    assert refused.status_code == 429 and "Too many patient lookups: try again later." in refused.text
    assert f'href="/pro/patients/{record.id}"' not in refused.text
    assert _searches(platform, record.id) == []  # nobody was looked up
    assert _searches(platform, None)[-1].outcome is Outcome.refused



def test_the_professional_s_own_list_of_patients_is_not_a_lookup(platform: Platform, clock: FrozenClock) -> None:
    """Regression: each view of "My patients" (the portal's home page) counted as a patient lookup, so that a
    professional who came back to it a few times an hour could look nobody up any more."""
    pro = professional_with_account(platform, clock)
    record, number = _record(platform)
    for _ in range(LOOKUPS_PER_HOUR + 1):
        assert pro.browser.get("/pro").status_code == 200
    found = _find(pro, number)
    assert found.status_code == 200 and f'href="/pro/patients/{record.id}"' in found.text
    # Still traced, every one of them, on the platform's chain.
    assert [e.context["criteria"] for e in _searches(platform, None)][:LOOKUPS_PER_HOUR + 1] == [
        ["my_patients"]] * (LOOKUPS_PER_HOUR + 1)
