"""A professional's patients, decided by the policy: the records they may open now, and on which basis.

"My patients" is not a rule of its own. A record is one of the professional's
patients exactly when ``decide`` permits them to list its documents now, and
its badge is the basis of that permit (referring doctor, trusted circle, a
stay of the organisation they act for, presence code, emergency access).

Two forms of that one rule, like ``Visibility`` and ``sql.visible_documents``:

- ``patient_basis``: the Python form, ``decide`` itself on one record's facts;
- ``patients_query``: the SQL form, every such record in one query.

A property test (tests/policy/test_patients_property.py) holds them equal over
random settings: blocks, closed records, refused institutions, stays by care
unit, expired grants and the holder's emergency setting included.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, literal, not_, or_, select

from opendsp.access.models import (
    AccessSettings,
    BlockedProfessional,
    CircleMember,
    EmergencyAccess,
    PresenceGrant,
)
from opendsp.actors import Actor, ActorKind
from opendsp.db import UTCDateTime
from opendsp.policy.decision import decide
from opendsp.policy.facts import AccessRequest
from opendsp.policy.matrix import RightsMatrix
from opendsp.policy.vocabulary import Action, Basis
from opendsp.records.models import Record, RecordState
from opendsp.stays.models import InstitutionalRefusal, Stay, StayState


def patient_basis(request: AccessRequest, matrix: RightsMatrix) -> Basis | None:
    """The Python form: the basis on which the actor may open this record now, or None."""
    decision = decide(AccessRequest(actor=request.actor, action=Action.list_documents, record=request.record,
                                    now=request.now, grants=request.grants), matrix)
    return decision.basis if decision.permitted else None


def patients_query(*, actor: Actor, now: datetime, matrix: RightsMatrix) -> Select[tuple[uuid.UUID, str]]:
    """The SQL form: (record id, basis) for every record the actor may open now, in the policy's order of bases."""
    rights = (matrix.rights_of(actor.profession, actor.specialties, actor.organisation_kind)
              if actor.kind is ActorKind.professional else None)
    if rights is None:
        return select(Record.id, literal("")).where(false())
    professional = uuid.UUID(actor.id)
    referring = exists().where(AccessSettings.record_id == Record.id,
                               AccessSettings.referring_doctor_id == professional)
    circle = exists().where(CircleMember.record_id == Record.id, CircleMember.professional_id == professional,
                            CircleMember.removed_at.is_(None),
                            or_(CircleMember.until.is_(None), CircleMember.until > now))
    presence = exists().where(PresenceGrant.record_id == Record.id, PresenceGrant.professional_id == professional,
                              PresenceGrant.expires_at > now)
    emergency = and_(
        exists().where(EmergencyAccess.record_id == Record.id, EmergencyAccess.professional_id == professional,
                       EmergencyAccess.expires_at > now),
        not_(exists().where(AccessSettings.record_id == Record.id, AccessSettings.emergency_allowed.is_(False))),
    )
    stay = _stay(actor.organisation_id, now, matrix)
    blocked = exists().where(BlockedProfessional.record_id == Record.id,
                             BlockedProfessional.professional_id == professional,
                             BlockedProfessional.removed_at.is_(None))
    # The same order as the policy's: the first basis that holds is the one the permit gives.
    basis = case(
        (referring, Basis.referring_doctor.value),
        (circle, Basis.circle.value),
        (stay, Basis.stay.value),
        (presence, Basis.presence_code.value),
        (emergency, Basis.emergency.value),
        else_=literal(""),
    )
    return select(Record.id, basis.label("basis")).where(
        Record.state == RecordState.active, not_(blocked), or_(referring, circle, stay, presence, emergency)
    )


def _stay(organisation: uuid.UUID | None, now: datetime, matrix: RightsMatrix) -> ColumnElement[bool]:
    """A stay opens the record to the care unit (or, without one, the hospital) it is in, while it lasts and
    for the period after discharge, unless the holder refused stays, or stays at that hospital."""
    if organisation is None:
        return false()
    ended = func.coalesce(Stay.discharged_at, Stay.updated_at, type_=UTCDateTime())
    refused_all = exists().where(InstitutionalRefusal.record_id == Record.id,
                                 InstitutionalRefusal.organisation_id.is_(None),
                                 InstitutionalRefusal.removed_at.is_(None))
    refused_here = exists().where(InstitutionalRefusal.record_id == Stay.record_id,
                                  InstitutionalRefusal.organisation_id == Stay.organisation_id,
                                  InstitutionalRefusal.removed_at.is_(None))
    return and_(
        not_(refused_all),
        exists().where(
            Stay.record_id == Record.id,
            func.coalesce(Stay.care_unit_id, Stay.organisation_id) == organisation,
            or_(Stay.state == StayState.in_progress,
                and_(Stay.state == StayState.finished, ended > now - matrix.parameters.after_discharge)),
            not_(refused_here),
        ),
    )
