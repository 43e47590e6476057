"""``RecordAccess``: every act on a record, decided by the policy and traced.

Built once per request from the authenticated actor. Each public method loads
the facts, asks ``decide``, writes exactly one trace entry for that decision
(a refusal survives a rollback of the request), raises ``AccessDenied`` on a
refusal, and only then acts through the storage services with the permit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from opendsp.access import presence
from opendsp.access.models import (
    AccessSettings,
    AssistantDelegation,
    BlockedProfessional,
    CircleMember,
    DocumentNamedProfessional,
    EmergencyAccess,
    Notification,
    PresenceGrant,
    Wish,
)
from opendsp.access.exchange_criteria import DocumentCriterion, EntryCriterion, document_conditions, entry_conditions
from opendsp.access.trace_reading import TraceLine, TraceQuery, TraceReading, describe
from opendsp.access.wishes import ANSWERS, WishKind, WishValue
from opendsp.actors import Actor, ActorKind
from opendsp.content.service import ContentUnavailable
from opendsp.documents import services as documents
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.notifications import services as notifications
from opendsp.notifications.models import NotificationKind
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import PENDING_REFUSALS, Platform
from opendsp.policy.decision import AccessDenied, Decision, Visibility, acting_role, decide, stay_basis, visibility
from opendsp.policy.facts import AccessRequest, DocumentFacts, Grants, RecordFacts, StayGrant
from opendsp.policy.matrix import RightsMatrix
from opendsp.policy.sql import visible_documents
from opendsp.policy.vocabulary import Action, Basis, Obligation, Reason
from opendsp.professionals import services as directory
from opendsp.professionals.models import Organisation, Professional
from opendsp.records import services as records
from opendsp.records.models import Record, RecordState
from opendsp.stays.models import InstitutionalRefusal, Stay, StayState
from opendsp.structured.models import StructuredEntry
from opendsp.submissions.models import DocumentContext, SubmissionSet, SubmittedDocument
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import RequestContext, TraceEvent

__all__ = [
    "AccessDenied", "Consultation", "ContentUnavailable", "DocumentPage", "DocumentReading", "DocumentsReading", "InvalidRequest",
    "RecordAccess", "RecordNotFound",
]


class RecordNotFound(LookupError):
    """No record with that id."""


class InvalidRequest(ValueError):
    """The request itself is wrong (unknown professional, bad date, ...): nothing was changed."""


@dataclass(frozen=True)
class DocumentPage:
    items: list[Document]
    total: int
    # The decision that let the caller list the record (its basis: circle, presence code, emergency, ...).
    permit: Decision | None = None
    # With ``with_versions``: for each listed document that has other versions, those the caller may see.
    versions: dict[uuid.UUID, list[Document]] = field(default_factory=dict)


@dataclass(frozen=True)
class Consultation:
    document: Document
    permit: Decision
    chunks: Iterator[bytes]

    def read(self) -> bytes:
        return b"".join(self.chunks)


@dataclass(frozen=True)
class DocumentReading:
    """One document read as one act: its permit, the versions the reader may see, and its content on demand."""

    document: Document
    permit: Decision
    versions: list[Document]  # newest first, the document itself included
    chunks: Callable[[], Iterator[bytes]]

    def read(self) -> bytes:
        return b"".join(self.chunks())


@dataclass(frozen=True)
class DocumentsReading:
    """Many documents read for one view under one decision (and one trace entry)."""

    permit: Decision
    items: list[Consultation]
    total: int  # how many the reader may see under the conditions, of which ``items`` were read


@dataclass(frozen=True)
class StructuredSources:
    """Documents read for a structured view, and where each of their wanted entries is (position, type)."""

    reading: DocumentsReading
    positions: dict[uuid.UUID, list[tuple[int, str]]]


@dataclass(frozen=True)
class Timeline:
    """Documents and stays of a record, read as one act."""

    permit: Decision
    documents: list[Document]
    stays: list[Stay]


@dataclass(frozen=True)
class ProfessionalChoice:
    """A professional in the circle or blocked, with what the holder said about them."""

    professional: Professional
    since: datetime | None
    until: datetime | None
    comment: str | None


@dataclass(frozen=True)
class AccessChoices:
    circle: list[ProfessionalChoice]
    referring_doctor: Professional | None
    blocked: list[ProfessionalChoice]
    emergency_allowed: bool
    institutional_access_allowed: bool
    refused_institutions: list[Organisation]
    hospitals: list[Organisation]  # the organisations whose stays may open the record
    presence_code_set_at: datetime | None


@dataclass(frozen=True)
class AssistantChoice:
    person: Person
    since: datetime
    until: datetime | None


@dataclass(frozen=True)
class HolderSide:
    assistants: list[AssistantChoice]
    representatives: list[Person]  # legal representatives, while the holder is a minor


@dataclass(frozen=True)
class TracePage:
    lines: list[TraceLine]
    total: int


@dataclass(frozen=True)
class RecordExport:
    """An export decided and traced: its permit and what it is made of, as of ``at``."""

    permit: Decision
    record_id: uuid.UUID
    holder: Person
    at: datetime
    rule: Visibility
    upto_seq: int
    grants: Grants
    wishes: list[Wish]
    stays: list[Stay]


@dataclass(frozen=True)
class DocumentDetails:
    """A document decided visible, with what its sender gave beside it (exchange API)."""

    document: Document  # its author and author's organisation loaded with it
    person_id: uuid.UUID  # the record's holder
    master_identifier: str | None  # the sender's unique id (IHE MHD), if it came that way
    context: list[DocumentContext]  # practice setting, events, related references, as the sender gave them


@dataclass(frozen=True)
class DetailsPage:
    items: list[DocumentDetails]
    total: int


@dataclass(frozen=True)
class SubmissionSetView:
    """A submission set with the documents of it the reader may see."""

    submission_set: SubmissionSet
    document_ids: list[uuid.UUID]


@dataclass(frozen=True)
class SubmittedItem:
    """A document deposited in this request, to file in its submission set."""

    document: Document
    master_identifier: str
    context: list[dict[str, Any]]  # DocumentContext rows: element, position, system, code, display, reference


@dataclass(frozen=True)
class EntryAt:
    """Where a structured entry is: its document and its position in the document Bundle."""

    document_id: uuid.UUID
    position: int


@dataclass(frozen=True)
class StructuredEntries:
    """A page of structured entries read as one act; ``sources`` opens the content of their documents."""

    permit: Decision
    total: int
    entries: list[EntryAt]
    sources: dict[uuid.UUID, Consultation]


@dataclass(frozen=True)
class ConsentView:
    grants: Grants
    professionals: dict[uuid.UUID, Professional]  # those the choices name
    wishes: list[Wish]  # newest first


# A search of structured entries reads at most this many documents (their entries are then paged).
MAX_STRUCTURED_DOCUMENTS = 1000


# How long after reading a document's page its content shown in that page is covered by the page's entry.
PAGE_COVERS_CONTENT = timedelta(minutes=10)

# Which obligations and acts leave a notification for the holder, by trace action.
_NOTIFY_ON_PERMIT = {
    Action.open_with_presence_code: NotificationKind.presence_opened.value,
    Action.open_emergency_access: NotificationKind.emergency_opened.value,
}
# Refusals that notify: the wrong code that locks the presence code, and attempts while it is locked.
_NOTIFY_ON_REFUSAL = {
    Reason.wrong_presence_code: NotificationKind.presence_locked.value,
    Reason.presence_code_locked: NotificationKind.presence_locked.value,
}


class RecordAccess:
    def __init__(
        self,
        *,
        session: Session,
        platform: Platform,
        actor: Actor,
        request: RequestContext = RequestContext(),
        matrix: RightsMatrix | None = None,
    ) -> None:
        self.session = session
        self.platform = platform
        self.actor = actor
        self.request = request
        self.matrix = matrix or platform.matrix
        # The last trace entry written in this request: notifications of an act point to it.
        self._last_entry: TraceEntry | None = None

    @property
    def now(self) -> datetime:
        return self.platform.clock.now()

    # -- facts ----------------------------------------------------------------

    def _record(self, record_id: uuid.UUID) -> Record:
        record = self.session.get(Record, record_id)
        if record is None:
            raise RecordNotFound(f"no record {record_id}")
        return record

    def _record_facts(self, record: Record) -> RecordFacts:
        holder = self.session.get(Person, record.person_id)
        assert holder is not None
        return RecordFacts(id=record.id, state=record.state, holder_id=holder.id, holder_birth_date=holder.birth_date)

    def _grants(self, record: Record) -> Grants:
        session, now, record_id = self.session, self.now, record.id
        settings = session.get(AccessSettings, record_id)
        circle = {
            m.professional_id: m.until
            for m in session.scalars(
                select(CircleMember).where(CircleMember.record_id == record_id, CircleMember.removed_at.is_(None))
            )
        }
        blocked = frozenset(
            session.scalars(
                select(BlockedProfessional.professional_id).where(
                    BlockedProfessional.record_id == record_id, BlockedProfessional.removed_at.is_(None)
                )
            )
        )
        presence_grants: dict[uuid.UUID, datetime] = {}
        for professional_id, expires in session.execute(
            select(PresenceGrant.professional_id, PresenceGrant.expires_at).where(
                PresenceGrant.record_id == record_id, PresenceGrant.expires_at > now
            )
        ):
            presence_grants[professional_id] = max(expires, presence_grants.get(professional_id, expires))
        emergency: dict[uuid.UUID, datetime] = {}
        for professional_id, expires in session.execute(
            select(EmergencyAccess.professional_id, EmergencyAccess.expires_at).where(
                EmergencyAccess.record_id == record_id, EmergencyAccess.expires_at > now
            )
        ):
            emergency[professional_id] = max(expires, emergency.get(professional_id, expires))
        assistants = {
            d.assistant_id: d.until
            for d in session.scalars(
                select(AssistantDelegation).where(
                    AssistantDelegation.record_id == record_id, AssistantDelegation.ended_at.is_(None)
                )
            )
        }
        representatives = frozenset(
            session.scalars(
                select(LegalRepresentation.representative_id).where(LegalRepresentation.minor_id == record.person_id)
            )
        )
        refusals = list(
            session.scalars(
                select(InstitutionalRefusal.organisation_id).where(
                    InstitutionalRefusal.record_id == record_id, InstitutionalRefusal.removed_at.is_(None)
                )
            )
        )
        return Grants(
            circle=circle,
            referring_doctor=settings.referring_doctor_id if settings else None,
            blocked=blocked,
            emergency_allowed=settings.emergency_allowed if settings else True,
            presence=presence_grants,
            emergency=emergency,
            assistants=assistants,
            representatives=representatives,
            stays=self._stay_grants(record_id),
            institutional_access_allowed=None not in refusals,
            refused_institutions=frozenset(r for r in refusals if r is not None),
        )

    def _stay_grants(self, record_id: uuid.UUID) -> dict[uuid.UUID, StayGrant]:
        """Stays that open the record now: in progress, or finished within the period after discharge."""
        after = self.matrix.parameters.after_discharge
        grants: dict[uuid.UUID, StayGrant] = {}
        for stay in self.session.scalars(
            select(Stay)
            .where(Stay.record_id == record_id, Stay.state.in_([StayState.in_progress, StayState.finished]))
            .order_by(Stay.admitted_at)
        ):
            until = None if stay.state is StayState.in_progress else (stay.discharged_at or stay.updated_at) + after
            scope = stay.care_unit_id or stay.organisation_id
            current = grants.get(scope)
            if current is None or current.until is not None and (until is None or until > current.until):
                grants[scope] = StayGrant(stay_id=stay.id, hospital_id=stay.organisation_id, until=until)
        return grants

    def _document_facts(self, document: Document) -> DocumentFacts:
        named = frozenset(
            self.session.scalars(
                select(DocumentNamedProfessional.professional_id).where(
                    DocumentNamedProfessional.document_id == document.id
                )
            )
        )
        return DocumentFacts(
            id=document.id,
            type=document.type,
            status=document.status,
            confidentiality=document.confidentiality,
            author_id=document.author_professional_id,
            authored_by_holder=document.authored_by_holder,
            hidden=document.hidden_at is not None,
            named_professionals=named,
            visible_to_holder_from=document.visible_to_holder_from,
        )

    def _request(self, action: Action, record: Record | None, document: Document | None = None, **facts: Any) -> AccessRequest:
        return AccessRequest(
            actor=self.actor,
            action=action,
            record=self._record_facts(record) if record else None,
            now=self.now,
            grants=self._grants(record) if record else Grants(),
            document=self._document_facts(document) if document else None,
            **facts,
        )

    # -- deciding and tracing -------------------------------------------------

    def _authorise(
        self,
        action: Action,
        record: Record | None,
        *,
        document: Document | None = None,
        trace_document: uuid.UUID | None = None,
        context: dict[str, Any] | None = None,
        **facts: Any,
    ) -> Decision:
        """Decide, trace the decision once, and raise AccessDenied on a refusal."""
        request = self._request(action, record, document, **facts)
        decision = decide(request, self.matrix)
        context = dict(context or {})
        if decision.basis is Basis.stay:
            context["stay"] = self._stay_context(request)
        self._trace(decision, document_id=trace_document or decision.document_id, context=context)
        if not decision.permitted:
            raise AccessDenied(decision)
        return decision

    def _stay_context(self, request: AccessRequest) -> dict[str, Any]:
        """What the holder reads in the trace: which stay, where, from when to when."""
        grant = stay_basis(request)
        stay = self.session.get(Stay, grant.stay_id) if grant else None
        if stay is None:
            return {}
        return {
            "id": str(stay.id),
            "organisation": stay.organisation.name,
            "care_unit": stay.care_unit.name if stay.care_unit else None,
            "from": _plain(stay.admitted_at),
            "to": _plain(stay.discharged_at),
        }

    def _event(self, decision: Decision, *, document_id: uuid.UUID | None, context: dict[str, Any]) -> TraceEvent:
        actor = self.actor
        details = dict(context)
        if Obligation.trace_as_emergency in decision.obligations:
            details["emergency"] = True
        if actor.organisation_id:
            details.setdefault("organisation", str(actor.organisation_id))
        if decision.how_to_obtain:
            details["how_to_obtain"] = list(decision.how_to_obtain)
        return TraceEvent(
            action=decision.action.value,
            outcome=Outcome.permitted if decision.permitted else Outcome.refused,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_display=actor.display,
            on_behalf_of=str(actor.on_behalf_of) if actor.on_behalf_of else None,
            record_id=decision.record_id,
            document_id=document_id,
            reason=decision.reason.value,
            basis=decision.basis.value if decision.basis else None,
            context=details,
            request=self.request,
        )

    def _trace(self, decision: Decision, *, document_id: uuid.UUID | None, context: dict[str, Any]) -> TraceEntry:
        event = self._event(decision, document_id=document_id, context=context)
        kind = self._notification_kind(decision)

        def write(session: Session) -> TraceEntry:
            entry = self.platform.trace.append(session, event)
            if kind and decision.record_id:
                self._notify(session, decision.record_id, kind, entry, context)
            return entry

        entry = write(self.session)
        self._last_entry = entry
        if not decision.permitted:
            # Written again in a transaction of its own if this one rolls back.
            self.session.info.setdefault(PENDING_REFUSALS, []).append(write)
        return entry

    def _notification_kind(self, decision: Decision) -> str | None:
        if Obligation.notify_holder not in decision.obligations:
            return None
        if decision.permitted:
            return _NOTIFY_ON_PERMIT.get(decision.action, decision.action.value)
        return _NOTIFY_ON_REFUSAL.get(decision.reason, decision.action.value)

    def _notify(
        self, session: Session, record_id: uuid.UUID, kind: str, entry: TraceEntry, context: dict[str, Any]
    ) -> None:
        """Called with the session the trace entry is written in: the act's, or the refusal's own."""
        if kind == NotificationKind.presence_locked.value:
            window = self.now - self.matrix.parameters.lockout_window
            already = session.scalar(
                select(func.count()).select_from(Notification).where(
                    Notification.record_id == record_id, Notification.kind == kind, Notification.created_at > window
                )
            )
            if already:
                return
        record = session.get(Record, record_id)
        assert record is not None
        notifications.notify(
            session, self.platform, record=record, kind=kind, trace_entry_id=entry.id,
            details={"actor": self.actor.display, **{k: v for k, v in context.items() if k != "reason_text"}},
        )

    # -- the holder's controls ------------------------------------------------

    def _settings(self, record: Record) -> AccessSettings:
        settings = self.session.get(AccessSettings, record.id)
        if settings is None:
            settings = AccessSettings(record_id=record.id, emergency_allowed=True, updated_at=self.now)
            self.session.add(settings)
        return settings

    def _professional(self, professional_id: uuid.UUID) -> Professional:
        professional = self.session.get(Professional, professional_id)
        if professional is None:
            raise InvalidRequest(f"no professional {professional_id}")
        return professional

    def _manage(self, record_id: uuid.UUID, change: str, **details: Any) -> tuple[Record, Decision]:
        record = self._record(record_id)
        context = {"change": change, **{k: _plain(v) for k, v in details.items()}}
        return record, self._authorise(Action.manage_access, record, context=context)

    def activate(self, record_id: uuid.UUID) -> Record:
        return self._change_state(record_id, Action.activate_record, RecordState.active)

    def close(self, record_id: uuid.UUID, *, reason: str | None = None) -> Record:
        return self._change_state(record_id, Action.close_record, RecordState.closed, reason=reason)

    def reopen(self, record_id: uuid.UUID) -> Record:
        return self._change_state(record_id, Action.reopen_record, RecordState.active)

    def _change_state(
        self, record_id: uuid.UUID, action: Action, to_state: RecordState, *, reason: str | None = None
    ) -> Record:
        record = self._record(record_id)
        permit = self._authorise(action, record, context={"reason_text": reason} if reason else None)
        return records.change_state(
            session=self.session, platform=self.platform, permit=permit, record=record, to_state=to_state, reason=reason
        )

    def add_to_circle(
        self, record_id: uuid.UUID, professional_id: uuid.UUID, *, until: datetime | None = None, comment: str | None = None
    ) -> CircleMember:
        professional = self._professional(professional_id)
        if until is not None and until <= self.now:
            raise InvalidRequest("the end of a circle membership must be in the future")
        record, _ = self._manage(record_id, "circle.add", professional=professional.id, until=until)
        member = self.session.scalars(
            select(CircleMember).where(
                CircleMember.record_id == record.id,
                CircleMember.professional_id == professional.id,
                CircleMember.removed_at.is_(None),
            )
        ).first()
        if member is None:
            member = CircleMember(record_id=record.id, professional_id=professional.id, since=self.now)
            self.session.add(member)
        member.until, member.comment = until, comment
        self.session.flush()
        return member

    def remove_from_circle(self, record_id: uuid.UUID, professional_id: uuid.UUID) -> None:
        record, _ = self._manage(record_id, "circle.remove", professional=professional_id)
        self._end(CircleMember, record, professional_id)

    def set_referring_doctor(self, record_id: uuid.UUID, professional_id: uuid.UUID | None) -> None:
        if professional_id is not None:
            professional = self._professional(professional_id)
            rights = self.matrix.rights_of(professional.profession, frozenset(professional.specialties))
            if rights is None or DocumentType.patient_summary not in rights.deposit:
                raise InvalidRequest(f"{professional.display_name} cannot be a referring doctor")
        record, _ = self._manage(record_id, "referring_doctor.set", professional=professional_id)
        self._settings(record).referring_doctor_id = professional_id
        self._touch(record)

    def set_emergency_allowed(self, record_id: uuid.UUID, allowed: bool) -> None:
        record, _ = self._manage(record_id, "emergency.allow" if allowed else "emergency.refuse")
        self._settings(record).emergency_allowed = allowed
        self._touch(record)

    def block(self, record_id: uuid.UUID, professional_id: uuid.UUID) -> None:
        professional = self._professional(professional_id)
        record, _ = self._manage(record_id, "block.add", professional=professional.id)
        if professional.id not in self._grants(record).blocked:
            self.session.add(BlockedProfessional(record_id=record.id, professional_id=professional.id, since=self.now))
        self.session.flush()

    def unblock(self, record_id: uuid.UUID, professional_id: uuid.UUID) -> None:
        record, _ = self._manage(record_id, "block.remove", professional=professional_id)
        self._end(BlockedProfessional, record, professional_id)

    def _end(
        self, model: type[CircleMember] | type[BlockedProfessional], record: Record, professional_id: uuid.UUID
    ) -> None:
        """End a professional's circle membership or block; the row stays, as history."""
        for row in self.session.scalars(
            select(model).where(
                model.record_id == record.id, model.professional_id == professional_id, model.removed_at.is_(None)
            )
        ):
            row.removed_at = self.now
        self.session.flush()

    def regenerate_presence_code(self, record_id: uuid.UUID) -> str:
        """A new presence code, shown once; the old one stops working at once."""
        record, _ = self._manage(record_id, "presence_code.regenerate")
        return self._new_presence_code(record)

    def issue_presence_code(self, record_id: uuid.UUID) -> str:
        """A presence code for the activation letter (agency or platform job); replaces the previous one."""
        record = self._record(record_id)
        self._authorise(Action.manage_accounts, record, context={"change": "presence_code.issue"})
        return self._new_presence_code(record)

    def _new_presence_code(self, record: Record) -> str:
        """Draw a code, keep only its hash: the previous code stops working at once."""
        code = presence.new_code(self.platform.randomness)
        settings = self._settings(record)
        settings.presence_code_hash = presence.hash_code(code)
        settings.presence_code_set_at = self.now
        self._touch(record)
        return code

    def acting_as(self, record_id: uuid.UUID) -> Actor | None:
        """The actor through which the caller (a person, as themselves) may act for the record now, as the
        policy decides (``acting_role``): a question asked without acting or tracing; None when no role holds."""
        from opendsp import actors

        record = self._record(record_id)
        person = self.session.get(Person, uuid.UUID(self.actor.id))
        holder = self.session.get(Person, record.person_id)
        if person is None or holder is None or person.id == holder.id:
            return None
        candidates = {ActorKind.representative: actors.representative(person, acting_for=holder),
                      ActorKind.assistant: actors.assistant(person, acting_for=holder)}
        base = self._request(Action.enter_record, record)
        kind = acting_role({k: replace(base, actor=a) for k, a in candidates.items()}, self.matrix)
        return candidates[kind] if kind is not None else None

    def enter(self, record_id: uuid.UUID) -> Decision:
        """An assistant or a legal representative switching to the record they act for."""
        return self._authorise(Action.enter_record, self._record(record_id))

    def _document_of(self, document_id: uuid.UUID) -> tuple[Document | None, Record | None]:
        document = self.session.get(Document, document_id)
        return (document, self.session.get(Record, document.record_id)) if document else (None, None)

    def _manage_document(self, document_id: uuid.UUID, change: str, **details: Any) -> Document:
        document, record = self._document_of(document_id)
        context = {"change": change, **{k: _plain(v) for k, v in details.items()}}
        self._authorise(Action.manage_access, record, document=document, trace_document=document_id, context=context)
        assert document is not None  # a missing document is refused above
        return document

    def set_hidden_in(self, record_id: uuid.UUID, document_id: uuid.UUID, *, hidden: bool) -> Document:
        """Hide a document of the record from every professional, or show it again, as ONE act: one decision
        (the document named must be one the holder's side sees, else it is not found) and one trace entry."""
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        self._authorise(Action.manage_access, record, document=document, names_document=True,
                        trace_document=document.id if document else None,
                        context={"change": "document.hide" if hidden else "document.unhide"})
        assert document is not None  # a missing document is refused above
        document.hidden_at = (document.hidden_at or self.now) if hidden else None
        self.session.flush()
        return document

    def hide(self, document_id: uuid.UUID) -> None:
        document = self._manage_document(document_id, "document.hide")
        document.hidden_at = document.hidden_at or self.now
        self.session.flush()

    def unhide(self, document_id: uuid.UUID) -> None:
        document = self._manage_document(document_id, "document.unhide")
        document.hidden_at = None
        self.session.flush()

    def set_confidentiality(
        self, document_id: uuid.UUID, level: ConfidentialityLevel, *, named: Iterable[uuid.UUID] = ()
    ) -> None:
        """Normal, or restricted to the author, the referring doctor and the professionals named."""
        readers = sorted(set(named))
        for professional_id in readers:
            self._professional(professional_id)
        if level is ConfidentialityLevel.normal and readers:
            raise InvalidRequest("professionals are named only for a restricted document")
        document = self._manage_document(document_id, "document.confidentiality", level=level.value, named=readers)
        document.confidentiality = level
        existing = self.session.scalars(
            select(DocumentNamedProfessional).where(DocumentNamedProfessional.document_id == document.id)
        )
        for row in existing:
            self.session.delete(row)
        self.session.flush()
        for professional_id in readers:
            self.session.add(
                DocumentNamedProfessional(
                    document_id=document.id, professional_id=professional_id, record_id=document.record_id
                )
            )
        self.session.flush()

    def designate_assistant(
        self,
        record_id: uuid.UUID,
        person_id: uuid.UUID,
        *,
        until: datetime | None = None,
        invitation: uuid.UUID | None = None,
    ) -> AssistantDelegation:
        """Name an assistant; ``invitation``: the e-mail invitation this carries out at its acceptance (traced)."""
        record = self._record(record_id)
        person = self.session.get(Person, person_id)
        if person is None:
            raise InvalidRequest(f"no person {person_id}")
        if person.id == record.person_id:
            raise InvalidRequest("the holder cannot be their own assistant")
        if until is not None and until <= self.now:
            raise InvalidRequest("the end of a delegation must be in the future")
        context = {"change": "assistant.add", "assistant": str(person.id), "until": _plain(until)}
        if invitation is not None:
            context["invitation"] = str(invitation)
        self._authorise(Action.manage_assistants, record, context=context)
        delegation = self.session.scalars(
            select(AssistantDelegation).where(
                AssistantDelegation.record_id == record.id,
                AssistantDelegation.assistant_id == person.id,
                AssistantDelegation.ended_at.is_(None),
            )
        ).first()
        change = "added" if delegation is None else "changed"  # named again: a new end date
        if delegation is None:
            delegation = AssistantDelegation(record_id=record.id, assistant_id=person.id, since=self.now)
            self.session.add(delegation)
        delegation.until = until
        self.session.flush()
        self._notify_change(record, NotificationKind.assistant_changed.value,
                            {"assistant": person.display_name, "change": change})
        return delegation

    def authorise_assistant_invitation(self, record_id: uuid.UUID, context: dict[str, Any]) -> Decision:
        """Inviting an assistant by e-mail is managing assistants: the policy decides, the decision is traced."""
        record = self._record(record_id)
        return self._authorise(Action.manage_assistants, record, context={"change": "assistant.invite", **context})

    def end_assistant(self, record_id: uuid.UUID, person_id: uuid.UUID) -> None:
        record = self._record(record_id)
        self._authorise(
            Action.manage_assistants, record, context={"change": "assistant.end", "assistant": str(person_id)}
        )
        ended = self.session.scalars(
            select(AssistantDelegation).where(
                AssistantDelegation.record_id == record.id,
                AssistantDelegation.assistant_id == person_id,
                AssistantDelegation.ended_at.is_(None),
            )
        ).all()
        for delegation in ended:
            delegation.ended_at = self.now
        self.session.flush()
        if ended:  # the holder's side is told of the change (the former assistant no longer is of it)
            assistant = self.session.get(Person, person_id)
            name = assistant.display_name if assistant else str(person_id)
            self._notify_change(record, NotificationKind.assistant_changed.value,
                                {"assistant": name, "change": "ended"})

    def _notify_change(
        self, record: Record, kind: str, details: dict[str, Any], *, shown_from: datetime | None = None
    ) -> None:
        """A notification of the act just decided and traced (its entry is the last one written)."""
        notifications.notify(
            self.session, self.platform, record=record, kind=kind, shown_from=shown_from, details=details,
            trace_entry_id=self._last_entry.id if self._last_entry is not None else None,
        )

    def _touch(self, record: Record) -> None:
        self._settings(record).updated_at = self.now
        self.session.flush()

    def set_institutional_access(self, record_id: uuid.UUID, allowed: bool) -> None:
        """Allow or refuse that any hospital stay opens the record."""
        self._set_institutional_refusal(record_id, None, refused=not allowed)

    def refuse_institution(self, record_id: uuid.UUID, organisation_id: uuid.UUID, *, refused: bool = True) -> None:
        """Refuse (or allow again) that a stay at one organisation opens the record."""
        if self.session.get(Organisation, organisation_id) is None:
            raise InvalidRequest(f"no organisation {organisation_id}")
        self._set_institutional_refusal(record_id, organisation_id, refused=refused)

    def _set_institutional_refusal(
        self, record_id: uuid.UUID, organisation_id: uuid.UUID | None, *, refused: bool
    ) -> None:
        change = "institutions.refuse" if refused else "institutions.allow"
        record, _ = self._manage(record_id, change, organisation=organisation_id)
        active = self.session.scalars(
            select(InstitutionalRefusal).where(
                InstitutionalRefusal.record_id == record.id,
                InstitutionalRefusal.organisation_id.is_(None)
                if organisation_id is None
                else InstitutionalRefusal.organisation_id == organisation_id,
                InstitutionalRefusal.removed_at.is_(None),
            )
        ).all()
        if refused and not active:
            self.session.add(
                InstitutionalRefusal(record_id=record.id, organisation_id=organisation_id, since=self.now)
            )
        for row in active if not refused else []:
            row.removed_at = self.now
        self.session.flush()

    def authorise_patient_search(self, *, criteria: list[str], found: list[uuid.UUID]) -> Decision:
        """A professional looking patients up (identity only): decided and traced, with who was found,
        on the platform's chain, before any result leaves."""
        return self._authorise(
            Action.find_patients, None, context={"criteria": criteria, "found": [str(f) for f in found]}
        )

    def find_patients(self, query: Select[tuple[Person]], *, criteria: dict[str, list[str]],
                      limit: int, offset: int) -> tuple[list[Person], int]:
        """A professional looking people up by their demographics (IHE PDQm): identity only.

        The search is decided first (the professional's lookups of the last hour are counted from the
        trace), then each person it matches: one whose record is closed, not activated or blocks the
        professional is not found for them. Each person found has the lookup in their own record's trace
        (so the holder sees who looked them up); the search itself is traced once, on the platform's chain.
        Matching is exact, so the people matched are few; the page and the total count only those found.
        """
        window = self.now - self.matrix.parameters.lookup_window
        used = self.session.scalar(
            select(func.count()).select_from(TraceEntry).where(
                TraceEntry.action == Action.find_patients.value, TraceEntry.record_id.is_(None),
                TraceEntry.actor_id == self.actor.id, TraceEntry.outcome == Outcome.permitted,
                TraceEntry.recorded_at > window,
                # "My patients" is decided as a search too, but looks nobody up: it does not count.
                ~cast(TraceEntry.context, String).contains('"my_patients"'),
            )
        ) or 0
        exhausted = used >= self.matrix.parameters.patient_lookups_per_hour
        names = sorted(criteria)
        if exhausted:
            self._authorise(Action.find_patients, None, patient_lookups_exhausted=True, context={"criteria": names})
        found: list[Person] = []
        for person in self.session.scalars(query.order_by(Person.family_name, Person.given_name, Person.id)):
            record = self.session.scalars(select(Record).where(Record.person_id == person.id)).first()
            if record is None:
                continue
            decision = decide(self._request(Action.find_patients, record), self.matrix)
            self._trace(decision, document_id=None, context={"criteria": criteria})
            if decision.permitted:
                found.append(person)
        page = found[offset:offset + limit]
        self._authorise(Action.find_patients, None, context={"criteria": names, "found": [str(p.id) for p in page]})
        return page, len(found)

    def authorise_stay_report(self, record_id: uuid.UUID, *, context: dict[str, Any]) -> Decision:
        """A hospital's system reporting an admission, transfer or discharge of this record's holder."""
        return self._authorise(Action.report_stay, self._record(record_id), context=context)

    def authorise_erasure(self, record_id: uuid.UUID, *, context: dict[str, Any]) -> Decision:
        """The agency erasing a closed record for good: decided and traced (one entry, in this transaction)."""
        return self._authorise(Action.erase_record, self._record(record_id), context=context)

    def read_stay(self, stay_id: uuid.UUID) -> Stay | None:
        """A hospital's system reading back one of its stays: decided and traced on the stay's record.

        None for an unknown stay and for another hospital's (refused, and traced on that record)."""
        stay = self.session.get(Stay, stay_id)
        if stay is None:
            return None
        record = self._record(stay.record_id)
        try:
            self._authorise(Action.read_stay, record, stay_hospital=stay.organisation_id,
                            context={"stay": str(stay.id), "visit": stay.visit_number})
        except AccessDenied:
            return None
        return stay

    def list_stays(self, record_id: uuid.UUID) -> list[Stay]:
        record = self._record(record_id)
        self._authorise(Action.list_stays, record)
        return list(
            self.session.scalars(
                select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
            )
        )

    def read_choices(self, record_id: uuid.UUID) -> Grants:
        """The holder's choices (circle, referring doctor, blocks, emergency setting), for the holder's side.

        Decided and traced as a part of the record's export: the holder reads
        back what they chose.
        """
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "choices"})
        return self._grants(record)

    def set_wish(
        self, record_id: uuid.UUID, kind: WishKind, value: WishValue, *, comment: str | None = None
    ) -> Wish:
        """Record a wish (organ donation, ...); earlier answers stay in its history."""
        if value not in ANSWERS[kind]:
            raise InvalidRequest(f"{value.value} is not an answer to {kind.value}")
        record, _ = self._manage(record_id, "wish.set", kind=kind.value, value=value.value)
        wish = Wish(
            record_id=record.id, kind=kind.value, value=value.value, comment=(comment or "").strip() or None,
            set_at=self.now, set_by=self.actor.display,
        )
        self.session.add(wish)
        self.session.flush()
        return wish

    def wishes(self, record_id: uuid.UUID) -> list[Wish]:
        """Every wish with its history, newest first (the holder's side)."""
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "wishes"})
        return list(
            self.session.scalars(select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id))
        )

    def read_trace(self, record_id: uuid.UUID) -> list[TraceEntry]:
        record = self._record(record_id)
        self._authorise(Action.read_trace, record)
        return list(
            self.session.scalars(
                select(TraceEntry).where(TraceEntry.chain == str(record.id)).order_by(TraceEntry.seq)
            )
        )

    # -- the exchange API (FHIR, IHE MHD): what adapters read through the door, never beside it --------------

    def record_of_person(self, person_id: uuid.UUID) -> uuid.UUID | None:
        """The id of a person's record, to name it in an act (None: no such person, or no record).

        A fact, not an act: nothing of the record is read, and the act that follows is decided and traced."""
        return self.session.scalar(select(Record.id).where(Record.person_id == person_id))

    def holder_of(self, record_id: uuid.UUID) -> Person:
        """The person a record belongs to (identity only), for an act already decided on the record."""
        holder = self.session.get(Person, self._record(record_id).person_id)
        assert holder is not None
        return holder

    def find_document_details(
        self,
        record_id: uuid.UUID,
        *,
        where: Iterable[Sequence[DocumentCriterion]] = (),
        ascending: bool = False,
        limit: int = 50,
        offset: int = 0,
        criteria: dict[str, Any] | None = None,
    ) -> DetailsPage:
        """``list_documents`` narrowed by search criteria, newest deposit first (or oldest), with what the
        sender gave beside each document: one act, one trace entry keeping ``criteria``."""
        order = [Document.deposited_at.asc() if ascending else Document.deposited_at.desc()]
        page = self.list_documents(record_id, where=document_conditions(where), order_by=order, limit=limit,
                                   offset=offset, criteria=criteria)
        return DetailsPage(items=self._details(page.items), total=page.total)

    def document_details(self, document_id: uuid.UUID, *, criteria: dict[str, Any]) -> DocumentDetails | None:
        """One document named by its id, read as a search of its record for that id (one act, one entry).

        None for an id that exists nowhere (no record to trace it on) and for a document the reader may not
        see; a refusal on the record raises ``AccessDenied``, as every act does."""
        record_id = self.session.scalar(select(Document.record_id).where(Document.id == document_id))
        if record_id is None:
            return None
        page = self.list_documents(record_id, where=[Document.id == document_id], limit=1, criteria=criteria)
        return self._details(page.items)[0] if page.items else None

    def withdraw_with_details(self, document_id: uuid.UUID, *, reason: str | None = None) -> DocumentDetails:
        """``withdraw``, answered with the document as it now is and what its sender gave."""
        return self._details([self.withdraw(document_id, reason=reason)])[0]

    def _details(self, items: Sequence[Document]) -> list[DocumentDetails]:
        """What the sender gave beside documents already decided visible, and their authors, in a few queries
        (not one per document)."""
        ids = [d.id for d in items]
        if not ids:
            return []
        masters = {document_id: master for document_id, master in self.session.execute(
            select(SubmittedDocument.document_id, SubmittedDocument.master_identifier)
            .where(SubmittedDocument.document_id.in_(ids)))}
        given: dict[uuid.UUID, list[DocumentContext]] = {}
        for row in self.session.scalars(select(DocumentContext).where(DocumentContext.document_id.in_(ids))):
            given.setdefault(row.document_id, []).append(row)
        # Loaded once and set on each document: mapping its author and organisation queries nothing more.
        authors = {p.id: p for p in self.session.scalars(select(Professional).where(
            Professional.id.in_({d.author_professional_id for d in items} - {None})))}
        organisations = {o.id: o for o in self.session.scalars(select(Organisation).where(
            Organisation.id.in_({d.author_organisation_id for d in items} - {None})))}
        for document in items:
            set_committed_value(document, "author", authors.get(document.author_professional_id))  # type: ignore[arg-type]
            set_committed_value(document, "author_organisation",
                                organisations.get(document.author_organisation_id))  # type: ignore[arg-type]
        holders = {record_id: person_id for record_id, person_id in self.session.execute(
            select(Record.id, Record.person_id).where(Record.id.in_({d.record_id for d in items})))}
        return [DocumentDetails(document=d, person_id=holders[d.record_id], master_identifier=masters.get(d.id),
                                context=given.get(d.id, [])) for d in items]

    def find_submission_sets(self, record_id: uuid.UUID, *, criteria: dict[str, Any]) -> list[SubmissionSetView]:
        """The record's submission sets, newest first, each listing only the documents the reader may see
        (a set with none is not there): one act, the list of the documents, with ``criteria``."""
        submitted = select(SubmittedDocument.document_id).where(SubmittedDocument.record_id == record_id)
        visible = self.list_documents(record_id, where=[Document.id.in_(submitted)], limit=10_000,
                                      criteria=criteria)
        entries: dict[uuid.UUID, list[uuid.UUID]] = {}
        for set_id, document_id in self.session.execute(
            select(SubmittedDocument.submission_set_id, SubmittedDocument.document_id)
            .where(SubmittedDocument.document_id.in_([d.id for d in visible.items]))
        ):
            entries.setdefault(set_id, []).append(document_id)
        sets = self.session.scalars(
            select(SubmissionSet).where(SubmissionSet.id.in_(list(entries)))
            .order_by(SubmissionSet.submitted_at.desc(), SubmissionSet.id)
        ).all()
        return [SubmissionSetView(submission_set=s, document_ids=sorted(entries[s.id], key=str)) for s in sets]

    def taken_master_identifier(self, values: Iterable[str]) -> str | None:
        """One of ``values`` already used as a document's unique id by any sender (they are unique)."""
        return self.session.scalars(
            select(SubmittedDocument.master_identifier).where(SubmittedDocument.master_identifier.in_(list(values)))
        ).first()

    def file_submission(
        self,
        record_id: uuid.UUID,
        *,
        unique_id: str,
        title: str | None,
        source_id: str | None,
        client_id: str,
        documents: Sequence[SubmittedItem],
    ) -> SubmissionSet:
        """The submission set of documents this request deposited in the record (each decided and traced by
        ``deposit`` or ``replace``): a document of another record is refused, and nothing is filed."""
        record = self._record(record_id)
        if any(item.document.record_id != record.id for item in documents):
            raise InvalidRequest("a submission set holds documents of its own record only")
        professional = uuid.UUID(self.actor.id) if self.actor.kind is ActorKind.professional and self.actor.id \
            else None
        submission_set = SubmissionSet(record_id=record.id, unique_id=unique_id, title=title, source_id=source_id,
                                       client_id=client_id, author_professional_id=professional,
                                       submitted_at=self.now)
        self.session.add(submission_set)
        self.session.flush()
        for item in documents:
            self.session.add(SubmittedDocument(document_id=item.document.id, submission_set_id=submission_set.id,
                                               record_id=record.id, master_identifier=item.master_identifier))
            for row in item.context:
                self.session.add(DocumentContext(document_id=item.document.id, record_id=record.id, **row))
        self.session.flush()
        return submission_set

    def find_structured_entries(
        self,
        record_id: uuid.UUID,
        *,
        resource_type: str,
        where: Iterable[Sequence[EntryCriterion]] = (),
        as_of: datetime | None = None,
        ascending: bool = False,
        limit: int = 20,
        offset: int = 0,
        criteria: dict[str, Any] | None = None,
    ) -> StructuredEntries:
        """Entries of structured documents (Observation, Condition, ...) as ONE act: ``read_documents`` over the
        current documents whose entries match, one decision and one trace entry with ``criteria``; only the
        documents serving the page are opened. Newest entry first (its effective date, else its document's
        deposit), or oldest."""
        from opendsp.structured.index import search_tokens

        index = select(StructuredEntry.document_id).where(
            StructuredEntry.record_id == record_id, StructuredEntry.resource_type == resource_type,
            *entry_conditions(where, lambda system, code: search_tokens(self.platform, system, code)))
        conditions: list[ColumnElement[bool]] = [Document.id.in_(index), Document.status == DocumentStatus.current]
        if as_of is not None:
            conditions.append(Document.deposited_at <= as_of)
        reading = self.read_documents(record_id, purpose=f"{resource_type} search", where=conditions,
                                      limit=MAX_STRUCTURED_DOCUMENTS, criteria=criteria)
        sources = {r.document.id: r for r in reading.items}
        rows = self.session.execute(
            select(StructuredEntry.document_id, StructuredEntry.position, StructuredEntry.effective_at).where(
                StructuredEntry.record_id == record_id, StructuredEntry.resource_type == resource_type,
                StructuredEntry.document_id.in_(list(sources)),
                *entry_conditions(where, lambda system, code: search_tokens(self.platform, system, code)))
        ).all()
        deposited = {i: r.document.deposited_at for i, r in sources.items()}
        found = sorted(rows, key=lambda r: r.position)
        found.sort(key=lambda r: (r.effective_at or deposited[r.document_id], deposited[r.document_id]),
                   reverse=not ascending)
        page = [EntryAt(document_id=r.document_id, position=r.position) for r in found[offset:offset + limit]]
        return StructuredEntries(permit=reading.permit, total=len(found), entries=page,
                                 sources={e.document_id: sources[e.document_id] for e in page})

    def consent_view(self, record_id: uuid.UUID) -> ConsentView:
        """The holder's choices and wishes with the professionals they name, read back as ONE act (the
        holder's side only)."""
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "consents"})
        grants = self._grants(record)
        named = set(grants.circle) | set(grants.blocked) | ({grants.referring_doctor} - {None})
        professionals = {p.id: p for p in self.session.scalars(select(Professional).where(Professional.id.in_(named)))}
        wishes = list(self.session.scalars(
            select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id)))
        return ConsentView(grants=grants, professionals=professionals, wishes=wishes)

    def stay_to_report(self, stay_id: uuid.UUID, *, hospital_id: uuid.UUID) -> Stay | None:
        """The hospital's own stay an update reports on (None: unknown, or another hospital's). Nothing is read
        for the caller here: the report that follows is decided and traced on the stay's record."""
        stay = self.session.get(Stay, stay_id)
        return stay if stay is not None and stay.organisation_id == hospital_id else None

    def notifications(self, record_id: uuid.UUID, *, limit: int = 100) -> list[Notification]:
        """What the holder's side was told of, newest first: read like the trace, by the holder's side only."""
        record = self._record(record_id)
        self._authorise(Action.read_trace, record, context={"part": "notifications"})
        return list(
            self.session.scalars(
                select(Notification)
                .where(Notification.record_id == record.id,
                       or_(Notification.shown_from.is_(None), Notification.shown_from <= self.now))
                .order_by(Notification.created_at.desc(), Notification.id)
                .limit(limit)
            )
        )

    def mark_notifications_read(self, record_id: uuid.UUID) -> int:
        """Mark every notification shown so far as read (for everyone on the holder's side); returns how many."""
        record = self._record(record_id)
        self._authorise(Action.read_trace, record, context={"part": "notifications", "change": "read"})
        unread = self.session.scalars(
            select(Notification).where(
                Notification.record_id == record.id, Notification.read_at.is_(None),
                or_(Notification.shown_from.is_(None), Notification.shown_from <= self.now),
            )
        ).all()
        for notification in unread:
            notification.read_at = self.now
        self.session.flush()
        return len(unread)

    # -- the holder's side reading its own record -------------------------------------------

    def would(self, record_id: uuid.UUID, action: Action, **facts: Any) -> Decision:
        """What the policy would answer to ``action`` on the record now: for offering a form, or saying why not.

        A question, not an act: nothing is done and nothing is traced. The act
        itself is decided (and traced) again when it is asked for.
        """
        record = self._record(record_id)
        return decide(self._request(action, record, **facts), self.matrix)

    def may(self, record_id: uuid.UUID, action: Action) -> bool:
        return self.would(record_id, action).permitted

    def referring_doctor_eligible(self, professional: Professional) -> bool:
        """Whether this professional's profession and specialties let them write the patient summary."""
        rights = self.matrix.rights_of(professional.profession, frozenset(professional.specialties))
        return rights is not None and DocumentType.patient_summary in rights.deposit

    def _holder_rule(self, record: Record) -> Visibility:
        return visibility(self._request(Action.list_documents, record), self.matrix)

    def access_choices(self, record_id: uuid.UUID) -> AccessChoices:
        """The holder's choices in full (circle with comments and dates, blocks, refusals, emergency setting).

        Decided and traced once, like ``read_choices``, as reading back a part
        of the record (its choices).
        """
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "choices"})
        session = self.session
        settings = session.get(AccessSettings, record.id)
        circle = [
            ProfessionalChoice(professional=professional, since=member.since, until=member.until,
                               comment=member.comment)
            for member, professional in session.execute(
                select(CircleMember, Professional)
                .join(Professional, Professional.id == CircleMember.professional_id)
                .where(CircleMember.record_id == record.id, CircleMember.removed_at.is_(None))
                .order_by(Professional.family_name, Professional.given_name, CircleMember.since)
            )
        ]
        blocked = [
            ProfessionalChoice(professional=professional, since=block.since, until=None, comment=None)
            for block, professional in session.execute(
                select(BlockedProfessional, Professional)
                .join(Professional, Professional.id == BlockedProfessional.professional_id)
                .where(BlockedProfessional.record_id == record.id, BlockedProfessional.removed_at.is_(None))
                .order_by(Professional.family_name, Professional.given_name)
            )
        ]
        refusals = list(session.scalars(
            select(InstitutionalRefusal).where(
                InstitutionalRefusal.record_id == record.id, InstitutionalRefusal.removed_at.is_(None)
            )
        ))
        refused = [session.get(Organisation, r.organisation_id) for r in refusals if r.organisation_id is not None]
        referring = settings.referring_doctor_id if settings else None
        return AccessChoices(
            circle=circle,
            referring_doctor=session.get(Professional, referring) if referring else None,
            blocked=blocked,
            emergency_allowed=settings.emergency_allowed if settings else True,
            institutional_access_allowed=not any(r.organisation_id is None for r in refusals),
            refused_institutions=sorted((o for o in refused if o is not None), key=lambda o: o.name),
            hospitals=directory.hospitals(session),
            presence_code_set_at=settings.presence_code_set_at if settings else None,
        )

    def search_directory(self, record_id: uuid.UUID, text: str, *, limit: int = 20) -> list[Professional]:
        """Look professionals up by name or licence number, to add one to the circle or block one (traced)."""
        text = " ".join(text.split())
        if len(text) < 2:
            raise InvalidRequest("type at least two characters of a name or a licence number")
        if len(text) > 100:
            raise InvalidRequest("type at most 100 characters")
        record = self._record(record_id)
        self._authorise(Action.search_directory, record, context={"query": text})
        return directory.search_directory(self.session, text, limit=limit)

    def assistants(self, record_id: uuid.UUID) -> HolderSide:
        """Who acts with the holder's rights: assistants (with their dates) and legal representatives."""
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "assistants"})
        rows = self.session.execute(
            select(AssistantDelegation, Person)
            .join(Person, Person.id == AssistantDelegation.assistant_id)
            .where(AssistantDelegation.record_id == record.id, AssistantDelegation.ended_at.is_(None))
            .order_by(Person.family_name, Person.given_name)
        )
        representatives = self.session.scalars(
            select(Person)
            .join(LegalRepresentation, LegalRepresentation.representative_id == Person.id)
            .where(LegalRepresentation.minor_id == record.person_id)
            .order_by(Person.family_name, Person.given_name)
        )
        holder = self.session.get(Person, record.person_id)
        assert holder is not None
        minor = self._record_facts(record).holder_is_minor(self.now.date())
        return HolderSide(
            assistants=[AssistantChoice(person=person, since=d.since, until=d.until) for d, person in rows],
            representatives=list(representatives) if minor else [],
        )

    def trace_page(self, record_id: uuid.UUID, query: TraceQuery, *, limit: int = 50, offset: int = 0) -> TracePage:
        """One page of the record's trace, newest first, filtered in the query; the reading is traced too."""
        record = self._record(record_id)
        self._authorise(Action.read_trace, record, context={"filters": query.as_context(), "offset": offset})
        conditions = [TraceEntry.chain == str(record.id), *query.conditions()]
        total = self.session.scalar(select(func.count()).select_from(TraceEntry).where(*conditions)) or 0
        entries = self.session.scalars(
            select(TraceEntry).where(*conditions).order_by(TraceEntry.seq.desc()).limit(limit).offset(offset)
        ).all()
        return TracePage(lines=describe(self.session, entries, self._holder_rule(record)), total=total)

    def trace_download(self, record_id: uuid.UUID, query: TraceQuery, file_format: str) -> TraceReading:
        """Reading the whole (filtered) trace for a file: decided and traced once, then read with the permit."""
        record = self._record(record_id)
        permit = self._authorise(
            Action.read_trace, record, context={"format": file_format, "filters": query.as_context()}
        )
        return TraceReading(permit=permit, record_id=record.id, query=query, rule=self._holder_rule(record),
                            upto_seq=self._trace_head(record))

    def _trace_head(self, record: Record) -> int:
        return self.session.scalar(
            select(func.max(TraceEntry.seq)).where(TraceEntry.chain == str(record.id))
        ) or 0

    def export(self, record_id: uuid.UUID) -> RecordExport:
        """The holder's copy of everything (EHDS): decided and traced once, as one act.

        What it returns is the permit and what the export is made of as of now;
        ``opendsp.access.export`` then streams the documents and the trace with
        that permit, outside this transaction.
        """
        record = self._record(record_id)
        permit = self._authorise(Action.export_record, record, context={"part": "all"})
        holder = self.session.get(Person, record.person_id)
        assert holder is not None
        return RecordExport(
            permit=permit,
            record_id=record.id,
            holder=holder,
            at=self.now,
            rule=self._holder_rule(record),
            upto_seq=self._trace_head(record),
            grants=self._grants(record),
            wishes=list(self.session.scalars(
                select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id)
            )),
            stays=list(self.session.scalars(
                select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
            )),
        )

    # -- opening access -------------------------------------------------------

    def open_with_presence_code(self, record_id: uuid.UUID, code: str) -> PresenceGrant:
        record = self._record(record_id)
        locked, last_attempt = self._presence_lock(record)
        settings = self.session.get(AccessSettings, record.id)
        valid = not locked and presence.code_matches(settings.presence_code_hash if settings else None, code)
        permit = self._authorise(
            Action.open_with_presence_code, record, presence_code_valid=valid, presence_code_locked=locked,
            presence_code_last_attempt=last_attempt,
        )
        assert permit.basis is Basis.presence_code
        grant = PresenceGrant(
            record_id=record.id,
            professional_id=uuid.UUID(self.actor.id),
            organisation_id=self.actor.organisation_id,
            opened_at=self.now,
            expires_at=self.now + self.matrix.parameters.presence_access,
        )
        self.session.add(grant)
        self.session.flush()
        return grant

    def _presence_lock(self, record: Record) -> tuple[bool, bool]:
        """Whether wrong codes lock the presence code now, and whether one more wrong code would."""
        parameters = self.matrix.parameters
        since = self.now - parameters.lockout_window
        failures = select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == Action.open_with_presence_code.value,
            TraceEntry.reason == Reason.wrong_presence_code.value,
            TraceEntry.recorded_at > since,
        )
        professional = TraceEntry.actor_id == self.actor.id
        on_record = TraceEntry.record_id == record.id

        def count(query: Select[tuple[int]]) -> int:
            return self.session.scalar(query) or 0

        counted = [
            (count(failures.where(professional, on_record)), parameters.presence_failures_per_professional_and_record),
            (count(failures.where(on_record)), parameters.presence_failures_per_record),
            (count(failures.where(professional)), parameters.presence_failures_per_professional),
        ]
        return any(n >= limit for n, limit in counted), any(n + 1 >= limit for n, limit in counted)

    def open_emergency_access(self, record_id: uuid.UUID, reason: str) -> EmergencyAccess:
        record = self._record(record_id)
        self._authorise(
            Action.open_emergency_access, record, emergency_reason=reason, context={"reason_text": reason}
        )
        access = EmergencyAccess(
            record_id=record.id,
            professional_id=uuid.UUID(self.actor.id),
            organisation_id=self.actor.organisation_id,
            reason=reason.strip(),
            opened_at=self.now,
            expires_at=self.now + self.matrix.parameters.emergency_access,
        )
        self.session.add(access)
        self.session.flush()
        return access

    # -- documents ------------------------------------------------------------

    def list_documents(
        self,
        record_id: uuid.UUID,
        *,
        types: Iterable[DocumentType] = (),
        limit: int = 50,
        offset: int = 0,
        where: Iterable[ColumnElement[bool]] = (),
        order_by: Iterable[ColumnElement[Any]] | None = None,
        criteria: dict[str, Any] | None = None,
        with_versions: bool = False,
    ) -> DocumentPage:
        """One page of the documents the actor may see, newest first.

        ``where`` narrows the search (the FHIR adapter's search parameters) and
        ``order_by`` changes the order; the visibility rule is always applied.
        ``criteria`` is what the trace entry keeps of the search (never free
        text in clear: see ``opendsp.search.services.search``).
        ``with_versions`` adds each listed document's other versions the
        caller may see, as a part of the same act (one trace entry).
        """
        record = self._record(record_id)
        permit = self._authorise(Action.list_documents, record,
                                 context={"criteria": criteria} if criteria else None)
        rule = visibility(self._request(Action.list_documents, record), self.matrix)
        query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
        wanted = list(types)
        if wanted:
            query = query.where(Document.type.in_(wanted))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = list(order_by) if order_by is not None else [Document.care_date.desc(), Document.deposited_at.desc()]
        items = self.session.scalars(query.order_by(*order, Document.id).limit(limit).offset(offset)).all()
        versions = {
            item.id: self._visible_versions(record, item) for item in items
            if with_versions and (item.replaces_id is not None or item.status is not DocumentStatus.current)
        }
        return DocumentPage(items=list(items), total=total, permit=permit,
                            versions={k: v for k, v in versions.items() if len(v) > 1})

    def consult(self, document_id: uuid.UUID) -> Consultation:
        document, record = self._document_of(document_id)
        permit = self._authorise(Action.consult_document, record, document=document, trace_document=document_id)
        assert document is not None
        chunks = documents.open_content(session=self.session, platform=self.platform, permit=permit, document=document)
        return Consultation(document=document, permit=permit, chunks=chunks)

    # -- one document of one record, or many for one view: one decision, one trace entry -----------

    def _document_in(self, record: Record, document_id: uuid.UUID) -> Document | None:
        """The document by id if it belongs to ``record``; another record's document is as good as none."""
        document = self.session.get(Document, document_id)
        return document if document is not None and document.record_id == record.id else None

    def read_document(self, record_id: uuid.UUID, document_id: uuid.UUID, *, part: str = "page") -> DocumentReading:
        """Reading one document of one record as ONE act: one decision and one trace entry, with its versions.

        ``part`` says what was read ("page", "content"). A document of another
        record, or an id that exists nowhere, is decided exactly like a
        document the reader may not see: refused as not found, and traced.
        """
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        permit = self._authorise(Action.consult_document, record, document=document,
                                 trace_document=document.id if document else None, context={"part": part})
        assert document is not None  # a missing document is refused above
        return DocumentReading(document=document, permit=permit, versions=self._visible_versions(record, document),
                               chunks=lambda: documents.open_content(session=self.session, platform=self.platform,
                                                                     permit=permit, document=document))

    def read_content(self, record_id: uuid.UUID, document_id: uuid.UUID, *, shown_in_page: bool) -> DocumentReading:
        """A document's content, decided like ``read_document(part="content")``.

        Shown in the page (a PDF or an image in the document's page) it is a part of reading that page: when
        the same actor read the page of this document moments ago on the same basis, its entry covers the
        content and no second entry is written. A download, a refusal, or a fetch without that page read
        first is traced as its own act.
        """
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        decision = decide(self._request(Action.consult_document, record, document), self.matrix)
        if not (shown_in_page and decision.permitted and document is not None and self._page_read(decision)):
            return self.read_document(record_id, document_id, part="content")
        assert document is not None
        return DocumentReading(document=document, permit=decision, versions=[document],
                               chunks=lambda: documents.open_content(session=self.session, platform=self.platform,
                                                                     permit=decision, document=document))

    def _page_read(self, decision: Decision) -> bool:
        """Whether this actor's reading of the document's page, on the same basis, is recent enough to cover
        its content shown in that page."""
        actor = self.actor
        rows = self.session.execute(
            select(TraceEntry.context, TraceEntry.on_behalf_of).where(
                TraceEntry.actor_id == actor.id, TraceEntry.action == Action.consult_document.value,
                TraceEntry.recorded_at > self.now - PAGE_COVERS_CONTENT, TraceEntry.actor_kind == actor.kind.value,
                TraceEntry.record_id == decision.record_id, TraceEntry.document_id == decision.document_id,
                TraceEntry.outcome == Outcome.permitted,
                TraceEntry.basis == (decision.basis.value if decision.basis else None),
            ).order_by(TraceEntry.recorded_at.desc()).limit(5)
        )
        organisation = str(actor.organisation_id) if actor.organisation_id else None
        behalf = str(actor.on_behalf_of) if actor.on_behalf_of else None
        return any((context or {}).get("part") == "page" and (context or {}).get("organisation") == organisation
                   and on_behalf_of == behalf for context, on_behalf_of in rows)

    def _visible_versions(self, record: Record, document: Document) -> list[Document]:
        """The document's earlier and later versions the reader may see, newest first (itself included)."""
        chain = {document.id}
        older = document.replaces_id
        while older is not None and older not in chain:
            chain.add(older)
            older = self.session.scalar(select(Document.replaces_id).where(Document.id == older))
        frontier = [document.id]
        while frontier:
            newer = self.session.scalars(select(Document.id).where(Document.replaces_id.in_(frontier))).all()
            frontier = [i for i in newer if i not in chain]
            chain.update(frontier)
        if len(chain) == 1:
            return [document]
        rule = visibility(self._request(Action.list_documents, record), self.matrix)
        return list(self.session.scalars(
            select(Document).where(Document.record_id == record.id, Document.id.in_(chain), visible_documents(rule))
            .order_by(Document.version.desc())
        ))

    def read_documents(
        self,
        record_id: uuid.UUID,
        *,
        purpose: str,
        where: Iterable[ColumnElement[bool]] = (),
        limit: int = 20,
        order_by: Iterable[ColumnElement[Any]] | None = None,
        criteria: dict[str, Any] | None = None,
    ) -> DocumentsReading:
        """Many documents read for one view (a chart, the summary): one decision on the record and ONE trace
        entry naming the documents read; each document still passes ``decide`` before its content opens.
        ``criteria``: what the entry keeps of the search that chose them (never free text in clear)."""
        record = self._record(record_id)
        request = self._request(Action.list_documents, record)
        listing = decide(request, self.matrix)
        asked: dict[str, Any] = {"purpose": purpose, **({"criteria": criteria} if criteria else {})}
        if not listing.permitted:
            self._trace(listing, document_id=None, context=asked)
            raise AccessDenied(listing)
        rule = visibility(request, self.matrix)
        query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = list(order_by) if order_by is not None else [Document.care_date.desc(), Document.deposited_at.desc()]
        found = self.session.scalars(query.order_by(*order, Document.id).limit(limit)).all()
        readings: list[Consultation] = []
        for document in found:
            permit = decide(replace(request, action=Action.consult_document,
                                    document=self._document_facts(document)), self.matrix)
            if permit.permitted:  # the SQL form said so already; the storage layer wants the permit itself
                readings.append(Consultation(document=document, permit=permit,
                                             chunks=self._content_when_read(permit, document)))
        # Traced even when nothing was read: the view was an access to the record all the same.
        context: dict[str, Any] = {**asked, "documents": [str(r.document.id) for r in readings]}
        if listing.basis is Basis.stay:
            context["stay"] = self._stay_context(request)
        self._trace(replace(listing, action=Action.consult_document), document_id=None, context=context)
        return DocumentsReading(permit=listing, items=readings, total=total)

    def timeline(self, record_id: uuid.UUID, *, documents: bool = True, stays: bool = True,
                 types: Iterable[DocumentType] = (), where: Iterable[ColumnElement[bool]] = (),
                 limit: int = 500) -> Timeline:
        """The record's care events — documents and hospital stays — read as ONE act (one decision, one entry).

        The policy lets a caller list stays when it lets them list documents (both are asked; the trace
        entry is the documents' list, with ``part: timeline``)."""
        record = self._record(record_id)
        permit = self._authorise(Action.list_documents, record, context={"part": "timeline"})
        stays = stays and decide(self._request(Action.list_stays, record), self.matrix).permitted
        items: list[Document] = []
        if documents:
            rule = visibility(self._request(Action.list_documents, record), self.matrix)
            query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
            wanted = list(types)
            if wanted:
                query = query.where(Document.type.in_(wanted))
            items = list(self.session.scalars(
                query.order_by(Document.care_date.desc(), Document.deposited_at.desc(), Document.id).limit(limit)))
        found_stays = list(self.session.scalars(
            select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
        )) if stays else []
        return Timeline(permit=permit, documents=items, stays=found_stays)

    # -- the portals' reads of the structured index and of an emergency access (issue 12) ----------

    def read_chart_sources(self, page: DocumentReading, codes: Iterable[tuple[str | None, str]], *,
                           limit: int) -> DocumentsReading | None:
        """The record's other current documents whose structured entries carry one of ``codes`` (the sources
        of a chart on ``page``), read under one decision over many documents and one trace entry.

        Asked under the permit of the page just read: the index is looked up only within that record. None
        when no other document shares a code: nothing more is read and nothing more is traced.
        """
        from opendsp.structured.index import search_tokens
        from opendsp.structured.models import StructuredCode, StructuredEntry

        document = page.document
        if not page.permit.covers(Action.consult_document, document.record_id, document.id):
            raise AccessDenied(page.permit)
        tokens = [token for system, code in codes for token in search_tokens(self.platform, system, code)]
        if not tokens:
            return None
        others = set(self.session.scalars(
            select(StructuredEntry.document_id)
            .join(StructuredCode, StructuredCode.entry_id == StructuredEntry.id)
            .where(StructuredCode.record_id == document.record_id, StructuredCode.token.in_(tokens),
                   StructuredEntry.resource_type == "Observation", StructuredEntry.document_id != document.id)
        ))
        if not others:
            return None
        return self.read_documents(document.record_id, purpose="chart", limit=limit,
                                   where=[Document.id.in_(others), Document.status == DocumentStatus.current])

    def read_structured_sources(self, record_id: uuid.UUID, *, resource_types: Iterable[str], purpose: str,
                                limit: int) -> StructuredSources:
        """The current documents of the record with structured entries of ``resource_types`` (the summary),
        read under one decision and one trace entry, with where each entry is in its document."""
        from opendsp.structured.models import StructuredEntry

        wanted = list(resource_types)
        indexed = select(StructuredEntry.document_id).where(
            StructuredEntry.record_id == record_id, StructuredEntry.resource_type.in_(wanted))
        reading = self.read_documents(record_id, purpose=purpose, limit=limit,
                                      where=[Document.id.in_(indexed), Document.status == DocumentStatus.current])
        positions: dict[uuid.UUID, list[tuple[int, str]]] = {}
        read_ids = [r.document.id for r in reading.items]
        if read_ids:
            for document_id, position, kind in self.session.execute(
                select(StructuredEntry.document_id, StructuredEntry.position, StructuredEntry.resource_type)
                .where(StructuredEntry.document_id.in_(read_ids), StructuredEntry.resource_type.in_(wanted))
            ):
                positions.setdefault(document_id, []).append((position, kind))
        return StructuredSources(reading=reading, positions=positions)

    def emergency_until(self, permit: Decision) -> datetime | None:
        """When the actor's emergency access to the permit's record ends: part of the act the permit was
        given for (a page's banner), so neither decided again nor traced."""
        if not permit.permitted or permit.basis is not Basis.emergency or permit.record_id is None:
            return None
        if self.actor.kind is not ActorKind.professional:
            return None
        return self._grants(self._record(permit.record_id)).emergency.get(uuid.UUID(self.actor.id))

    def published_figures(self) -> list[Any]:
        """The agency's monthly figures: counts only, never a document, a record or a name.

        Not an act on any record, so not decided per record nor traced; only the agency's staff ask."""
        from opendsp.access import statistics

        if self.actor.kind is not ActorKind.agency:
            raise InvalidRequest("only the agency's staff read the published figures")
        return statistics.figures(self.session, self.now)

    def _content_when_read(self, permit: Decision, document: Document) -> Iterator[bytes]:
        """The content, opened only when it is read (a view may stop before reading every document)."""
        yield from documents.open_content(session=self.session, platform=self.platform, permit=permit,
                                          document=document)

    def authorise_document_change(self, record_id: uuid.UUID, document_id: uuid.UUID, action: Action) -> Document:
        """Before a replace or withdraw form shows anything of a document: the policy's permit for that act
        (traced, as the form's step). Anything the caller may not reach is refused as not found."""
        assert action in (Action.replace_document, Action.withdraw_document)
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        self._authorise(action, record, document=document, trace_document=document.id if document else None,
                        context={"step": "form"})
        assert document is not None
        return document

    def replace_in(self, record_id: uuid.UUID, document_id: uuid.UUID, draft: documents.DocumentDraft,
                   content: Iterable[bytes]) -> Document:
        """``replace`` for a document named within a record: another record's document is not found.

        A new version keeps the type of the document it replaces: the draft's type is set from it."""
        self._require_in(record_id, document_id, Action.replace_document)
        old = self.session.get(Document, document_id)
        assert old is not None
        return self.replace(document_id, replace(draft, type=old.type), content)

    def withdraw_in(self, record_id: uuid.UUID, document_id: uuid.UUID, *, reason: str | None = None) -> Document:
        """``withdraw`` for a document named within a record: another record's document is not found."""
        self._require_in(record_id, document_id, Action.withdraw_document)
        return self.withdraw(document_id, reason=reason)

    def _require_in(self, record_id: uuid.UUID, document_id: uuid.UUID, action: Action) -> None:
        record = self._record(record_id)
        if self._document_in(record, document_id) is None:
            # Decided (record-level refusals first) and traced like a document the caller may not see.
            self._authorise(action, record, document=None)
            raise AssertionError("unreachable: no document is always refused")

    def _authored(self, draft: documents.DocumentDraft) -> documents.DocumentDraft:
        """The author is whoever deposits: never taken from the caller's draft."""
        if self.actor.kind is ActorKind.professional:
            return replace(
                draft,
                author_professional_id=uuid.UUID(self.actor.id),
                author_organisation_id=self.actor.organisation_id,
                authored_by_holder=False,
            )
        return replace(
            draft,
            author_professional_id=None,
            author_organisation_id=None,
            authored_by_holder=True,
            visible_to_holder_from=None,
        )

    def deposit(
        self,
        record_id: uuid.UUID,
        draft: documents.DocumentDraft,
        content: Iterable[bytes],
    ) -> Document:
        record = self._record(record_id)
        draft = self._authored(draft)
        draft.check()
        new_id = uuid.uuid4()
        content = self._keep_for_index(draft, content)
        permit = self._authorise(
            Action.deposit_document,
            record,
            document_type=draft.type,
            trace_document=new_id,
            context={"type": draft.type.value, "title": draft.title.strip()},
        )
        document = documents.store(
            session=self.session,
            platform=self.platform,
            permit=permit,
            record=record,
            document_id=new_id,
            draft=draft,
            content=content,
        )
        self._index(document, content)
        self._notify_new_document(record, document)
        return document

    def _notify_new_document(self, record: Record, document: Document, replaces: Document | None = None) -> None:
        """A professional's new document (or version) is news for the holder's side, once the holder may see it."""
        if self.actor.kind is not ActorKind.professional:
            return
        details = {"document": str(document.id), "type": document.type.value}
        if replaces is not None:
            details["replaces"] = str(replaces.id)
        self._notify_change(record, NotificationKind.document_new.value, details,
                            shown_from=document.visible_to_holder_from)

    def replace(
        self,
        document_id: uuid.UUID,
        draft: documents.DocumentDraft,
        content: Iterable[bytes],
        *,
        within: uuid.UUID | None = None,
    ) -> Document:
        """``within``: the record the caller means; a document of another record does not exist for them."""
        old, record = self._document_of(document_id)
        if within is not None and record is not None and record.id != within:
            old, record = None, None
        draft = self._authored(draft)
        draft.check()
        new_id = uuid.uuid4()
        permit = self._authorise(
            Action.replace_document,
            record,
            document=old,
            context={"type": draft.type.value, "new_document": str(new_id)},
        )
        assert old is not None and record is not None
        if draft.type is not old.type:
            raise InvalidRequest("a new version keeps the type of the document it replaces")
        content = self._keep_for_index(draft, content)
        document = documents.store(
            session=self.session,
            platform=self.platform,
            permit=permit,
            record=record,
            document_id=new_id,
            draft=draft,
            content=content,
            replaces=old,
        )
        self._index(document, content)
        self._notify_new_document(record, document, replaces=old)
        return document

    # -- indexes written with the document: structured entries (FHIR) and keyword search ----------

    @staticmethod
    def _keep_for_index(draft: documents.DocumentDraft, content: Iterable[bytes]) -> Iterable[bytes]:
        """FHIR JSON content is kept in memory once, to be sealed and indexed; other content is
        streamed, with a bounded copy kept for the keyword index."""
        from opendsp.search.index import ContentCopy

        return [b"".join(content)] if draft.media_type == FHIR_MEDIA_TYPE else ContentCopy(content)

    def _index(self, document: Document, content: Iterable[bytes]) -> None:
        from opendsp.structured.index import index_document as index_structured
        from opendsp.search.index import ContentCopy
        from opendsp.search.index import index_document as index_words

        if isinstance(content, ContentCopy):
            whole = content.content
        else:
            whole = b"".join(content) if isinstance(content, list) else None
        if document.media_type == FHIR_MEDIA_TYPE and whole is not None:
            index_structured(self.session, self.platform, document, whole)
        index_words(self.session, self.platform, document, whole)

    def withdraw(self, document_id: uuid.UUID, *, reason: str | None = None) -> Document:
        document, record = self._document_of(document_id)
        permit = self._authorise(
            Action.withdraw_document, record, document=document, context={"reason_text": reason} if reason else None
        )
        assert document is not None
        return documents.withdraw(session=self.session, platform=self.platform, permit=permit, document=document)


def _plain(value: Any) -> Any:
    """A JSON-friendly form for trace context."""
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value
