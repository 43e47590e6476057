"""Migration 0021 on a database that holds records: nothing lost, links kept, and a link between two records
refused before anything changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.documents.models import Document
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.search.models import SearchTerm
from opendsp.settings import Settings
from tests.factories import (
    as_holder,
    as_professional,
    holder_draft,
    make_professional,
    make_record,
    professional_draft,
    run_jobs,
)
from tests.operations.stand_ins import stand_in_for_later_migrations
from tests.search.pdfs import pdf_with_text

TABLES = ("documents", "search_terms", "record_state_changes", "trace_entries")


def _platform(tmp_path: Path, database_url: str) -> Platform:
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast")
    return Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(3))


def _two_records_with_versions(platform: Platform) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    with platform.transaction() as session:
        first, second = make_record(session, platform), make_record(session, platform)
        doctor = make_professional(session, platform)
        as_holder(session, platform, first).add_to_circle(first.id, doctor.id)
        access = as_professional(session, platform, doctor)
        old = access.deposit(first.id, professional_draft(title="Lettre"), [pdf_with_text("lettre")])
        access.replace(old.id, professional_draft(title="Lettre corrigée"), [pdf_with_text("lettre corrigée")])
        as_holder(session, platform, second).deposit(second.id, holder_draft(), [pdf_with_text("analyses")])
        ids = first.id, second.id, old.id
    run_jobs(platform)  # their keyword indexing, as the worker does it
    return ids


def _counts(platform: Platform) -> dict[str, int]:
    assert platform.engine is not None
    with platform.engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def _as_of_0020(platform: Platform) -> Callable[[], None]:
    """The schema before the record keys, today's models' later tables and columns standing in while the rows are
    written (tests/operations/stand_ins.py); returns what takes them away before migrating."""
    assert platform.engine is not None
    upgrade(platform.engine, "0020")
    return stand_in_for_later_migrations(platform.engine)


def test_records_migrate_whole_and_their_links_then_stay_inside_them(tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    assert platform.engine is not None
    take_away = _as_of_0020(platform)
    first, second, old_id = _two_records_with_versions(platform)
    before = _counts(platform)
    assert before["documents"] == 3 and before["search_terms"] > 0
    take_away()
    upgrade(platform.engine)
    assert _counts(platform) == before
    with platform.sessions() as session:
        newer = session.scalars(select(Document).where(Document.replaces_id == old_id)).one()
        assert newer.record_id == first and newer.replaces is not None and newer.replaces.id == old_id
        # The database itself now refuses a row of one record that points at another record's document.
        term = session.scalars(select(SearchTerm).where(SearchTerm.record_id == first)).first()
        assert term is not None
        session.add(SearchTerm(record_id=second, document_id=term.document_id, master_key_id=term.master_key_id,
                               token="x" * 64, weight=1))
        with pytest.raises(IntegrityError):
            session.flush()
    platform.engine.dispose()


def test_a_database_with_a_link_between_two_records_is_refused_unchanged(tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    assert platform.engine is not None
    take_away = _as_of_0020(platform)
    first, second, _old = _two_records_with_versions(platform)
    with platform.transaction() as session:  # written before 0021, when nothing stopped it
        document_id = session.scalars(select(Document.id).where(Document.record_id == first)).first()
        session.add(SearchTerm(record_id=second, document_id=document_id, master_key_id="k", token="y" * 64,
                               weight=1))
    take_away()
    with pytest.raises(RuntimeError, match=r"search_terms.document_id: 1"):
        upgrade(platform.engine)
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0020"
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SearchTerm).where(SearchTerm.record_id == second)) > 0
    platform.engine.dispose()
