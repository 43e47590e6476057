"""``store check`` running in a loop while deposits are in flight loses no acknowledged document.

Real threads, a real clock (blob ages are the file system's), grace 0 as a
developer may ask for it, on SQLite and PostgreSQL. Deposits that die half-way
(their blob written, their transaction gone without its rollback hook) run
among them, so the checker has real orphans to remove while it works.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator

import pytest

from opendsp.clock import SystemClock, SystemRandomness
from opendsp.content.checking import enforced_grace
from opendsp.content.service import ContentUnavailable
from opendsp.documents.models import Document
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.settings import Settings
from tests.factories import deposit_pdf, make_record, read_as_holder

DEPOSITORS = 4
DEPOSITS_EACH = 25


@pytest.fixture
def live_platform(settings: Settings) -> Iterator[Platform]:
    platform = Platform(settings=settings, clock=SystemClock(), randomness=SystemRandomness())
    assert platform.engine is not None
    upgrade(platform.engine)
    yield platform
    platform.engine.dispose()


def _content(label: str) -> bytes:
    # Large enough to be written in several chunks, so a check can fall in the middle.
    return b"%PDF-1.4\n% " + label.encode() + b"\n" + label.encode() * 20_000 + b"\n%%EOF\n"


def test_no_acknowledged_document_is_lost_while_store_check_runs(live_platform: Platform) -> None:
    platform = live_platform
    grace = enforced_grace(platform.settings, 0)
    with platform.transaction() as session:
        record_ids = [make_record(session, platform).id for _ in range(DEPOSITORS)]
    acknowledged: dict[uuid.UUID, bytes] = {}
    died: list[str] = []
    errors: list[BaseException] = []
    removed: list[str] = []
    checks = 0
    checked = threading.Condition()
    depositing = threading.Event()
    depositing.set()

    def wait_for_a_whole_check() -> None:
        # Half-way, each depositor waits for a check that starts and ends while it
        # is depositing, so the race is exercised however the threads are scheduled.
        with checked:
            seen = checks
            assert checked.wait_for(lambda: checks >= seen + 2, timeout=120), "no store check ran"

    def deposit_many(record_id: uuid.UUID) -> None:
        try:
            for n in range(DEPOSITS_EACH):
                if n == DEPOSITS_EACH // 2:
                    wait_for_a_whole_check()
                content = _content(f"{record_id}-{n}")
                if n % 5 == 4:
                    if (key := _die_half_way(platform, record_id, content)) is not None:
                        died.append(key)
                    continue
                try:
                    with platform.transaction() as session:
                        record = session.get(Record, record_id)
                        assert record is not None
                        document = deposit_pdf(session, platform, record, content=content)
                except ContentUnavailable:
                    continue  # refused, so not acknowledged: allowed, never a loss
                acknowledged[document.id] = content
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    def check_in_a_loop() -> None:
        nonlocal checks
        try:
            while depositing.is_set():
                with platform.transaction() as session:
                    report = platform.content.check(session, grace=grace)
                removed.extend(report.orphans_removed)
                with checked:
                    checks += 1
                    checked.notify_all()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    depositors = [threading.Thread(target=deposit_many, args=(rid,)) for rid in record_ids]
    checker = threading.Thread(target=check_in_a_loop)
    checker.start()
    for thread in depositors:
        thread.start()
    for thread in depositors:
        thread.join()
    depositing.clear()
    checker.join()
    assert errors == [], [repr(e) for e in errors]
    assert checks >= 2 and len(acknowledged) >= DEPOSITORS * DEPOSITS_EACH * 3 // 4

    with platform.transaction() as session:
        final = platform.content.check(session, grace=grace)
    assert final.missing_content == [] and final.healthy
    with platform.sessions() as session:
        for document_id, content in acknowledged.items():
            document = session.get(Document, document_id)
            assert document is not None
            assert read_as_holder(session, platform, document) == content
            assert document.sha256 == hashlib.sha256(content).hexdigest()
    # The checker did its work meanwhile: every half-written deposit's blob is gone.
    assert set(died) <= set(removed) | set(final.orphans_removed)
    left = {blob.key for blob in platform.content.blobs.list("records/")}
    assert left.isdisjoint(died)


def _die_half_way(platform: Platform, record_id: uuid.UUID, content: bytes) -> str | None:
    """A process killed after writing its content and before committing: no rollback hook runs."""
    with platform.sessions() as session:
        session.begin()
        try:
            stored = platform.content.put(session, record_id, [content])
        except ContentUnavailable:
            return None  # its pending content was taken back before it wrote anything
        session.info["on_rollback"].clear()
        session.rollback()
    return stored.key
