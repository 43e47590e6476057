"""A professional's patients: the records they have a standing relation with, for the portal's "My patients".

Identity only (who, and on which basis), never clinical content: the caller
authorises and traces the list as a patient search
(``RecordAccess.authorise_patient_search``) before showing it. Whether the
professional may actually open a record is still decided by the policy on each
act (a block, a closed record or a refused institution win there).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from opendsp.access.models import AccessSettings, CircleMember, EmergencyAccess, PresenceGrant
from opendsp.persons.models import Person
from opendsp.records.models import Record
from opendsp.stays.models import Stay, StayState

# The order in which a record's relations are shown (the first one found is the record's badge).
KINDS = ("emergency", "referring_doctor", "circle", "presence_code", "stay")


@dataclass(frozen=True)
class Relation:
    record_id: uuid.UUID
    person: Person
    kind: str  # one of KINDS
    since: datetime | None
    until: datetime | None  # None: until the holder changes it, or while the stay lasts


def patients_of(
    session: Session, *, professional_id: uuid.UUID, organisation_id: uuid.UUID | None, now: datetime,
    presence_window: timedelta = timedelta(hours=24), after_discharge: timedelta = timedelta(days=7),
) -> list[Relation]:
    """Every record with a current relation, one line per record (its strongest relation), by name."""
    found: list[tuple[uuid.UUID, str, datetime | None, datetime | None]] = []
    for access in session.scalars(select(EmergencyAccess).where(
            EmergencyAccess.professional_id == professional_id, EmergencyAccess.expires_at > now)):
        found.append((access.record_id, "emergency", access.opened_at, access.expires_at))
    for record_id in session.scalars(select(AccessSettings.record_id).where(
            AccessSettings.referring_doctor_id == professional_id)):
        found.append((record_id, "referring_doctor", None, None))
    for member in session.scalars(select(CircleMember).where(
            CircleMember.professional_id == professional_id, CircleMember.removed_at.is_(None),
            or_(CircleMember.until.is_(None), CircleMember.until > now))):
        found.append((member.record_id, "circle", member.since, member.until))
    for grant in session.scalars(select(PresenceGrant).where(
            PresenceGrant.professional_id == professional_id, PresenceGrant.opened_at > now - presence_window,
            PresenceGrant.expires_at > now)):
        found.append((grant.record_id, "presence_code", grant.opened_at, grant.expires_at))
    if organisation_id is not None:
        # A stay opens the record while it lasts and for a while after discharge (the policy's parameter).
        for stay in session.scalars(select(Stay).where(
                or_(Stay.state == StayState.in_progress,
                    and_(Stay.state == StayState.finished, Stay.discharged_at > now - after_discharge)),
                or_(Stay.organisation_id == organisation_id, Stay.care_unit_id == organisation_id))):
            ends = stay.discharged_at + after_discharge if stay.discharged_at else None
            found.append((stay.record_id, "stay", stay.admitted_at, ends))
    best: dict[uuid.UUID, tuple[str, datetime | None, datetime | None]] = {}
    for record_id, kind, since, until in found:
        if record_id not in best or KINDS.index(kind) < KINDS.index(best[record_id][0]):
            best[record_id] = (kind, since, until)
    if not best:
        return []
    rows = session.execute(select(Record.id, Person).join(Person, Person.id == Record.person_id)
                           .where(Record.id.in_(list(best)))).all()
    relations = [Relation(record_id, person, *best[record_id]) for record_id, person in rows]
    return sorted(relations, key=lambda r: (r.kind != "emergency", r.person.family_name, r.person.given_name,
                                            str(r.record_id)))
