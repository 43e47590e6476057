"""Recording stays as hospitals report them (HL7 v2 ADT, FHIR Encounter).

One function per event. Each looks the stay up among the reporting
hospital's own stays only, asks the policy through ``RecordAccess`` (one
trace entry on the record), and changes nothing if anything is wrong.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.persons.services import find_by_national_number
from opendsp.platform import PENDING_REFUSALS, Platform
from opendsp.professionals.models import Organisation
from opendsp.records.models import Record
from opendsp.records.services import record_of, trace_event
from opendsp.stays.models import PatientClass, Stay, StayMovement, StayState, VisitNumber
from opendsp.trace.models import Outcome
from opendsp.trace.service import RequestContext


class StayEvent(str, enum.Enum):
    plan = "plan"  # a FHIR Encounter created "planned" (A05 in HL7 v2, not received here)
    admit = "admit"  # A01
    transfer = "transfer"  # A02
    discharge = "discharge"  # A03
    register_outpatient = "register_outpatient"  # A04
    update = "update"  # A08
    cancel_admit = "cancel_admit"  # A11
    cancel_discharge = "cancel_discharge"  # A13


class StayReportRefused(Exception):
    """The report cannot be applied; ``field`` names the part of the message at fault."""

    def __init__(self, message: str, *, field: str, code: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class StayReport:
    event: StayEvent
    national_number: str
    visit_number: str
    occurred_at: datetime
    patient_class: PatientClass = PatientClass.inpatient
    care_unit_code: str | None = None
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None


def care_unit_identifier(hospital: Organisation, code: str) -> str:
    return f"{hospital.identifier}/{code}"


def apply_report(
    *,
    session: Session,
    platform: Platform,
    hospital: Organisation,
    report: StayReport,
    software: str,
    request: RequestContext = RequestContext(),
) -> Stay:
    person = find_by_national_number(session, report.national_number)
    record = record_of(session, person.id) if person else None
    if record is None:
        raise StayReportRefused(f"no record for national number {report.national_number}", field="PID-3", code="204")
    unit = _care_unit(session, hospital, report.care_unit_code)
    # The visit directory first (the message names no record), then the stay read by its record.
    visit = session.get(VisitNumber, (report.visit_number, hospital.id))
    if visit is not None and visit.record_id != record.id:
        raise StayReportRefused("this visit number belongs to another patient", field="PV1-19", code="205")
    stay = session.scalars(
        select(Stay).where(Stay.record_id == record.id, Stay.id == visit.stay_id)
    ).first() if visit is not None else None
    _check_transition(report.event, stay)

    access = RecordAccess(
        session=session, platform=platform, actor=actors.institution(hospital, software=software), request=request
    )
    access.authorise_stay_report(
        record.id,
        context={
            "event": report.event.value,
            "visit": report.visit_number,
            "care_unit": unit.name if unit else None,
            "at": report.occurred_at.isoformat(),
        },
    )
    now = platform.clock.now()
    if stay is None:
        stay = Stay(
            id=uuid.uuid4(),
            record_id=record.id,
            organisation_id=hospital.id,
            visit_number=report.visit_number,
            patient_class=PatientClass.outpatient if report.event is StayEvent.register_outpatient else report.patient_class,
            state=StayState.planned if report.event is StayEvent.plan else StayState.in_progress,
            admitted_at=report.admitted_at or report.occurred_at,
            updated_at=now,
        )
        session.add(stay)
        session.add(VisitNumber(visit_number=stay.visit_number, organisation_id=hospital.id, record_id=record.id,
                                stay_id=stay.id))
        _move(session, stay, record, unit, report.admitted_at or report.occurred_at)
    else:
        _apply(session, stay, record, unit, report)
    stay.updated_at = now
    session.flush()
    return stay


def read_stay(
    *,
    session: Session,
    platform: Platform,
    hospital: Organisation,
    stay_id: uuid.UUID,
    software: str,
    request: RequestContext = RequestContext(),
) -> Stay | None:
    """One of ``hospital``'s stays, read back through the policy (decided and traced on the stay's record).

    None for an unknown stay and for another hospital's: it does not exist for this one."""
    access = RecordAccess(
        session=session, platform=platform, actor=actors.institution(hospital, software=software), request=request
    )
    return access.read_stay(stay_id)


