"""The trace: written with each act, append-only, and its chain verified."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from opendsp.trace.service import verify
from tests.factories import deposit_pdf, make_record


def record_with_history(platform: Platform) -> Record:
    with platform.transaction() as session:
        record = make_record(session, platform)
        for _ in range(3):
            deposit_pdf(session, platform, record)
    return record


def chain_entries(session: Session, record: Record) -> list[TraceEntry]:
    return list(
        session.scalars(select(TraceEntry).where(TraceEntry.record_id == record.id).order_by(TraceEntry.seq))
    )


SQLITE_TRIGGERS = ("trace_entries_no_update", "trace_entries_no_delete", "trace_chain_heads_forward",
                   "trace_chain_heads_start", "trace_chain_heads_no_delete")


def tamper(platform: Platform, *statements: str) -> None:
    """What an attacker with direct database access would do: get past the triggers first."""
    assert platform.engine is not None
    with platform.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in SQLITE_TRIGGERS:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        for statement in statements:
            connection.execute(text(statement))


def test_each_act_leaves_an_entry_and_the_chain_is_intact(platform: Platform) -> None:
    record = record_with_history(platform)
    with platform.sessions() as session:
        actions = [entry.action for entry in chain_entries(session, record)]
        report = verify(session)
    assert actions == ["record.create", "record.activate"] + ["document.deposit"] * 3
    assert report.intact and report.entries >= 5


def test_an_act_rolled_back_leaves_no_entry(platform: Platform) -> None:
    with pytest.raises(RuntimeError), platform.transaction() as session:
        make_record(session, platform)
        raise RuntimeError("the request failed after the act")
    with platform.sessions() as session:
        assert session.scalars(select(TraceEntry).where(TraceEntry.record_id.is_not(None))).all() == []


@pytest.mark.parametrize("statement", ["UPDATE trace_entries SET reason = 'x'", "DELETE FROM trace_entries"])
def test_the_database_refuses_to_change_the_trace(platform: Platform, statement: str) -> None:
    record_with_history(platform)
    assert platform.engine is not None
    with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as connection:
        connection.execute(text(statement))


def test_truncate_is_refused_on_postgresql(platform: Platform) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as connection:
        connection.execute(text("TRUNCATE trace_entries"))


def _break(platform: Platform, record: Record, how: str) -> TraceEntry:
    """Tamper with the record's chain; return the entry verify must name."""
    with platform.sessions() as session:
        entries = chain_entries(session, record)
    second, third, fourth = entries[1], entries[2], entries[3]
    if how == "altered":
        tamper(platform, f"UPDATE trace_entries SET actor_display = 'someone else' WHERE id = {third.id}")
        return third
    if how == "removed":
        tamper(platform, f"DELETE FROM trace_entries WHERE id = {third.id}")
        return fourth
    if how == "removed and renumbered":
        tamper(
            platform,
            f"DELETE FROM trace_entries WHERE id = {third.id}",
            f"UPDATE trace_entries SET seq = seq - 1 WHERE chain = '{record.id}' AND seq > {third.seq}",
            f"UPDATE trace_chain_heads SET last_seq = last_seq - 1 WHERE chain = '{record.id}'",
        )
        return fourth
    if how == "reordered":
        tamper(
            platform,
            f"UPDATE trace_entries SET seq = -1 WHERE id = {second.id}",
            f"UPDATE trace_entries SET seq = {second.seq} WHERE id = {third.id}",
            f"UPDATE trace_entries SET seq = {third.seq} WHERE id = {second.id}",
        )
        return third
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("altered", "content was altered"),
        ("removed", "were removed"),
        ("removed and renumbered", "the entry before it was removed"),
        ("reordered", "reordered"),
    ],
)
def test_verify_names_the_first_broken_entry(platform: Platform, how: str, problem: str) -> None:
    record = record_with_history(platform)
    named = _break(platform, record, how)
    with platform.sessions() as session:
        report = verify(session)
    assert not report.intact
    first = report.first_break
    assert first is not None and first.entry_id == named.id and first.chain == str(record.id)
    assert problem in str(first)


def test_verify_notices_entries_cut_from_the_end(platform: Platform) -> None:
    record = record_with_history(platform)
    with platform.sessions() as session:
        last = chain_entries(session, record)[-1]
    tamper(platform, f"DELETE FROM trace_entries WHERE id = {last.id}")
    with platform.sessions() as session:
        report = verify(session)
    assert report.first_break is not None and "last entries were removed" in str(report.first_break)


def test_the_cli_verifies_and_exits_non_zero_on_a_break(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    record = record_with_history(platform)
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    runner = CliRunner()
    ok = runner.invoke(main, ["trace", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "trace intact" in ok.output
    named = _break(platform, record, "altered")
    broken = runner.invoke(main, ["trace", "verify"])
    assert broken.exit_code == 1
    assert f"entry {named.id} (chain {record.id}, position {named.seq})" in broken.output


def test_administrative_acts_go_to_the_platform_chain(platform: Platform) -> None:
    from opendsp.records.services import trace_event

    with platform.transaction() as session:
        entry = platform.trace.append(session, trace_event(SYSTEM, "keys.rotate", record_id=None))
    assert entry.chain == "platform" and entry.seq == 1
