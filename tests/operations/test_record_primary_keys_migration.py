"""Migration 0023 on a database that holds records: nothing lost, the triggers kept, the new keys held by the
database itself, the service working on them, and back down to 0022 and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from opendsp.documents.models import Document
from opendsp.migrations import alembic_config, upgrade
from opendsp.records.models import Record
from opendsp.search.models import SearchTerm
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder, holder_draft, make_professional, run_jobs
from tests.operations.test_record_keys_migration import _platform, _two_records_with_versions
from tests.operations.stand_ins import stand_in_for_later_migrations
from tests.operations.test_counters_migration_0026 import DROPPED
from tests.search.pdfs import pdf_with_text

TABLES = ("documents", "search_terms", "circle_members", "notifications", "trace_entries", "jobs", "outbox_messages")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def _triggers(engine: Engine) -> list[str]:
    """The triggers 0022 made (SQLite drops a table's triggers with the table a rebuild replaces)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        else:
            query = ("SELECT tgname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid WHERE NOT tgisinternal "
                     "AND relnamespace = to_regnamespace(current_schema())::oid ORDER BY tgname")
        return list(connection.exec_driver_sql(query).scalars())


def _primary_key(engine: Engine, table: str) -> tuple[str, ...]:
    return tuple(inspect(engine).get_pk_constraint(table)["constrained_columns"])


def test_records_migrate_whole_onto_their_new_keys_and_back(tmp_path: Path, database_url: str) -> None:
    from alembic import command

    platform = _platform(tmp_path, database_url)
    engine = platform.engine
    assert engine is not None
    upgrade(engine, "0022")
    take_away = stand_in_for_later_migrations(engine)  # today's models write the rows (tests/operations/stand_ins.py)
    first, second, old_id = _two_records_with_versions(platform)
    with platform.transaction() as session:  # a circle change, and a deposit whose indexing waits in the jobs
        holder = as_holder(session, platform, session.get(Record, first))  # type: ignore[arg-type]
        holder.add_to_circle(first, make_professional(session, platform).id)
        holder.deposit(first, holder_draft(title="Ordonnance"), [pdf_with_text("ordonnance")])
    take_away()
    before, triggers = _counts(engine), _triggers(engine)
    assert before["documents"] == 4 and before["search_terms"] > 0 and before["jobs"] > 0
    assert len(triggers) > 20
    assert _primary_key(engine, "documents") == ("id",)

    # At the head, less the triggers of reference and platform tables that 0026 drops (test_counters_migration_0026).
    kept = [name for name in triggers if not name.startswith(tuple(f"{table}_" for table in DROPPED))]
    assert len(kept) < len(triggers)
    upgrade(engine)
    assert _counts(engine) == before and _triggers(engine) == kept
    assert _primary_key(engine, "documents") == ("record_id", "id")
    assert _primary_key(engine, "trace_entries") == (("id",) if engine.dialect.name == "sqlite" else ("chain", "id"))
    # The service works on the new keys: reads by id, a new version, its indexing, its trace.
    with platform.transaction() as session:
        newer = session.scalars(select(Document).where(Document.replaces_id == old_id)).one()
        assert newer.record_id == first and newer.replaces is not None and newer.replaces.id == old_id
        assert session.get(Document, old_id) is not None
        record = session.get(Record, second)
        assert record is not None
        version = record.policy_version
        holder = as_holder(session, platform, record)
        holder.deposit(second, holder_draft(title="Vaccins"), [pdf_with_text("vaccins")])
        holder.add_to_circle(second, make_professional(session, platform).id)
        moved = session.scalar(select(Record.policy_version).where(Record.id == second).execution_options(
            populate_existing=True))
        assert moved is not None and moved > version  # the circle's trigger moved it
        last = session.scalars(select(TraceEntry).order_by(TraceEntry.id.desc())).first()
        assert last is not None and session.get(TraceEntry, last.id) is last
    run_jobs(platform)
    # A content key is unique within its record: the database refuses a second document on the same content.
    with platform.sessions() as session:
        document = session.get(Document, old_id)
        assert document is not None
        twin = Document(**{column.key: getattr(document, column.key) for column in Document.__table__.columns
                           if column.key != "id"})
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.flush()
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SearchTerm).where(SearchTerm.record_id == second)) > 1

    after = _counts(engine)
    command.downgrade(alembic_config(engine), "0022")
    assert _counts(engine) == after and _triggers(engine) == triggers
    assert _primary_key(engine, "documents") == ("id",) and _primary_key(engine, "trace_entries") == ("id",)
    upgrade(engine)
    assert _counts(engine) == after and _triggers(engine) == kept
    assert _primary_key(engine, "documents") == ("record_id", "id")
    engine.dispose()
