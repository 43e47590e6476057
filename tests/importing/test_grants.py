"""The loader's grants of a whole batch of records equal what RecordAccess loads for each one."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from opendsp.access.services import RecordAccess
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.importing.grants import grants_of
from opendsp.persons.models import LegalRepresentation
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.factories import (
    as_holder,
    as_professional,
    holder_of,
    make_organisation,
    make_person,
    make_professional,
    make_record,
)


def test_a_batch_of_records_gets_the_grants_recordaccess_loads_one_by_one(
    platform: Platform, clock: FrozenClock
) -> None:
    with platform.transaction() as session:
        plain, chosen, minor = (make_record(session, platform), make_record(session, platform),
                                make_record(session, platform, birth=date(2015, 2, 3)))
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital")
        emergency = make_organisation(session, platform, OrganisationKind.emergency_department, name="Urgences")
        gp, other, blocked = (make_professional(session, platform) for _ in range(3))
        doctor = make_professional(session, platform, specialties=("emergency_medicine",), organisation=emergency)
        holder = as_holder(session, platform, chosen)
        holder.add_to_circle(chosen.id, gp.id)
        holder.add_to_circle(chosen.id, other.id, until=clock.now() + timedelta(days=30))
        holder.block(chosen.id, blocked.id)
        holder.set_referring_doctor(chosen.id, gp.id)
        holder.refuse_institution(chosen.id, hospital.id)
        code = holder.regenerate_presence_code(chosen.id)
        as_professional(session, platform, other).open_with_presence_code(chosen.id, code)
        as_professional(session, platform, doctor).open_emergency_access(chosen.id, "unconscious")
        holder.designate_assistant(chosen.id, make_person(session, platform, given_name="Paul").id)
        parent = make_person(session, platform, given_name="Mère")
        session.add(LegalRepresentation(minor_id=holder_of(session, minor).id, representative_id=parent.id,
                                        created_at=clock.now()))
        for record in (chosen, minor):
            apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
                event=StayEvent.admit, national_number=holder_of(session, record).national_number,
                visit_number=uuid.uuid4().hex[:8], occurred_at=clock.now(), patient_class=PatientClass.inpatient))
        as_holder(session, platform, minor).set_emergency_allowed(minor.id, False)
    clock.advance(timedelta(hours=1))
    with platform.sessions() as session:
        records = [session.get(Record, r.id) for r in (plain, chosen, minor)]
        batch = grants_of(session, records, now=clock.now(),
                          after_discharge=platform.matrix.parameters.after_discharge)
        access = RecordAccess(session=session, platform=platform, actor=SYSTEM)
        one_by_one = {record.id: access._grants(record) for record in records}
    assert batch == one_by_one
    assert batch[chosen.id].blocked and batch[chosen.id].presence and batch[chosen.id].emergency
    assert batch[chosen.id].assistants and batch[minor.id].representatives and batch[minor.id].stays
