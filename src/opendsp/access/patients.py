"""A professional's patients, for the portal's "My patients": the records the policy lets them open now.

Which records, and on which basis, is decided by the policy's SQL form of the
rule (``opendsp.policy.patients.patients_query``), property-tested equal to
``decide``: a block, a closed record, a refused institution or a stay in
another care unit keep a record off the list, exactly as they refuse it on
every act. This module only adds what the page shows beside each record (its
holder's identity, since when and until when), and authorises and traces the
list as a patient search before anything of it is shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from opendsp.access.models import CircleMember, EmergencyAccess, PresenceGrant
from opendsp.access.services import RecordAccess
from opendsp.persons.models import Person
from opendsp.policy.patients import patients_query
from opendsp.policy.vocabulary import Basis
from opendsp.records.models import Record
from opendsp.stays.models import Stay, StayState

# The bases a record can be listed on, as the page names them (``Basis`` values).
KINDS = (Basis.emergency.value, Basis.referring_doctor.value, Basis.circle.value, Basis.presence_code.value,
         Basis.stay.value)


@dataclass(frozen=True)
class Relation:
    record_id: uuid.UUID
    person: Person
    kind: str  # the basis of the policy's permit, one of KINDS
    since: datetime | None
    until: datetime | None  # None: until the holder changes it, or while the stay lasts


def patients_of(access: RecordAccess) -> list[Relation]:
    """Every record the professional may open now, one line per record (its basis), emergencies first, by name.

    Identity only: the list is authorised and traced as a patient search (with who was found) first.
    """
    actor, session, now = access.actor, access.session, access.now
    listed = dict(session.execute(patients_query(actor=actor, now=now, matrix=access.matrix)).all())
    rows = session.execute(select(Record.id, Person).join(Person, Person.id == Record.person_id)
                           .where(Record.id.in_(list(listed)))).all() if listed else []
    access.authorise_patient_search(criteria=["my_patients"], found=[person.id for _, person in rows])
    relations = [Relation(record_id, person, listed[record_id], *_dates(access, record_id, listed[record_id]))
                 for record_id, person in rows]
    return sorted(relations, key=lambda r: (r.kind != Basis.emergency.value, r.person.family_name,
                                            r.person.given_name, str(r.record_id)))


def _dates(access: RecordAccess, record_id: uuid.UUID, kind: str) -> tuple[datetime | None, datetime | None]:
    """Since when and until when the basis holds, for the page (the policy decided that it holds now)."""
    session, now, professional = access.session, access.now, uuid.UUID(access.actor.id)
    if kind == Basis.circle.value:
        member = session.scalars(select(CircleMember).where(
            CircleMember.record_id == record_id, CircleMember.professional_id == professional,
            CircleMember.removed_at.is_(None)).order_by(CircleMember.since.desc())).first()
        return (member.since, member.until) if member else (None, None)
    if kind in (Basis.presence_code.value, Basis.emergency.value):
        model = PresenceGrant if kind == Basis.presence_code.value else EmergencyAccess
        grant = session.scalars(select(model).where(
            model.record_id == record_id, model.professional_id == professional, model.expires_at > now,
        ).order_by(model.expires_at.desc())).first()
        return (grant.opened_at, grant.expires_at) if grant else (None, None)
    if kind == Basis.stay.value:
        organisation = access.actor.organisation_id
        stays = session.scalars(select(Stay).where(
            Stay.record_id == record_id, Stay.state.in_([StayState.in_progress, StayState.finished]),
            func.coalesce(Stay.care_unit_id, Stay.organisation_id) == organisation,  # the policy's scope
        ).order_by(Stay.admitted_at.desc())).all()
        after = access.matrix.parameters.after_discharge
        for stay in stays:
            if stay.state is StayState.in_progress:
                return stay.admitted_at, None
        latest = stays[0] if stays else None
        return (latest.admitted_at, (latest.discharged_at or latest.updated_at) + after) if latest else (None, None)
    return None, None
