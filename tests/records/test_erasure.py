"""Erasing a record for good: nothing of its content can be recovered, its trace is kept."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from opendsp.access.services import RecordAccess
from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.content.models import RecordKey
from opendsp.content.service import ContentUnavailable
from opendsp.demo.fhir import AuthorInfo, Ids, LabResult, PatientInfo, laboratory_report
from opendsp.demo.clinical import ANALYTES
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.submissions.models import DocumentContext
from opendsp.structured.models import StructuredCode, StructuredEntry
from opendsp.platform import Platform
from opendsp.records.erasure import ErasureBasis, ErasureRefused, erase_record
from opendsp.records.models import Record
from opendsp.records.services import TransitionRefused
from opendsp.search.models import SearchTerm
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import verify
from tests.factories import PDF, as_holder, deposit_pdf, holder_draft, holder_of, make_record, read_as_holder, run_jobs


def run(platform: Platform, *args: str, stdin: str | None = None) -> Result:
    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def lab_bundle_bytes() -> bytes:
    bundle = laboratory_report(
        Ids(random.Random(5)), patient=PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1)),
        author=AuthorInfo("L123", "Muller", "Jean", "ORG1", "Labo Demo"), day=date(2025, 3, 1), language="en",
        title="Blood count", results=[LabResult(ANALYTES["haemoglobin"], 11.0, 12.0, 16.0, "L")],
    )
    return json.dumps(bundle).encode()


def _count(session, model, column, record_id) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model).where(column == record_id))


@pytest.fixture
def loaded(platform: Platform) -> tuple[Record, list[Document], str]:
    with platform.transaction() as session:
        record = make_record(session, platform)
        pdf = deposit_pdf(session, platform, record)
        fhir = as_holder(session, platform, record).deposit(
            record.id, holder_draft("Blood count", media_type=FHIR_MEDIA_TYPE), [lab_bundle_bytes()]
        )
        national_number = holder_of(session, record).national_number
    run_jobs(platform)  # the keyword index
    with platform.sessions() as session:
        assert _count(session, SearchTerm, SearchTerm.record_id, record.id) > 0
        assert _count(session, StructuredEntry, StructuredEntry.record_id, record.id) > 0
    return record, [pdf, fhir], national_number


def test_an_open_record_is_not_erased(platform: Platform, loaded) -> None:  # type: ignore[no-untyped-def]
    record, documents, number = loaded
    result = run(platform, "records", "erase", number, "--basis", "death", "--reason", "died 2010", "--yes")
    assert result.exit_code == 2 and "close it before erasing it" in result.output
    with platform.sessions() as session:
        assert read_as_holder(session, platform, documents[0]) == PDF
    assert run(platform, "records", "erase", "1900010100000", "--basis", "death", "--reason", "x",
               "--yes").exit_code == 2
    # The policy refused it, and the refusal is in the record's trace (written again after the rollback).
    with platform.sessions() as session:
        last = session.scalars(select(TraceEntry).where(TraceEntry.record_id == record.id)
                               .order_by(TraceEntry.seq.desc())).first()
        assert last is not None
        assert (last.action, last.outcome, last.actor_kind, last.reason) == (
            "record.erase", Outcome.refused, "system", "wrong_state")


def test_only_the_agency_erases_the_holder_and_professionals_are_refused(platform: Platform, loaded) -> None:  # type: ignore[no-untyped-def]
    record, documents, _ = loaded
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).close(record.id)
    with platform.transaction() as session, pytest.raises(ErasureRefused, match="refused"):
        erase_record(access=as_holder(session, platform, session.get(Record, record.id)),
                     record=session.get(Record, record.id), basis=ErasureBasis.death, reason="I say so")
    with platform.sessions() as session:
        assert session.get(RecordKey, record.id).wrapped_key is not None  # type: ignore[union-attr]
        last = session.scalars(select(TraceEntry).where(TraceEntry.record_id == record.id)
                               .order_by(TraceEntry.seq.desc())).first()
        assert last is not None and (last.action, last.outcome, last.reason) == (
            "record.erase", Outcome.refused, "not_applicable")
        assert read_as_holder(session, platform, documents[0]) == PDF


def test_declining_the_confirmation_changes_nothing(platform: Platform, loaded) -> None:  # type: ignore[no-untyped-def]
    record, documents, number = loaded
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).close(record.id)
    result = run(platform, "records", "erase", number, "--basis", "death", "--reason", "died 2010", stdin="n\n")
    assert result.exit_code == 1
    with platform.sessions() as session:
        assert session.get(RecordKey, record.id).wrapped_key is not None  # type: ignore[union-attr]
    assert len(list(platform.content.blobs.list(f"records/{record.id}/"))) == 2


def test_nothing_of_an_erased_record_can_be_recovered_and_its_trace_is_kept(platform: Platform, loaded) -> None:  # type: ignore[no-untyped-def]
    record, documents, number = loaded
    other = None
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).close(record.id, reason="deceased")
        other = deposit_pdf(session, platform, make_record(session, platform))
        # A job to index one of its documents still waits when the record is erased (a worker far behind).
        from opendsp.jobs.models import JobKind
        from opendsp.jobs.services import enqueue

        enqueue(session, platform, kind=JobKind.index_document, record_id=record.id, document_id=documents[0].id)
    # A copy of the sealed content taken before (a backup, a disk image).
    copies = {blob.key: platform.content.blobs.read(blob.key)
              for blob in platform.content.blobs.list(f"records/{record.id}/")}
    with platform.sessions() as session:
        chain_before = _count(session, TraceEntry, TraceEntry.record_id, record.id)

    result = run(platform, "records", "erase", number, "--basis", "death", "--reason", "died 2010-04-02, register",
                 "--yes")
    assert result.exit_code == 0, result.output
    assert "key destroyed, 2 document(s) and 2 blob(s)" in result.output
    assert run_jobs(platform) == 2  # the waiting job writes nothing of the erased record; the other is indexed

    assert list(platform.content.blobs.list(f"records/{record.id}/")) == []
    for key, sealed in copies.items():
        platform.content.blobs.put(key, [sealed])  # the old copy brought back ...
    with platform.sessions() as session:
        assert session.get(RecordKey, record.id).wrapped_key is None  # type: ignore[union-attr]
        for document in documents:
            erased = session.get(Document, document.id)
            assert erased is not None and erased.title == ""
            with pytest.raises(ContentUnavailable, match="erased"):  # ... opens no more
                platform.content.read(session, record.id, erased.content_key, sha256=erased.sha256,
                                      size=erased.size)
        assert _count(session, SearchTerm, SearchTerm.record_id, record.id) == 0
        assert _count(session, StructuredEntry, StructuredEntry.record_id, record.id) == 0
        assert _count(session, StructuredCode, StructuredCode.record_id, record.id) == 0
        assert _count(session, DocumentContext, DocumentContext.record_id, record.id) == 0
        # The trace is kept whole, with the erasure by the system at its end.
        entries = list(session.scalars(
            select(TraceEntry).where(TraceEntry.record_id == record.id).order_by(TraceEntry.seq)))
        assert len(entries) == chain_before + 1
        assert (entries[-1].action, entries[-1].actor_kind) == ("record.erase", "system")
        # Decided by the policy: one entry, the permit's reason and basis.
        assert (entries[-1].outcome, entries[-1].reason, entries[-1].basis) == (
            Outcome.permitted, "agency_administration", "system")
        assert entries[-1].context["basis"] == "death"
        assert verify(session).intact
        # Another record is untouched.
        assert read_as_holder(session, platform, other) == PDF
        assert _count(session, SearchTerm, SearchTerm.record_id, other.record_id) > 0

    # store check removes the copies put back, and does not call the erased documents missing.
    with platform.transaction() as session:
        from datetime import timedelta

        report = platform.content.check(session, grace=timedelta(0), verify=True)
    assert sorted(report.orphans_removed) == sorted(copies) and report.healthy

    # An erased record stays erased: not reopened, not erased twice, not re-indexed.
    with platform.transaction() as session, pytest.raises(TransitionRefused, match="erased"):
        as_holder(session, platform, session.get(Record, record.id)).reopen(record.id)
    with platform.transaction() as session, pytest.raises(ErasureRefused, match="already"):
        erase_record(access=RecordAccess(session=session, platform=platform, actor=SYSTEM),
                     record=session.get(Record, record.id), basis=ErasureBasis.legal_order, reason="again")
    assert run(platform, "search", "reindex", "--all").exit_code == 0
    with platform.sessions() as session:
        assert _count(session, SearchTerm, SearchTerm.record_id, record.id) == 0
