"""Keyword search against a real database: indexing by the worker after a deposit, ranking, the policy's
visibility, reindexing."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from sqlalchemy import delete, func, select

from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.search import index
from opendsp.search.models import SearchTerm
from opendsp.search.services import reindex, search, unindexed
from opendsp.trace.models import TraceEntry
from tests.factories import (
    as_holder,
    as_professional,
    holder_draft,
    make_organisation,
    make_professional,
    make_record,
    professional_draft,
    run_jobs,
)
from tests.search.pdfs import pdf_with_text


def titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.title for d in page.items]


def bundle(*texts: str) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
        "resourceType": "Observation", "status": "final", "code": {"text": value}}} for value in texts]
    composition = {"resourceType": "Composition", "title": "Résumé", "section": []}
    return json.dumps({"resourceType": "Bundle", "type": "document",
                       "entry": [{"fullUrl": "urn:uuid:c", "resource": composition}, *entries]}).encode()


def test_titles_metadata_pdf_text_and_structured_content_are_found_ranked(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        practice = make_organisation(session, platform, name="Cabinet Bonnevoie")
        doctor = make_professional(session, platform, organisation=practice, family_name="Kieffer")
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, doctor.id)
        pro = as_professional(session, platform, doctor)
        pro.deposit(record.id, professional_draft(title="Échographie abdominale"),
                    [pdf_with_text("Foie de taille normale.", "Pas de calcul biliaire.")])
        pro.deposit(record.id, professional_draft(title="Consultation de suivi"),
                    [pdf_with_text("Echographie prévue le mois prochain.", "Tension artérielle normale.")])
        pro.deposit(record.id, replace(professional_draft(title="Blutbild"), media_type=FHIR_MEDIA_TYPE),
                    [bundle("Hämoglobin", "Thrombozyten")])
        holder.deposit(record.id, holder_draft("Ordonnance lunettes"), [pdf_with_text("Myopie légère")])
        record_id = record.id
    assert run_jobs(platform) == 7  # four deposits' indexing, three professionals' deposits' notifications
    with platform.transaction() as session:
        record = session.get(Record, record_id)
        assert record is not None
        holder = as_holder(session, platform, record)
        # The title weighs more than the body: the report titled so comes first.
        assert titles(search(holder, record.id, "echographie")) == ["Échographie abdominale",
                                                                    "Consultation de suivi"]
        assert titles(search(holder, record.id, "HAMOGLOBIN")) == ["Blutbild"]  # structured content, umlaut folded
        assert titles(search(holder, record.id, "thrombozyt")) == ["Blutbild"]
        assert titles(search(holder, record.id, "arterielle tension")) == ["Consultation de suivi"]
        assert titles(search(holder, record.id, "biliaires")) == ["Échographie abdominale"]  # plural
        assert sorted(titles(search(holder, record.id, "kieffer"))) == [  # the author
            "Blutbild", "Consultation de suivi", "Échographie abdominale"]
        assert len(titles(search(holder, record.id, "bonnevoie"))) == 3  # the organisation
        assert titles(search(holder, record.id, "Personal document")) == ["Ordonnance lunettes"]  # the type, English
        assert titles(search(holder, record.id, "document personnel")) == ["Ordonnance lunettes"]  # ... French
        # Every word must be found.
        assert titles(search(holder, record.id, "echographie myopie")) == []
        assert search(holder, record.id, "de la").total == 0


def test_portuguese_words_find_their_forms_in_documents(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        holder.deposit(record.id, holder_draft("Boletim de vacinas"), [pdf_with_text("Análise hepática normal.")])
        holder.deposit(record.id, holder_draft("Radiografia"), [pdf_with_text("Sem alterações.")])
    run_jobs(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, record.id))
        assert titles(search(holder, record.id, "análises")) == ["Boletim de vacinas"]
        assert titles(search(holder, record.id, "vacinação")) == ["Boletim de vacinas"]
        assert titles(search(holder, record.id, "hepáticas")) == ["Boletim de vacinas"]
        assert titles(search(holder, record.id, "alteração")) == ["Radiografia"]


def test_the_words_are_not_stored_in_clear_and_tokens_differ_between_records(platform: Platform) -> None:
    with platform.transaction() as session:
        first, second = make_record(session, platform), make_record(session, platform)
        for record in (first, second):
            as_holder(session, platform, record).deposit(record.id, holder_draft("Radiographie thorax"),
                                                         [pdf_with_text("Radiographie pulmonaire")])
    run_jobs(platform)
    with platform.sessions() as session:
        rows = session.scalars(select(SearchTerm)).all()
        assert rows and all(len(r.token) == 64 and r.master_key_id == platform.keys.current_key_id for r in rows)
        stored = " ".join(r.token for r in rows)
        assert "radiograph" not in stored and "thorax" not in stored
        by_record: dict[uuid.UUID, set[str]] = {}
        for row in rows:
            by_record.setdefault(row.record_id, set()).add(row.token)
        assert not by_record[first.id] & by_record[second.id]


def test_what_a_professional_may_not_see_is_neither_found_nor_counted(platform: Platform) -> None:
    with platform.sessions() as session:
        record = make_record(session, platform)
        doctor = make_professional(session, platform)
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, doctor.id)
        pro = as_professional(session, platform, doctor)
        shown = pro.deposit(record.id, professional_draft(title="Bilan cardiaque"), [pdf_with_text("souffle")])
        hidden = pro.deposit(record.id, professional_draft(title="Bilan psychiatrique"), [pdf_with_text("souffle")])
        holder.hide(hidden.id)
        withdrawn = holder.deposit(record.id, holder_draft("Bilan personnel"), [pdf_with_text("souffle")])
        holder.withdraw(withdrawn.id)
        stranger = as_professional(session, platform, make_professional(session, platform))
        session.commit()  # the worker does the jobs from what is committed
        run_jobs(platform)

        page = search(pro, record.id, "bilan souffle")
        assert titles(page) == ["Bilan cardiaque"] and page.total == 1
        assert search(holder, record.id, "bilan").total == 3  # the holder sees hidden and withdrawn ones
        try:
            search(stranger, record.id, "bilan")
        except Exception as error:  # noqa: BLE001
            assert type(error).__name__ == "AccessDenied"
        else:
            raise AssertionError("a professional outside the circle searched the record")
        assert shown.id in [d.id for d in search(pro, record.id, "cardiaque").items]


def test_paging_and_offset(platform: Platform) -> None:
    with platform.sessions() as session:
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        for n in range(5):
            holder.deposit(record.id, holder_draft(f"Note vaccin {n}"), [pdf_with_text("vaccin " * (n + 1))])
        session.commit()
        run_jobs(platform)
        first = search(holder, record.id, "vaccins", limit=2)
        rest = search(holder, record.id, "vaccins", limit=10, offset=2)
        assert first.total == 5 and len(first.items) == 2 and len(rest.items) == 3
        # More occurrences in the body rank higher when titles weigh the same.
        assert titles(first) == ["Note vaccin 4", "Note vaccin 3"]


def test_unreadable_and_encrypted_pdfs_are_indexed_by_their_metadata(platform: Platform) -> None:
    with platform.sessions() as session:
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        holder.deposit(record.id, holder_draft("Courrier chiffré"), [pdf_with_text("secretword", encrypt=True)])
        holder.deposit(record.id, holder_draft("Fichier abîmé"), [b"%PDF-1.4 broken"])
        session.commit()
        run_jobs(platform)
        assert search(holder, record.id, "secretword").total == 0
        assert titles(search(holder, record.id, "courrier")) == ["Courrier chiffré"]
        assert titles(search(holder, record.id, "fichier abime")) == ["Fichier abîmé"]


def test_reindex_indexes_documents_stored_before_the_index_and_traces_it(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        holder.deposit(record.id, holder_draft("Carnet de vaccination"), [pdf_with_text("tétanos rappel")])
        record_id = record.id
        session.execute(delete(SearchTerm))  # as if stored before the index existed
    with platform.sessions() as session:
        missing = unindexed(session)
        assert len(missing) == 1
    assert reindex(platform, missing) == 1
    with platform.transaction() as session:
        record = session.get(Record, record_id)
        assert record is not None
        assert titles(search(as_holder(session, platform, record), record_id, "tetanos")) == ["Carnet de vaccination"]
        assert unindexed(session) == []
        assert session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.record_id == record_id, TraceEntry.action == "search.index")) == 1
        assert len(unindexed(session, everything=True)) == session.scalar(select(func.count()).select_from(Document))


def test_the_demo_types_have_words_in_three_languages() -> None:
    for kind in DocumentType:
        stub = Document(type=kind, title="x")
        words = index.metadata_text(stub)
        assert words.count(" ") >= 3


def test_the_reindex_command(platform: Platform) -> None:
    from click.testing import CliRunner

    from opendsp.cli import main

    with platform.transaction() as session:
        record = make_record(session, platform)
        as_holder(session, platform, record).deposit(record.id, holder_draft("Allergie pollen"), [pdf_with_text("x")])
        session.execute(delete(SearchTerm))
    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    result = CliRunner().invoke(main, ["search", "reindex"], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and "1 document(s) indexed" in result.output
    again = CliRunner().invoke(main, ["search", "reindex"], env=env, catch_exceptions=False)
    assert "0 document(s) indexed" in again.output
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SearchTerm)) > 0
