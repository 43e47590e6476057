""""My patients" is the policy: its SQL form lists exactly the records ``decide`` lets the professional open,
with the basis ``decide`` gives, over random settings (blocks, closed records, refused institutions, stays by
care unit, expired grants, the holder's emergency setting)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.models import (
    AccessSettings,
    BlockedProfessional,
    CircleMember,
    EmergencyAccess,
    PresenceGrant,
)
from opendsp.platform import Platform
from opendsp.policy import Action
from opendsp.policy.patients import patients_query
from opendsp.professionals.models import Organisation, OrganisationKind
from opendsp.records.models import RecordState
from opendsp.stays.models import InstitutionalRefusal, PatientClass, Stay, StayState
from tests.factories import as_professional, make_organisation, make_professional, make_record

DB_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
HOUR = timedelta(hours=1)
WHERE = ["hospital", "care unit", "other hospital"]  # where a stay is, seen from the professional's organisation
STAY_STATES = ["in progress", "discharged yesterday", "discharged a month ago", "cancelled"]

record_settings = st.fixed_dictionaries({
    "state": st.sampled_from([RecordState.active] * 3 + [RecordState.closed, RecordState.created]),
    "circle": st.sampled_from(["none", "none", "current", "expired", "removed"]),
    "referring": st.sampled_from([False, False, True]),
    "blocked": st.sampled_from([False, False, True]),
    "presence": st.sampled_from(["none", "none", "current", "expired"]),
    "emergency": st.sampled_from(["none", "none", "current", "expired"]),
    "emergency_allowed": st.booleans(),
    "stays": st.lists(st.tuples(st.sampled_from(WHERE), st.sampled_from(STAY_STATES)), min_size=1, max_size=2),
    "refusal": st.sampled_from(["none", "none", "none", "all stays", "this hospital"]),
})


@DB_SETTINGS
@given(
    records=st.lists(record_settings, min_size=2, max_size=6),
    acting_for=st.sampled_from(["hospital", "care unit"] * 2 + ["practice", "nothing"]),
    profession=st.sampled_from([("physician", ("general_practice",))] * 2 + [("nurse", ()), ("shaman", ())]),
)
def test_my_patients_in_sql_is_what_the_policy_decides(platform: Platform, records, acting_for, profession) -> None:  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital")
        unit = make_organisation(session, platform, OrganisationKind.hospital, name="Cardiologie")
        unit.parent_id = hospital.id
        other = make_organisation(session, platform, OrganisationKind.hospital, name="Autre hôpital")
        practice = make_organisation(session, platform, name="Cabinet")
        organisation = {"hospital": hospital, "care unit": unit, "practice": practice, "nothing": None}[acting_for]
        viewer = make_professional(session, platform, profession=profession[0], specialties=profession[1],
                                   organisation=organisation or practice)
        actor = actors.professional(viewer, organisation=organisation)
        places = {"hospital": (hospital, None), "care unit": (hospital, unit), "other hospital": (other, None)}
        ids = [_record(session, platform, viewer.id, places, setting) for setting in records]

        access = as_professional(session, platform, viewer)
        access.actor = actor
        expected = {}
        for record_id in ids:
            decision = access.would(record_id, Action.list_documents)
            if decision.permitted:
                assert decision.basis is not None
                expected[record_id] = decision.basis.value
        found = {record_id: basis for record_id, basis in session.execute(
            patients_query(actor=actor, now=platform.clock.now(), matrix=platform.matrix)) if record_id in ids}
        assert found == expected


def _record(session: Session, platform: Platform, viewer: uuid.UUID,
            places: dict[str, tuple[Organisation, Organisation | None]], setting: dict) -> uuid.UUID:  # type: ignore[type-arg]
    now = platform.clock.now()
    record = make_record(session, platform)
    record.state = setting["state"]
    rid = record.id
    session.add(AccessSettings(record_id=rid, emergency_allowed=setting["emergency_allowed"], updated_at=now,
                               referring_doctor_id=viewer if setting["referring"] else None))
    if setting["circle"] != "none":
        session.add(CircleMember(record_id=rid, professional_id=viewer, since=now - 48 * HOUR,
                                 until=now - HOUR if setting["circle"] == "expired" else None,
                                 removed_at=now - HOUR if setting["circle"] == "removed" else None))
    if setting["blocked"]:
        session.add(BlockedProfessional(record_id=rid, professional_id=viewer, since=now - HOUR))
    if setting["presence"] != "none":
        expires = now + HOUR if setting["presence"] == "current" else now - HOUR
        session.add(PresenceGrant(record_id=rid, professional_id=viewer, opened_at=expires - 24 * HOUR,
                                  expires_at=expires))
    if setting["emergency"] != "none":
        expires = now + HOUR if setting["emergency"] == "current" else now - HOUR
        session.add(EmergencyAccess(record_id=rid, professional_id=viewer, reason="urgent",
                                    opened_at=expires - 12 * HOUR, expires_at=expires))
    for where, state in setting["stays"]:
        hospital, unit = places[where]
        discharged = {"discharged yesterday": now - 24 * HOUR, "discharged a month ago": now - 30 * 24 * HOUR}
        session.add(Stay(
            record_id=rid, organisation_id=hospital.id, care_unit_id=unit.id if unit else None,
            visit_number=uuid.uuid4().hex[:8], patient_class=PatientClass.inpatient,
            state={"in progress": StayState.in_progress, "cancelled": StayState.cancelled}.get(state,
                                                                                           StayState.finished),
            admitted_at=now - 40 * 24 * HOUR, discharged_at=discharged.get(state), updated_at=now - 24 * HOUR,
        ))
    if setting["refusal"] != "none":
        refused = places["hospital"][0].id if setting["refusal"] == "this hospital" else None
        session.add(InstitutionalRefusal(record_id=rid, organisation_id=refused, since=now - HOUR))
    session.flush()
    return rid


def test_a_stay_in_a_care_unit_opens_the_record_to_the_unit_not_to_the_whole_hospital(platform: Platform) -> None:
    """Regression: "My patients" matched stays by hospital where the policy matches by care unit."""
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital")
        unit = make_organisation(session, platform, OrganisationKind.hospital, name="Cardiologie")
        unit.parent_id = hospital.id
        viewer = make_professional(session, platform, profession="nurse", specialties=(), organisation=hospital)
        viewer.organisations.append(unit)
        places = {"hospital": (hospital, None), "care unit": (hospital, unit), "other hospital": (hospital, None)}
        setting = {"state": RecordState.active, "circle": "none", "referring": False, "blocked": False,
                   "presence": "none", "emergency": "none", "emergency_allowed": True,
                   "stays": [("care unit", "in progress")], "refusal": "none"}
        record_id = _record(session, platform, viewer.id, places, setting)
        now = platform.clock.now()
        for organisation, listed in ((hospital, False), (unit, True)):
            actor = actors.professional(viewer, organisation=organisation)
            found = [r for r, _ in session.execute(patients_query(actor=actor, now=now, matrix=platform.matrix))]
            assert (record_id in found) is listed, organisation.name
