"""The visit directory: a hospital's visit number finds its stay through ``visit_numbers`` (keyed by the visit
number and the hospital, the keys an ADT message holds), written with the stay; the stay is then read by its
record. A visit number the directory does not hold is unknown; another patient's is refused before anything of
the stay is read, and nothing is written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind
from opendsp.records.models import Record
from opendsp.stays.models import PatientClass, Stay, StayMovement, StayState, VisitNumber
from opendsp.stays.services import StayEvent, StayReport, StayReportRefused, apply_report
from opendsp.trace.models import TraceEntry
from tests.factories import make_organisation, make_record
from tests.operations.test_record_scoped_sql import Statements

AT = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _report(platform: Platform, hospital_id: uuid.UUID, record_id: uuid.UUID, event: StayEvent,
            visit: str) -> uuid.UUID:
    with platform.transaction() as session:
        return _apply(session, platform, hospital_id, record_id, event, visit).id


def _apply(session, platform, hospital_id, record_id, event, visit) -> Stay:  # type: ignore[no-untyped-def]
    hospital = session.get(Organisation, hospital_id)
    record = session.get(Record, record_id)
    return apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
        event=event, national_number=record.holder.national_number, visit_number=visit, occurred_at=AT,
        patient_class=PatientClass.inpatient))


Scene = tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]


@pytest.fixture
def scene(platform: Platform) -> Scene:
    """Two hospitals, two patients: (hospital, other hospital, patient's record, other patient's record)."""
    with platform.transaction() as session:
        hospitals = [make_organisation(session, platform, OrganisationKind.hospital, name=name).id
                     for name in ("CHL", "HRS")]
        records = [make_record(session, platform).id for _ in range(2)]
    return hospitals[0], hospitals[1], records[0], records[1]


def _directory(platform: Platform) -> set[tuple[str, uuid.UUID, uuid.UUID, uuid.UUID]]:
    with platform.sessions() as session:
        return {tuple(row) for row in session.execute(select(  # type: ignore[misc]
            VisitNumber.visit_number, VisitNumber.organisation_id, VisitNumber.record_id, VisitNumber.stay_id))}


def _counts(platform: Platform) -> tuple[int, int, int]:
    with platform.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[return-value]
                     for model in (Stay, StayMovement, VisitNumber))


def test_a_stay_is_written_with_its_visit_number_and_found_by_it(platform: Platform, scene: Scene) -> None:
    hospital, other_hospital, record, _other = scene
    stay = _report(platform, hospital, record, StayEvent.admit, "V-100")
    assert _directory(platform) == {("V-100", hospital, record, stay)}
    # The same number at another hospital is another visit: its own stay, its own directory row.
    elsewhere = _report(platform, other_hospital, record, StayEvent.admit, "V-100")
    assert elsewhere != stay
    assert _directory(platform) == {("V-100", hospital, record, stay), ("V-100", other_hospital, record, elsewhere)}
    # A later report of the visit finds the stay through the directory, and names the record in every statement.
    statements = Statements(platform.engine)  # type: ignore[arg-type]
    with statements.recording():
        assert _report(platform, hospital, record, StayEvent.discharge, "V-100") == stay
    assert any("visit_numbers" in statement for statement in statements.seen)
    assert statements.unscoped().keys() <= {"records where records.person_id = ?"}  # the patient, by person
    with platform.sessions() as session:
        assert session.get(Stay, stay).state is StayState.finished  # type: ignore[union-attr]
        assert session.get(Stay, elsewhere).state is StayState.in_progress  # type: ignore[union-attr]


def test_another_patients_visit_number_is_refused_and_nothing_is_written(platform: Platform, scene: Scene) -> None:
    hospital, _other_hospital, record, other = scene
    stay = _report(platform, hospital, record, StayEvent.admit, "V-200")
    before, directory = _counts(platform), _directory(platform)
    with platform.sessions() as session:
        entries = session.scalar(select(func.count()).select_from(TraceEntry).where(TraceEntry.chain == str(record)))
    for event in (StayEvent.admit, StayEvent.transfer, StayEvent.discharge, StayEvent.update):
        with pytest.raises(StayReportRefused) as refused, platform.transaction() as session:
            _apply(session, platform, hospital, other, event, "V-200")
        assert (refused.value.code, refused.value.field) == ("205", "PV1-19")
        # The refusal says the number is taken, nothing of the patient or stay holding it.
        assert str(record) not in str(refused.value) and str(stay) not in str(refused.value)
    assert _counts(platform) == before and _directory(platform) == directory
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.chain == str(record))) == entries  # nothing on the first patient's record
        assert session.get(Stay, stay).record_id == record  # type: ignore[union-attr]


def test_a_visit_number_missing_from_the_directory_is_unknown(platform: Platform, scene: Scene) -> None:
    hospital, _other_hospital, record, _other = scene
    stay = _report(platform, hospital, record, StayEvent.admit, "V-300")
    with platform.transaction() as session:
        session.execute(delete(VisitNumber).where(VisitNumber.visit_number == "V-300",
                                                  VisitNumber.organisation_id == hospital))
    # The stay's row is still there, but nothing finds it by its visit number.
    with pytest.raises(StayReportRefused) as refused, platform.transaction() as session:
        _apply(session, platform, hospital, record, StayEvent.discharge, "V-300")
    assert refused.value.code == "204"
    with platform.sessions() as session:
        assert session.get(Stay, stay).state is StayState.in_progress  # type: ignore[union-attr]
