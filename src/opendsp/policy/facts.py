"""The facts a decision is made from: plain values, loaded by the access layer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from opendsp.actors import Actor
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.policy.vocabulary import Action
from opendsp.records.models import RecordState

AGE_OF_MAJORITY = 18


@dataclass(frozen=True)
class RecordFacts:
    id: uuid.UUID
    state: RecordState
    holder_id: uuid.UUID
    holder_birth_date: date

    def holder_is_minor(self, on: date) -> bool:
        birthday = self.holder_birth_date
        try:
            majority = birthday.replace(year=birthday.year + AGE_OF_MAJORITY)
        except ValueError:  # born on 29 February
            majority = date(birthday.year + AGE_OF_MAJORITY, 3, 1)
        return on < majority


@dataclass(frozen=True)
class DocumentFacts:
    id: uuid.UUID
    type: DocumentType
    status: DocumentStatus
    confidentiality: ConfidentialityLevel = ConfidentialityLevel.normal
    author_id: uuid.UUID | None = None
    authored_by_holder: bool = False
    hidden: bool = False
    named_professionals: frozenset[uuid.UUID] = frozenset()
    visible_to_holder_from: datetime | None = None


@dataclass(frozen=True)
class StayGrant:
    """A hospital stay seen from the policy: who it opens the record to, and until when."""

    stay_id: uuid.UUID
    hospital_id: uuid.UUID
    # None while the stay is in progress; else the discharge plus the period after it.
    until: datetime | None


@dataclass(frozen=True)
class Grants:
    """The holder's choices and the accesses currently open, as of ``now``."""

    circle: dict[uuid.UUID, datetime | None] = field(default_factory=dict)  # professional -> until
    referring_doctor: uuid.UUID | None = None
    blocked: frozenset[uuid.UUID] = frozenset()
    emergency_allowed: bool = True
    presence: dict[uuid.UUID, datetime] = field(default_factory=dict)  # professional -> expires at
    emergency: dict[uuid.UUID, datetime] = field(default_factory=dict)  # professional -> expires at
    assistants: dict[uuid.UUID, datetime | None] = field(default_factory=dict)  # person -> until
    representatives: frozenset[uuid.UUID] = frozenset()  # persons
    # Stays in progress or recently finished, by the organisation (care unit or hospital) they open to.
    stays: dict[uuid.UUID, StayGrant] = field(default_factory=dict)
    institutional_access_allowed: bool = True
    refused_institutions: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class AccessRequest:
    actor: Actor
    action: Action
    record: RecordFacts | None
    now: datetime
    grants: Grants = field(default_factory=Grants)
    document: DocumentFacts | None = None
    # For deposits: the type the actor wants to deposit.
    document_type: DocumentType | None = None
    # For opening access: what the service observed.
    presence_code_valid: bool = False
    presence_code_locked: bool = False
    # One more wrong presence code would lock the code: this attempt is the last one before the lock.
    presence_code_last_attempt: bool = False
    emergency_reason: str | None = None
    # For patient lookups: the professional has used up their lookups of the period (counted from the trace).
    patient_lookups_exhausted: bool = False
    # For reading a stay back: the hospital that reported it.
    stay_hospital: uuid.UUID | None = None
    # The act names a document by its id (hiding one, ...): ``document`` is it, or None for an id that is
    # not one of the record's documents.
    names_document: bool = False
