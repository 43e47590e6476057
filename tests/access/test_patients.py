"""A professional's "My patients": the stays of their organisation, while they last and for the period after."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opendsp.access.patients import patients_of
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.factories import make_organisation, make_professional, make_record

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
        found = patients_of(session, professional_id=nurse.id, organisation_id=hospital.id, now=clock.now(),
                            after_discharge=WEEK)
        assert [(r.record_id, r.kind) for r in found] == ([(record.id, "stay")] if listed else [])
        if listed and StayEvent.discharge in events:
            assert found[0].until is not None and found[0].until - found[0].since <= WEEK
