"""A professional's "My patients": the stays of their organisation, while they last and for the period after."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opendsp.access.patients import patients_of
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.policy import Action
from opendsp.professionals.models import OrganisationKind
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.factories import as_holder, as_professional, make_organisation, make_professional, make_record

WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("events", "days_later", "listed"),
    [
        ([StayEvent.admit], 0, True),  # in progress
        ([StayEvent.admit], 30, True),  # still in progress a month later
        ([StayEvent.admit, StayEvent.discharge], 6, True),  # discharged, within the week after
        ([StayEvent.admit, StayEvent.discharge], 8, False),  # the week after discharge is over
        ([StayEvent.admit, StayEvent.cancel_admit], 0, False),  # a cancelled admission opens nothing
    ],
)
def test_stays_of_the_organisation(platform: Platform, clock: FrozenClock, events: list[StayEvent],
                                   days_later: int, listed: bool) -> None:
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital)
        nurse = make_professional(session, platform, profession="nurse", specialties=(), organisation=hospital)
        record = make_record(session, platform)
        for event in events:
            apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
                event=event, national_number=record.holder.national_number, visit_number="V1",
                occurred_at=clock.now(), patient_class=PatientClass.inpatient))
        clock.advance(timedelta(days=days_later))
        found = patients_of(as_professional(session, platform, nurse))
        assert [(r.record_id, r.kind) for r in found] == ([(record.id, "stay")] if listed else [])
        if listed and StayEvent.discharge in events:
            assert found[0].until is not None and found[0].until - found[0].since <= WEEK


@pytest.mark.parametrize(
    "holder_says",
    ["block", "close", "refuse stays", "refuse this hospital", "nothing"],
)
def test_my_patients_leaves_out_what_the_policy_refuses(platform: Platform, clock: FrozenClock,
                                                        holder_says: str) -> None:
    """Regression: "My patients" listed blocked professionals' patients, closed records and refused hospitals."""
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital)
        doctor = make_professional(session, platform, organisation=hospital)
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        if holder_says in ("block", "close"):  # a block, or a closed record, wins over the circle too
            holder.add_to_circle(record.id, doctor.id)
        apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
            event=StayEvent.admit, national_number=record.holder.national_number, visit_number="V1",
            occurred_at=clock.now(), patient_class=PatientClass.inpatient))
        match holder_says:
            case "block":
                holder.block(record.id, doctor.id)
            case "close":
                holder.close(record.id)
            case "refuse stays":
                holder.set_institutional_access(record.id, False)
            case "refuse this hospital":
                holder.refuse_institution(record.id, hospital.id)
        access = as_professional(session, platform, doctor)
        listed = [r.record_id for r in patients_of(access)]
        assert (record.id in listed) is (holder_says == "nothing")
        assert (record.id in listed) is access.may(record.id, Action.list_documents)
