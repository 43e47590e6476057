"""Migration 0024 on a database that holds records: each person names their record, each document is in the
directory, and afterwards the database still keeps one record per person."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from opendsp.actors import SYSTEM
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.migrations import upgrade
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.records.services import RecordExists, create_record
from tests.factories import as_holder, holder_draft, make_person, make_record
from tests.operations.test_record_keys_migration import _platform
from tests.operations.stand_ins import stand_in_for_later_migrations
from tests.search.pdfs import pdf_with_text


def _as_of_0023(platform: Platform) -> Callable[[], None]:
    """The schema before the directories, today's models' later tables and columns standing in while the rows are
    written (tests/operations/stand_ins.py); returns what takes them away before migrating."""
    assert platform.engine is not None
    upgrade(platform.engine, "0023")
    return stand_in_for_later_migrations(platform.engine)


def test_persons_and_documents_are_filled_in_and_one_record_per_person_still_holds(
        tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    assert platform.engine is not None
    take_away = _as_of_0023(platform)
    with platform.transaction() as session:
        first, second = make_record(session, platform), make_record(session, platform)
        without = make_person(session, platform).id
        holder = as_holder(session, platform, first)
        old = holder.deposit(first.id, holder_draft(title="Analyses"), [pdf_with_text("analyses")])
        holder.replace(old.id, holder_draft(title="Analyses v2"), [pdf_with_text("analyses v2")])
        as_holder(session, platform, second).deposit(second.id, holder_draft(), [pdf_with_text("radio")])
        records = {first.person_id: first.id, second.person_id: second.id}
    take_away()
    upgrade(platform.engine)
    with platform.sessions() as session:
        named = dict(session.execute(select(Person.id, Person.record_id)).all())
        assert named == {**records, without: None}
        documents = dict(session.execute(select(Document.id, Document.record_id)).all())
        assert len(documents) == 3
        assert dict(session.execute(select(DocumentDirectory.document_id, DocumentDirectory.record_id)).all()) \
            == documents
    # The record's unique key on its holder is gone; the person's own keeps a second record out.
    with pytest.raises(RecordExists), platform.transaction() as session:
        person = session.get(Person, next(iter(records)))
        assert person is not None
        create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    with platform.transaction() as session:
        person = session.get(Person, without)
        assert person is not None
        create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    with platform.sessions() as session:
        assert len(session.scalars(select(Record)).all()) == 3
    platform.engine.dispose()
