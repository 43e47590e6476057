"""Migration 0025 on a database that holds submissions, invitations, stays and imports: its directories are
filled from the rows they name, the keys they replace come back on the way down, and the stays keep the
triggers that move their record's policy version (0022)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import select, text, update

from opendsp import actors
from opendsp.access.exchange import SubmittedItem
from opendsp.accounts import invitations
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.importing.models import ImportedDocument
from opendsp.migrations import alembic_config, upgrade
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.settings import Settings
from opendsp.stays.models import PatientClass, Stay
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.factories import as_holder, deposit_pdf, make_organisation, make_record

DIRECTORIES = {
    "master_identifiers": "SELECT value, record_id, document_id FROM master_identifiers",
    "invitation_tokens": "SELECT token_hash, record_id, invitation_id FROM invitation_tokens",
    "visit_numbers": "SELECT visit_number, organisation_id, record_id, stay_id FROM visit_numbers",
    "imported_documents": "SELECT source, source_id, record_id, document_id FROM imported_documents",
}


def _platform(tmp_path: Path, database_url: str) -> Platform:
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast")
    return Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(5))


def _fill(platform: Platform) -> uuid.UUID:
    """Two records with a submitted document, an invitation, a stay and an imported document each."""
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="CHL")
        for n in range(2):
            record = make_record(session, platform)
            holder = as_holder(session, platform, record)
            document = deposit_pdf(session, platform, record)
            holder.file_submission(record.id, unique_id=f"urn:uuid:{uuid.uuid4()}", title=None, source_id=None,
                                   client_id="test", documents=[SubmittedItem(document, f"urn:oid:1.2.{n}", [])])
            invitations.invite(session=session, platform=platform, actor=actors.holder(record.holder),
                               record_id=record.id, email=f"h{n}@example.lu", until=None, language="fr")
            apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
                event=StayEvent.admit, national_number=record.holder.national_number, visit_number=f"V-{n}",
                occurred_at=datetime(2026, 1, 5, tzinfo=UTC), patient_class=PatientClass.inpatient))
            imported = deposit_pdf(session, platform, record)
            session.add(ImportedDocument(source="export", source_id=f"line-{n}", document_id=imported.id,
                                         record_id=record.id, batch=1))
        return record.id


def _directories(platform: Platform) -> dict[str, set[tuple[str, ...]]]:
    assert platform.engine is not None
    with platform.engine.connect() as connection:
        return {table: {tuple(str(value) for value in row) for row in connection.execute(text(query))}
                for table, query in DIRECTORIES.items()}


def test_the_directories_are_filled_from_the_rows_they_name(tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    assert platform.engine is not None
    upgrade(platform.engine)
    record_id = _fill(platform)
    written = _directories(platform)
    assert {table: len(rows) for table, rows in written.items()} == dict.fromkeys(DIRECTORIES, 2)

    command.downgrade(alembic_config(platform.engine), "0024")
    with platform.engine.connect() as connection:
        names = set(connection.dialect.get_table_names(connection))
    assert not {"master_identifiers", "invitation_tokens", "visit_numbers"} & names
    upgrade(platform.engine)
    # The same rows, made by the migration from the submissions, invitations, stays and the import journal.
    assert _directories(platform) == written

    # The stays kept their triggers: a change of a stay still moves its record's policy version.
    with platform.sessions() as session:
        before = session.scalars(select(Record.policy_version).where(Record.id == record_id)).one()
    with platform.transaction() as session:
        session.execute(update(Stay).where(Stay.record_id == record_id).values(updated_at=platform.clock.now()))
    with platform.sessions() as session:
        assert session.scalars(select(Record.policy_version).where(Record.id == record_id)).one() > before