def trace_refused_report(
    *,
    session: Session,
    platform: Platform,
    hospital: Organisation,
    refused: StayReportRefused,
    software: str,
    request: RequestContext = RequestContext(),
    context: dict[str, Any] | None = None,
) -> None:
    """A refused report changes nothing but is traced on the platform's chain, as refused HL7 v2 messages are.

    Written with the refusals of ``session``'s transaction: again in a transaction of its own if it rolls back.
    """
    event = trace_event(
        actors.institution(hospital, software=software), "stay.report", record_id=None, outcome=Outcome.refused,
        reason=f"HL7 {refused.code}: {refused}"[:500], request=request,
        context={"location": refused.field, "hospital": str(hospital.id), **(context or {})},
    )

    def write(target: Session) -> None:
        platform.trace.append(target, event)

    write(session)
    session.info.setdefault(PENDING_REFUSALS, []).append(write)


def _care_unit(session: Session, hospital: Organisation, code: str | None) -> Organisation | None:
    if not code:
        return None
    unit = session.scalars(
        select(Organisation).where(
            Organisation.parent_id == hospital.id, Organisation.identifier == care_unit_identifier(hospital, code)
        )
    ).first()
    if unit is None:
        raise StayReportRefused(f"unknown care unit {code!r} of {hospital.name}", field="PV1-3", code="103")
    return unit


_NEEDS = {
    StayEvent.transfer: {StayState.in_progress},
    StayEvent.discharge: {StayState.in_progress},
    StayEvent.update: {StayState.in_progress, StayState.finished, StayState.planned},
    StayEvent.cancel_admit: {StayState.in_progress, StayState.planned},
    StayEvent.cancel_discharge: {StayState.finished},
}


def _check_transition(event: StayEvent, stay: Stay | None) -> None:
    if event in (StayEvent.admit, StayEvent.register_outpatient, StayEvent.plan):
        reusable = (StayState.cancelled,) if event is StayEvent.plan else (StayState.cancelled, StayState.planned)
        if stay is not None and stay.state not in reusable:
            raise StayReportRefused("this visit is already registered", field="PV1-19", code="205")
        return
    if stay is None:
        raise StayReportRefused("no stay with this visit number at this hospital", field="PV1-19", code="204")
    if stay.state not in _NEEDS[event]:
        raise StayReportRefused(
            f"a {stay.state.value.replace('_', ' ')} stay cannot take the event {event.value}", field="MSH-9", code="207"
        )


def _move(session: Session, stay: Stay, record: Record, unit: Organisation | None, at: datetime) -> None:
    stay.care_unit_id = unit.id if unit else None
    session.add(StayMovement(stay_id=stay.id, record_id=record.id, care_unit_id=stay.care_unit_id, moved_at=at))


def _apply(session: Session, stay: Stay, record: Record, unit: Organisation | None, report: StayReport) -> None:
    match report.event:
        case StayEvent.plan:  # a cancelled visit planned again
            stay.state = StayState.planned
            stay.cancelled_at = None
            stay.admitted_at = report.admitted_at
        case StayEvent.admit | StayEvent.register_outpatient:  # a planned visit admitted, or a cancelled one again
            stay.state = StayState.in_progress
            stay.cancelled_at = None
            stay.discharged_at = None
            stay.admitted_at = report.admitted_at or report.occurred_at
            _move(session, stay, record, unit, stay.admitted_at)
        case StayEvent.transfer:
            _move(session, stay, record, unit, report.occurred_at)
        case StayEvent.discharge:
            stay.state = StayState.finished
            stay.discharged_at = report.discharged_at or report.occurred_at
        case StayEvent.update:
            stay.patient_class = report.patient_class
            if report.admitted_at:
                stay.admitted_at = report.admitted_at
            if unit is not None and unit.id != stay.care_unit_id:
                _move(session, stay, record, unit, report.occurred_at)
        case StayEvent.cancel_admit:
            stay.state = StayState.cancelled
            stay.cancelled_at = report.occurred_at
        case StayEvent.cancel_discharge:
            stay.state = StayState.in_progress
            stay.discharged_at = None
