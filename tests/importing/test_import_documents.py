"""``import-documents``: load an export whole or reject lines whole; resume; nothing loaded twice."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.cli import main
from opendsp.documents.models import Document
from opendsp.importing import loader as loader_module
from opendsp.importing.loader import import_documents
from opendsp.importing.models import ImportBatch, ImportedDocument
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.search.models import SearchTerm
from opendsp.search.services import search
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import verify
from tests.importing.conftest import Export


def count(platform: Platform, model: type) -> int:
    with platform.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def blobs(platform: Platform) -> int:
    assert platform.blob_store is not None
    return sum(1 for info in platform.blob_store.list("records/") if "/.partial-" not in info.key)


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def holder_access(session, platform: Platform, record_id) -> RecordAccess:  # type: ignore[no-untyped-def]
    record = session.get(Record, record_id)
    person = session.get(Person, record.person_id)
    return RecordAccess(session=session, platform=platform, actor=actors.holder(person))


def assert_every_document_reads_back(platform: Platform, export: Export) -> None:
    """Each loaded document opens with its hash, as its holder consults it, and equals its file; its journal row
    (a directory, without foreign keys) names it and its record."""
    by_source = {row["source_id"]: row for row in export.rows}
    with platform.transaction() as session:
        for source_id, document_id, record_id in session.execute(
                select(ImportedDocument.source_id, ImportedDocument.document_id, ImportedDocument.record_id)):
            document = session.get(Document, document_id)
            assert document is not None and document.record_id == record_id
            content = holder_access(session, platform, document.record_id).consult(document_id).read()
            expected = (export.folder / by_source[source_id]["content_file"]).read_bytes()
            assert content == expected
            assert document.sha256 == hashlib.sha256(expected).hexdigest() == by_source[source_id]["sha256"]


def assert_trace_intact(platform: Platform) -> None:
    with platform.sessions() as session:
        report = verify(session)
    assert report.intact, report.first_break


@pytest.mark.parametrize("workers", [0, 2])
def test_a_csv_export_loads_every_document_readable_searchable_and_traced(
    platform: Platform, export: Export, workers: int
) -> None:
    export.add(record=0)
    export.add(record=0, title="Ordonnance", kind="prescription")
    export.add(record=1, author="biologist", kind="laboratory_report", title="Bilan lipidique")
    export.add(record=1, holder=True, kind="personal_document", title="Mes notes de voyage")
    report = import_documents(platform=platform, export=export.write_csv(), source="old-dsp", batch_size=3,
                              workers=workers)
    assert (report.loaded, report.rejected, report.batches) == (4, 0, 2)
    assert count(platform, Document) == count(platform, ImportedDocument) == blobs(platform) == 4
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)
    with platform.transaction() as session:
        found = search(holder_access(session, platform, export.records[1]), export.records[1], "lipidique")
        assert [d.title for d in found.items] == ["Bilan lipidique"]
        entries = session.scalars(select(TraceEntry).where(TraceEntry.action == "document.deposit")).all()
    assert len(entries) == 4
    assert {(e.actor_kind, e.actor_id, e.outcome) for e in entries} == {("system", "opendsp", Outcome.permitted)}
    assert str(export.gp_id) in {e.on_behalf_of for e in entries}


def test_an_ndjson_export_of_document_references_loads_the_same(platform: Platform, export: Export) -> None:
    export.add(record=0)
    export.add(record=1, author="biologist", kind="laboratory_report", confidentiality="restricted")
    export.add(record=1, holder=True, kind="personal_document")
    report = import_documents(platform=platform, export=export.write_ndjson(), source="old-dsp", workers=0)
    assert (report.loaded, report.rejected) == (3, 0)
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)
    with platform.sessions() as session:
        restricted = session.scalars(select(Document).where(Document.type == "laboratory_report")).one()
    assert restricted.confidentiality.value == "restricted"


def test_bad_lines_are_rejected_whole_with_their_line_and_reason(platform: Platform, export: Export) -> None:
    export.add(record=0)  # line 2: good
    export.add(record=0, sha256="0" * 64)  # line 3: content does not match
    export.add(record=0, care_date="2019-13-45")  # line 4
    export.add(record=0, national_number="19800517999")  # line 5: nobody
    export.add(record=0, content_file="../../etc/passwd")  # line 6
    export.add(record=0, kind="discharge_letter")  # line 7: a GP in a practice may not deposit it
    export.add(record=1, author="biologist", kind="laboratory_report")  # line 8: good
    export.add(record=1, title="T" * 501)  # line 9: the deposit's own limit
    export.add(record=1, media_type="text/html")  # line 10
    export.add(record=1, title="x" * 200_000)  # line 11: over the csv module's field limit
    rejects = export.folder / "rejects.csv"
    report = import_documents(platform=platform, export=export.write_csv(), source="old-dsp", rejects=rejects,
                              workers=0, batch_size=4)
    assert (report.loaded, report.rejected) == (2, 8)
    lines = {int(r["line"]): r["reason"] for r in read_rejects(rejects)}
    assert lines[9] == "a document title has at most 500 characters"
    assert "media type 'text/html' is not accepted" in lines[10]
    assert "unreadable CSV line" in lines[11]
    assert lines[3] == "the content does not match its sha256"
    assert "care date '2019-13-45' is not a date" in lines[4]
    assert lines[5] == "no record for this national number"
    assert "inside the content folder" in lines[6]
    assert "type_not_permitted" in lines[7]
    assert set(lines) == {3, 4, 5, 6, 7, 9, 10, 11}
    # Nothing of a rejected line is left: no document, blob, term or permitted trace entry.
    assert count(platform, Document) == blobs(platform) == 2
    with platform.sessions() as session:
        assert session.scalar(select(func.count(func.distinct(SearchTerm.document_id)))) == 2
        permitted = session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == "document.deposit", TraceEntry.outcome == Outcome.permitted))
    assert permitted == 2
    assert_trace_intact(platform)


def test_the_policy_refuses_a_blocked_author_on_that_record_only(platform: Platform, export: Export) -> None:
    export.add(record=0, author="blocked")  # the holder of record 0 blocked them
    export.add(record=1, author="blocked")  # record 1 did not
    rejects = export.folder / "rejects.csv"
    report = import_documents(platform=platform, export=export.write_csv(), source="old-dsp", rejects=rejects,
                              workers=0)
    assert (report.loaded, report.rejected) == (1, 1)
    [refused] = read_rejects(rejects)
    assert refused["line"] == "2" and "blocked" in refused["reason"]
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.outcome == Outcome.refused)).one()
        loaded = session.scalars(select(Document)).one()
    assert (entry.record_id, entry.reason, entry.document_id) == (export.records[0], "blocked", None)
    assert loaded.record_id == export.records[1]
    assert_trace_intact(platform)


def test_a_second_run_loads_nothing_twice(platform: Platform, export: Export) -> None:
    for i in range(5):
        export.add(record=i % 2)
    path = export.write_csv()
    first = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0)
    second = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0)
    assert first.loaded == 5 and second.loaded == 0 and second.batches_done_before == 3
    # Another batch size: the journal does not match, the source identifiers still do.
    third = import_documents(platform=platform, export=path, source="old-dsp", batch_size=3, workers=0)
    assert (third.loaded, third.already_loaded) == (0, 5)
    assert count(platform, Document) == blobs(platform) == 5
    with platform.sessions() as session:
        deposits = session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == "document.deposit"))
    assert deposits == 5
    assert_trace_intact(platform)


def test_a_crash_inside_a_batch_loses_that_batch_only_and_the_next_run_finishes(
    platform: Platform, export: Export, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        export.add(record=i % 2)
    path = export.write_csv()
    calls = {"n": 0}
    real = loader_module._Loader._append_trace

    def dies_in_the_second_batch(self, session, events):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("power lost")
        return real(self, session, events)

    monkeypatch.setattr(loader_module._Loader, "_append_trace", dies_in_the_second_batch)
    with pytest.raises(OSError, match="power lost"):
        import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0)
    assert count(platform, Document) == blobs(platform) == 2  # the second batch left nothing, not even blobs
    assert count(platform, ImportBatch) == 1
    monkeypatch.setattr(loader_module._Loader, "_append_trace", real)
    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0)
    assert (report.loaded, report.batches_done_before, report.batches) == (4, 1, 2)
    assert count(platform, Document) == count(platform, ImportedDocument) == blobs(platform) == 6
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)


def test_a_run_stopped_between_batches_resumes_where_it_stopped(platform: Platform, export: Export) -> None:
    for i in range(5):
        export.add(record=i % 2)
    path = export.write_csv()

    def stop(batch: int) -> None:
        if batch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0, after_batch=stop)
    assert count(platform, Document) == 4
    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=2, workers=0)
    assert (report.loaded, report.batches_done_before) == (1, 2)
    assert count(platform, Document) == 5
    assert_trace_intact(platform)


def test_an_imported_document_is_what_a_deposit_writes(platform: Platform, export: Export) -> None:
    """The same document deposited by its author and imported: the same columns, bar ids, times and key."""
    from datetime import date

    from opendsp.documents.services import DocumentDraft
    from opendsp.documents.types import DocumentType
    from opendsp.professionals.models import Professional
    from tests.factories import as_professional, run_jobs

    row = export.add(record=0, title="Consultation cardiologie hypertension")
    import_documents(platform=platform, export=export.write_csv(), source="old-dsp", workers=0)
    with platform.transaction() as session:
        gp = session.get(Professional, export.gp_id)
        deposited = as_professional(session, platform, gp).deposit(
            export.records[0],
            DocumentDraft(type=DocumentType.consultation_report, title=row["title"], care_date=date(2019, 4, 2),
                          media_type="application/pdf"),
            [(export.folder / row["content_file"]).read_bytes()],
        )
        deposited_id = deposited.id
    run_jobs(platform)  # the deposit's keyword index, by the worker
    with platform.sessions() as session:
        imported_id = session.scalar(select(ImportedDocument.document_id))
        columns = [c.name for c in Document.__table__.columns if c.name not in ("id", "deposited_at", "content_key")]
        same = [getattr(session.get(Document, i), c) for i in (imported_id, deposited_id) for c in columns]
        half = len(columns)
        assert dict(zip(columns, same[:half])) == dict(zip(columns, same[half:]))

        def terms(document_id):  # type: ignore[no-untyped-def]
            query = select(SearchTerm.token, SearchTerm.weight, SearchTerm.master_key_id)
            return sorted(tuple(t) for t in session.execute(query.where(SearchTerm.document_id == document_id)))

        assert terms(imported_id) == terms(deposited_id) and terms(imported_id)
        entries = {e.document_id: e for e in session.scalars(select(TraceEntry).where(
            TraceEntry.document_id.in_([imported_id, deposited_id])))}
    imported, normal = entries[imported_id], entries[deposited_id]
    assert (imported.action, imported.outcome, imported.reason, imported.basis) == (
        normal.action, normal.outcome, normal.reason, normal.basis)
    assert imported.on_behalf_of == normal.actor_id == str(export.gp_id)
    assert {k: v for k, v in imported.context.items() if k != "import"} == normal.context


def test_the_cli_loads_reports_and_exits_1_on_rejected_lines(
    platform: Platform, export: Export, monkeypatch: pytest.MonkeyPatch
) -> None:
    export.add(record=0)
    export.add(record=0, national_number="19800517999")
    path = export.write_csv()
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    runner = CliRunner()
    result = runner.invoke(main, ["import-documents", str(path), "--workers", "0", "--source", "old-dsp"])
    assert result.exit_code == 1, result.output
    assert "1 loaded" in result.output and "1 rejected" in result.output
    assert "1 × no record for this national number" in result.output
    again = runner.invoke(main, ["import-documents", str(path), "--workers", "0", "--source", "old-dsp"])
    assert "0 loaded" in again.output and "1 batches written" not in again.output
    verified = runner.invoke(main, ["trace", "verify"])
    assert verified.exit_code == 0 and "trace intact" in verified.output
    missing_columns = export.folder / "bad.csv"
    missing_columns.write_text("national_number,title\n1,2\n")
    bad = runner.invoke(main, ["import-documents", str(missing_columns)])
    assert bad.exit_code == 2 and "missing columns" in bad.output


def test_bad_ndjson_lines_and_forged_paths_are_rejected_whole(platform: Platform, export: Export) -> None:
    import json

    from tests.importing.conftest import document_reference

    good = export.add(record=0)
    secret = export.folder.parent / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 not for import")
    (export.folder / "content" / "link.pdf").symlink_to(secret)
    (export.folder / "content" / "up").symlink_to(export.folder.parent)
    escaping = document_reference({**good, "source_id": "link", "content_file": "content/link.pdf",
                                   "size": str(secret.stat().st_size)})
    escaping_folder = document_reference({**good, "source_id": "folder", "content_file": "content/up/secret.pdf",
                                          "size": str(secret.stat().st_size)})
    wrong_hash = document_reference({**good, "source_id": "hash"})
    wrong_hash["content"][0]["attachment"]["hash"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    no_subject = document_reference({**good, "source_id": "nobody"})
    del no_subject["subject"]
    long_id = document_reference({**good, "source_id": "x" * 201})
    lines = [json.dumps(document_reference(good)), "{not json", json.dumps({"resourceType": "Patient"}),
             json.dumps(escaping), json.dumps(wrong_hash), json.dumps(no_subject), json.dumps(long_id),
             json.dumps(escaping_folder)]
    path = export.folder / "export.ndjson"
    path.write_text("\n".join(lines) + "\n")
    rejects = export.folder / "rejects.csv"
    report = import_documents(platform=platform, export=path, source="old-dsp", rejects=rejects, workers=0)
    assert (report.loaded, report.rejected) == (1, 7)
    reasons = {int(r["line"]): r["reason"] for r in read_rejects(rejects)}
    assert reasons[2].startswith("not JSON") and reasons[3] == "not a DocumentReference"
    assert reasons[4] == "the content file is a symbolic link"  # not followed: it could lead anywhere
    assert reasons[8] == "the content file is outside the content folder"  # a folder that links out
    assert reasons[5] == "the content does not match its hash (SHA-1)"
    assert "subject.identifier" in reasons[6] and "longer than 200" in reasons[7]
    assert count(platform, Document) == blobs(platform) == 1
    assert_trace_intact(platform)


def test_a_line_fixed_in_place_loads_on_the_next_run(platform: Platform, export: Export) -> None:
    export.add(record=0)
    export.add(record=0, care_date="2019-02-30")
    path = export.write_csv()
    first = import_documents(platform=platform, export=path, source="old-dsp", workers=0)
    assert (first.loaded, first.rejected) == (1, 1)
    export.rows[1]["care_date"] = "2019-02-28"
    export.write_csv()
    second = import_documents(platform=platform, export=path, source="old-dsp", workers=0)
    assert (second.loaded, second.already_loaded, second.rejected, second.batches_done_before) == (1, 1, 0, 0)
    assert count(platform, Document) == 2
    assert_trace_intact(platform)
