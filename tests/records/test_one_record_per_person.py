"""One record per person, kept by the person's own row (``persons.record_id``), not by a key over all records.

docs/adr/0043-directories.md: ``create_record`` names the record on the person with an UPDATE that changes the
row only where it names no record yet; a second record is refused before anything is written, also when two
transactions race for the same person. A lookup by person trusts the record's row: a person whose column names a
record that is not theirs has no record.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from opendsp.actors import SYSTEM
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordStateChange
from opendsp.records.services import RecordExists, create_record, record_of
from opendsp.trace.models import TraceChainHead, TraceEntry
from tests.factories import make_person, make_record


def _counts(platform: Platform) -> dict[str, int]:
    with platform.sessions() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Record, RecordStateChange, TraceEntry, TraceChainHead)}


def test_a_second_record_for_a_person_is_refused_and_writes_nothing(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        person_id, record_id = record.person_id, record.id
    before = _counts(platform)
    with pytest.raises(RecordExists), platform.transaction() as session:
        person = session.get(Person, person_id)
        assert person is not None
        create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    assert _counts(platform) == before
    with platform.sessions() as session:
        person = session.get(Person, person_id)
        assert person is not None and person.record_id == record_id
        found = record_of(session, person_id)
        assert found is not None and found.id == record_id


def test_a_person_object_that_missed_the_record_is_refused_too(platform: Platform) -> None:
    """The refusal is the database's answer, not the object's: a person loaded before another transaction created
    their record (its ``record_id`` still None in memory) is refused all the same."""
    with platform.transaction() as session:
        person_id = make_person(session, platform).id
    with platform.sessions() as session:
        stale = session.get(Person, person_id)
        assert stale is not None and stale.record_id is None
        session.expunge(stale)
    with platform.transaction() as session:
        person = session.get(Person, person_id)
        assert person is not None
        create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    before = _counts(platform)
    with pytest.raises(RecordExists), platform.transaction() as session:
        person = session.merge(stale, load=False)
        assert person.record_id is None
        create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    assert _counts(platform) == before


def test_on_postgresql_two_transactions_racing_for_one_person_make_one_record(platform: Platform) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the second transaction starts after the first has committed")
    with platform.transaction() as session:
        person_id = make_person(session, platform).id
    before = _counts(platform)
    outcome: list[Any] = []
    first = platform.sessions()
    person = first.get(Person, person_id)
    assert person is not None
    created = create_record(session=first, platform=platform, person=person, actor=SYSTEM)  # not committed

    def second() -> None:
        try:
            with platform.transaction() as session:
                other = session.get(Person, person_id)
                assert other is not None and other.record_id is None  # the first has not committed
                create_record(session=session, platform=platform, person=other, actor=SYSTEM)
            outcome.append("created")
        except RecordExists as refused:
            outcome.append(refused)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=2)
    assert thread.is_alive(), "the second transaction waits for the first's row"
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], RecordExists)
    after = _counts(platform)
    assert after["records"] == before["records"] + 1
    with platform.sessions() as session:
        assert session.scalars(select(Record.id).where(Record.person_id == person_id)).all() == [created.id]


def test_a_person_naming_a_record_that_is_not_theirs_has_no_record(platform: Platform) -> None:
    with platform.transaction() as session:
        mine, theirs = make_record(session, platform), make_record(session, platform)
        ids = mine.person_id, theirs.person_id, theirs.id
    me, them, their_record = ids
    with platform.transaction() as session:
        # The columns rewritten by hand: the record's own row (who its holder is) wins.
        session.execute(update(Person).where(Person.id == them).values(record_id=uuid.uuid4()))
        session.execute(update(Person).where(Person.id == me).values(record_id=their_record))
    with platform.sessions() as session:
        assert record_of(session, me) is None  # a record whose holder is another person
        assert record_of(session, them) is None  # a record that does not exist
        assert record_of(session, uuid.uuid4()) is None  # a person who does not exist


def test_a_person_without_a_record_gets_one_and_then_names_it(platform: Platform) -> None:
    with platform.transaction() as session:
        person = make_person(session, platform)
        assert record_of(session, person.id) is None
        record = create_record(session=session, platform=platform, person=person, actor=SYSTEM)
        assert person.record_id == record.id
        found = record_of(session, person.id)
        assert found is record
