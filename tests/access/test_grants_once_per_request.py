"""The grants are read once per request (``GrantsMemo`` in access/gate.py), and never served stale.

Within one session, a change of the holder's choices (a circle member added, a block, a savepoint rolled back)
is seen by the very next decision of every ``RecordAccess`` of that session, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, update

from opendsp.access.models import CircleMember
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Reason
from tests.factories import as_holder, as_professional, deposit_pdf, make_organisation, make_professional, make_record


@pytest.fixture
def world(platform: Platform) -> dict[str, Any]:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        gp = make_professional(session, platform, organisation=make_organisation(session, platform, name="Cabinet"),
                               family_name="Hoffmann")
    return {"record": record, "gp": gp}


def test_a_change_of_the_holders_choices_is_seen_by_the_next_decision_of_the_same_request(
        platform: Platform, world: dict[str, Any]) -> None:
    record, gp = world["record"], world["gp"]
    with platform.transaction() as session:
        professional = as_professional(session, platform, gp)  # one request's access, kept across the changes
        holder = as_holder(session, platform, record)
        with pytest.raises(AccessDenied):
            professional.list_documents(record.id)
        holder.add_to_circle(record.id, gp.id)
        assert professional.list_documents(record.id).total == 1
        holder.block(record.id, gp.id)
        with pytest.raises(AccessDenied) as refusal:
            professional.list_documents(record.id)
        assert refusal.value.decision.reason is Reason.blocked
        holder.unblock(record.id, gp.id)
        assert professional.list_documents(record.id).total == 1
        # A bulk write sent through the session, not through the unit of work, is seen too.
        session.execute(update(CircleMember).where(CircleMember.record_id == record.id)
                        .values(removed_at=platform.clock.now()))
        with pytest.raises(AccessDenied):
            professional.list_documents(record.id)


def test_a_rolled_back_grant_is_forgotten(platform: Platform, world: dict[str, Any]) -> None:
    record, gp = world["record"], world["gp"]
    with platform.transaction() as session:
        professional = as_professional(session, platform, gp)
        savepoint = session.begin_nested()
        as_holder(session, platform, record).add_to_circle(record.id, gp.id)
        assert professional.list_documents(record.id).total == 1
        savepoint.rollback()
        with pytest.raises(AccessDenied):
            professional.list_documents(record.id)


def test_the_grants_are_read_once_for_two_acts_of_one_request(platform: Platform, world: dict[str, Any]) -> None:
    record, gp = world["record"], world["gp"]
    with platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, gp.id)
    statements: list[str] = []
    assert platform.engine is not None
    listener = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731
    with platform.transaction() as session:
        professional = as_professional(session, platform, gp)
        event.listen(platform.engine, "before_cursor_execute", listener)
        try:
            first = professional.list_documents(record.id)
            second = professional.list_documents(record.id)
        finally:
            event.remove(platform.engine, "before_cursor_execute", listener)
    assert first.total == second.total == 1
    assert sum("FROM circle_members" in s for s in statements) == 1, statements
