"""A chain's first entry, written by two acts at once, on a record whose chain has no head yet (issue 15).

A record's head is written when the record is created; a record whose rows were loaded in bulk, or a chain
whose first act races, has none. The first append then starts the head itself: two at once must both land,
one after the other, and the chain must verify.

The race is made deterministic, not left to the scheduler: each transaction is held just before it starts
the missing head until the other has also found no head and reached the same point.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.trace.models import TraceChainHead, TraceEntry
from opendsp.trace.service import TraceEvent, verify
from opendsp.trace.vocabulary import Outcome
from tests.factories import as_holder, holder_draft, make_person


def headless_record(platform: Platform) -> Record:
    """An active record as a bulk load leaves it: its rows, no chain head, no trace entry yet."""
    with platform.transaction() as session:
        person = make_person(session, platform)
        now = platform.clock.now()
        record = Record(id=uuid.uuid4(), person_id=person.id, state=RecordState.active, created_at=now,
                        activated_at=now)
        session.add(record)
        person.record_id = record.id  # the person names their record, as every load writes it
    with platform.sessions() as session:
        assert session.get(TraceChainHead, str(record.id)) is None
    return record


@contextmanager
def both_at_the_first_head(platform: Platform) -> Iterator[threading.Barrier]:
    """Hold each transaction that is about to start a chain's head until a second one is about to do the same."""
    assert platform.engine is not None
    barrier = threading.Barrier(2, timeout=20)

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TRACE_CHAIN_HEADS"):
            barrier.wait()

    event.listen(platform.engine, "before_cursor_execute", hold)
    try:
        yield barrier
    finally:
        event.remove(platform.engine, "before_cursor_execute", hold)


def race(platform: Platform, act: Callable[[Session], object]) -> list[BaseException]:
    """Run ``act`` twice at once, each in its own transaction on its own connection; return what failed."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with platform.transaction() as session:
                act(session)
        except BaseException as failure:  # noqa: BLE001 - reported to the test below
            failures.append(failure)

    with both_at_the_first_head(platform):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return failures


def chain_of(platform: Platform, record: Record) -> tuple[list[int], TraceChainHead | None]:
    with platform.sessions() as session:
        seqs = list(session.scalars(select(TraceEntry.seq).where(TraceEntry.chain == str(record.id))
                                    .order_by(TraceEntry.seq)))
        return seqs, session.get(TraceChainHead, str(record.id))


def assert_the_trace_verifies(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    with platform.sessions() as session:
        report = verify(session)
    assert report.intact, [str(b) for b in report.breaks]
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    result = CliRunner().invoke(main, ["trace", "verify"])
    assert result.exit_code == 0 and "trace intact" in result.output, result.output


def postgresql_only(platform: Platform) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the second transaction waits at BEGIN IMMEDIATE, before any read")


def test_two_first_appends_on_a_headless_chain_both_land(platform: Platform,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    postgresql_only(platform)
    record = headless_record(platform)

    def append(session: Session) -> None:
        platform.trace.append(session, TraceEvent(action="record.consult", outcome=Outcome.permitted,
                                                  actor_kind=SYSTEM.kind.value, actor_id=SYSTEM.id,
                                                  record_id=record.id))

    assert race(platform, append) == []
    seqs, head = chain_of(platform, record)
    assert seqs == [1, 2] and head is not None and head.last_seq == 2
    assert_the_trace_verifies(platform, monkeypatch)


def test_two_first_deposits_on_a_headless_record_are_both_kept(platform: Platform,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    postgresql_only(platform)
    record = headless_record(platform)

    def deposit(session: Session) -> None:
        as_holder(session, platform, record).deposit(record.id, holder_draft(), [b"%PDF-1.4\n%%EOF\n"])

    assert race(platform, deposit) == []
    with platform.sessions() as session:
        documents = session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id))
    seqs, head = chain_of(platform, record)
    assert documents == 2 and seqs == [1, 2] and head is not None and head.last_seq == 2
    assert_the_trace_verifies(platform, monkeypatch)


def test_a_first_append_starts_the_missing_head_on_either_database(platform: Platform) -> None:
    """Without a race: the first act on a headless record starts its head and chains from the genesis hash."""
    record = headless_record(platform)
    with platform.transaction() as session:
        as_holder(session, platform, record).deposit(record.id, holder_draft(), [b"%PDF-1.4\n%%EOF\n"])
    with platform.transaction() as session:
        as_holder(session, platform, record).deposit(record.id, holder_draft(), [b"%PDF-1.4\n%%EOF\n"])
    seqs, head = chain_of(platform, record)
    assert seqs == [1, 2] and head is not None and head.last_seq == 2
    with platform.sessions() as session:
        assert verify(session).intact
