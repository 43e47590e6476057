"""The overlapping batches (ADR 29): a crash between two batches in flight loses nothing and repeats
nothing; a line that appears in two neighbouring batches is loaded once; the search-term rows the
workers encode are the rows a deposit writes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from opendsp.content.models import PendingContent
from opendsp.documents.models import Document
from opendsp.importing import loader as loader_module
from opendsp.importing.loader import import_documents
from opendsp.importing.models import ImportBatch, ImportedDocument
from opendsp.importing.sealing import term_rows_binary, time_ordered_id
from opendsp.platform import Platform
from opendsp.search.models import SearchTerm
from opendsp.trace.models import TraceEntry
from tests.importing.conftest import Export
from tests.importing.test_import_documents import (
    assert_every_document_reads_back,
    assert_trace_intact,
    blobs,
    count,
    read_rejects,
)


def assert_nothing_in_flight_left(platform: Platform) -> None:
    """Every blob belongs to a document, every document has its terms, trace entry and source id."""
    documents = count(platform, Document)
    assert documents == blobs(platform) == count(platform, ImportedDocument)
    assert count(platform, PendingContent) == 0
    with platform.sessions() as session:
        assert session.scalar(select(func.count(func.distinct(SearchTerm.document_id)))) == documents
        assert session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == "document.deposit")) == documents


@pytest.mark.parametrize("workers", [0, 2])
def test_a_crash_after_a_batch_committed_while_the_next_was_sealed_loses_nothing_and_repeats_nothing(
    platform: Platform, export: Export, workers: int
) -> None:
    for i in range(9):
        export.add(record=i % 2)
    path = export.write_csv()
    prepared: list[int] = []
    real_prepare = loader_module._Loader.prepare

    def prepare(self, batch, *args):  # type: ignore[no-untyped-def]
        prepared.append(batch.number)
        return real_prepare(self, batch, *args)

    def crash(batch: int) -> None:
        if batch == 1:
            raise OSError("power lost")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loader_module._Loader, "prepare", prepare)
        with pytest.raises(OSError, match="power lost"):
            import_documents(platform=platform, export=path, source="old-dsp", batch_size=3, workers=workers,
                             after_batch=crash)
    if platform.engine is not None and platform.engine.dialect.name == "postgresql":
        assert prepared == [0, 1, 2]  # batch 2 was on its way (claimed, sealed or sealing) when batch 1 committed
    assert count(platform, Document) == 6 and count(platform, ImportBatch) == 2
    assert_nothing_in_flight_left(platform)  # batch 2's blobs and pending rows were taken back

    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=3, workers=workers)
    assert (report.loaded, report.batches_done_before, report.already_loaded, report.rejected) == (3, 2, 0, 0)
    assert count(platform, Document) == 9
    assert_nothing_in_flight_left(platform)
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)


def test_a_crash_writing_a_batch_takes_back_the_next_batch_too(
    platform: Platform, export: Export, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(8):
        export.add(record=i % 2)
    path = export.write_csv()
    real = loader_module._Loader._write_acts

    def dies_writing_batch_1(self, session, batch, sealed, refusals):  # type: ignore[no-untyped-def]
        if batch == 1:
            raise OSError("disk full")
        return real(self, session, batch, sealed, refusals)

    monkeypatch.setattr(loader_module._Loader, "_write_acts", dies_writing_batch_1)
    with pytest.raises(OSError, match="disk full"):
        import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=2)
    assert count(platform, Document) == 2
    assert_nothing_in_flight_left(platform)
    monkeypatch.setattr(loader_module._Loader, "_write_acts", real)
    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=2)
    assert (report.loaded, report.batches_done_before) == (6, 1)
    assert_nothing_in_flight_left(platform)
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)


def test_a_line_repeated_in_the_next_batch_loads_once(platform: Platform, export: Export) -> None:
    export.add(record=0)
    again = dict(export.add(record=1))  # line 3, batch 0
    export.add(record=0)
    export.rows.append(dict(again))  # line 5, batch 1: the same source id, while batch 0 is not committed yet
    export.add(record=1)
    report = import_documents(platform=platform, export=export.write_csv(), source="old-dsp", batch_size=3,
                              workers=0)
    assert (report.loaded, report.already_loaded, report.rejected) == (4, 1, 0)
    assert_nothing_in_flight_left(platform)
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)


def test_a_line_rejected_in_one_batch_and_repeated_right_in_the_next_loads_from_the_next(
    platform: Platform, export: Export
) -> None:
    good = dict(export.add(record=0))
    export.rows[-1] = {**good, "sha256": "0" * 64}  # line 2, batch 0: rejected when sealed
    export.add(record=1)
    export.rows.append(good)  # line 4, batch 1: the same source id, right this time
    rejects = export.folder / "rejects.csv"
    report = import_documents(platform=platform, export=export.write_csv(), source="old-dsp", batch_size=2,
                              workers=0, rejects=rejects)
    assert (report.loaded, report.already_loaded, report.rejected) == (2, 0, 1)
    assert [r["line"] for r in read_rejects(rejects)] == ["2"]
    assert_nothing_in_flight_left(platform)
    assert_every_document_reads_back(platform, export)


def test_the_binary_term_rows_say_what_the_tokens_say() -> None:
    record, document = uuid.uuid4(), uuid.uuid4()
    tokens = (("a" * 64, 391), ("b" * 64, 100))
    data = term_rows_binary(record.bytes, document.bytes, "k1", tokens)
    row = 2 + (4 + 16) * 3 + (4 + 2) + (4 + 64) + (4 + 4)
    assert len(data) == 2 * row
    first = data[:row]
    assert first[:2] == (6).to_bytes(2, "big") and record.bytes in first and document.bytes in first
    assert first.endswith((4).to_bytes(4, "big") + (391).to_bytes(4, "big")) and b"a" * 64 in first
    ids = [uuid.UUID(bytes=time_ordered_id()) for _ in range(50)]
    assert len(set(ids)) == 50 and {i.version for i in ids} == {7}


def test_a_failure_writing_the_next_batchs_documents_takes_back_both(
    platform: Platform, export: Export, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the next batch's documents and terms are written by another thread: its failure stops
    the run with nothing of either batch in flight left."""
    for i in range(8):
        export.add(record=i % 2)
    path = export.write_csv()
    real = loader_module._Loader._write_documents
    calls = {"n": 0}

    def fails_the_second_time(self, session, sealed):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("connection lost")
        return real(self, session, sealed)

    monkeypatch.setattr(loader_module._Loader, "_write_documents", fails_the_second_time)
    with pytest.raises(OSError, match="connection lost"):
        import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=2)
    assert count(platform, Document) == 2
    assert_nothing_in_flight_left(platform)
    monkeypatch.setattr(loader_module._Loader, "_write_documents", real)
    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=2)
    assert (report.loaded, report.batches_done_before) == (6, 1)
    assert_nothing_in_flight_left(platform)
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)
