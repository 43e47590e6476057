"""The holder's side reading its own record: its choices, wishes and assistants, the trace, the notifications,
and the whole record's export (EHDS).

Each reading is one act, decided and traced by the gate (``export_record`` for a part of the record, ``read_trace``
for the trace and the notifications).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select

from opendsp.access.gate import Gate, InvalidRequest
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
from opendsp.access.trace_reading import TraceLine, TraceQuery, TraceReading, describe
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, DocumentType
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.policy.decision import Decision, Visibility
from opendsp.policy.facts import Grants
from opendsp.policy.vocabulary import Action
from opendsp.professionals import services as directory
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.models import Record
from opendsp.stays.models import InstitutionalRefusal, Stay
from opendsp.trace.models import TraceEntry


@dataclass(frozen=True)
class ProfessionalChoice:
    """A professional in the circle or blocked, with what the holder said about them."""

    professional: Professional
    since: datetime | None
    until: datetime | None
    comment: str | None


@dataclass(frozen=True)
class RunningAccess:
    """An access open right now outside the holder's standing choices: a presence code, an emergency, a stay.

    ``grant_id``: the presence-code grant the holder may end now (None for the other kinds)."""

    basis: str  # "presence_code", "emergency" or "stay"
    professional: Professional | None  # None for a stay: the whole organisation (or care unit) reads
    organisation: str | None
    since: datetime | None
    until: datetime | None  # None: while the stay lasts
    reason: str | None = None  # the emergency's reason
    grant_id: uuid.UUID | None = None


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
    running: list[RunningAccess] = field(default_factory=list)  # open right now, newest first


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
class DocumentReaders:
    """Who reads a document besides the holder's side: its level, the professionals named, and whom the holder
    may name (the circle and the referring doctor, with those named already)."""

    document: Document
    restricted: bool
    author: Professional | None
    referring_doctor: Professional | None
    named: list[Professional]
    candidates: list[Professional]


@dataclass(frozen=True)
class ConsentView:
    grants: Grants
    professionals: dict[uuid.UUID, Professional]  # those the choices name
    wishes: list[Wish]  # newest first


class HolderViews(Gate):
    """What the holder's side reads of its own record."""

    def read_choices(self, record_id: uuid.UUID) -> Grants:
        """The holder's choices (circle, referring doctor, blocks, emergency setting), for the holder's side.

        Decided and traced as a part of the record's export: the holder reads
        back what they chose.
        """
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "choices"})
        return self._grants(record)

    def document_readers(self, record_id: uuid.UUID, document_id: uuid.UUID) -> DocumentReaders:
        """Who may read one document of the record, for the holder's side choosing to restrict it.

        Decided and traced once as reading back a part of the record (``record.export``, part
        ``document.readers``, naming the document); a document the holder's side does not see, of another
        record or of none, is not found."""
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        self._authorise(Action.export_record, record, document=document, names_document=True,
                        trace_document=document.id if document else None, context={"part": "document.readers"})
        assert document is not None  # a missing document is refused above
        session, grants = self.session, self._grants(record)
        named = list(session.scalars(
            select(Professional).join(DocumentNamedProfessional,
                                      DocumentNamedProfessional.professional_id == Professional.id)
            .where(DocumentNamedProfessional.record_id == document.record_id,
                   DocumentNamedProfessional.document_id == document.id)
        ))
        circle = [professional_id for professional_id, until in grants.circle.items()
                  if until is None or until > self.now]
        wanted = (set(circle) | {p.id for p in named}) - set(grants.blocked)
        if grants.referring_doctor is not None:
            wanted.add(grants.referring_doctor)
        candidates = list(session.scalars(select(Professional).where(Professional.id.in_(wanted)))) if wanted else []
        order = lambda p: (p.family_name, p.given_name, str(p.id))  # noqa: E731
        return DocumentReaders(
            document=document, restricted=document.confidentiality is ConfidentialityLevel.restricted,
            author=session.get(Professional, document.author_professional_id)
            if document.author_professional_id else None,
            referring_doctor=session.get(Professional, grants.referring_doctor) if grants.referring_doctor else None,
            named=sorted(named, key=order), candidates=sorted(candidates, key=order),
        )

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
            running=self._running_accesses(record),
        )

    def _running_accesses(self, record: Record) -> list[RunningAccess]:
        """The presence-code, emergency and hospital-stay accesses that open the record now, as the policy's
        facts have them (a refused emergency setting or hospital opens nothing, so it is not listed)."""
        session, now, grants = self.session, self.now, self._grants(record)
        running: list[RunningAccess] = []
        latest: dict[uuid.UUID, PresenceGrant] = {}
        for grant in session.scalars(
            select(PresenceGrant).where(PresenceGrant.record_id == record.id, PresenceGrant.expires_at > now)
            .order_by(PresenceGrant.opened_at)
        ):
            latest[grant.professional_id] = grant
        if grants.emergency_allowed:
            for access in session.scalars(
                select(EmergencyAccess).where(EmergencyAccess.record_id == record.id, EmergencyAccess.expires_at > now)
            ):
                running.append(RunningAccess(
                    basis="emergency", professional=session.get(Professional, access.professional_id),
                    organisation=_name(session.get(Organisation, access.organisation_id)),
                    since=access.opened_at, until=access.expires_at, reason=access.reason))
        for professional_id, grant in latest.items():
            if professional_id in grants.blocked:
                continue  # a block wins over the code: nothing to end
            running.append(RunningAccess(
                basis="presence_code", professional=session.get(Professional, professional_id),
                organisation=_name(session.get(Organisation, grant.organisation_id)),
                since=grant.opened_at, until=grants.presence[professional_id], grant_id=grant.id))
        if grants.institutional_access_allowed:
            for stay_grant in grants.stays.values():
                stay = session.get(Stay, stay_grant.stay_id)
                if stay is None or stay_grant.hospital_id in grants.refused_institutions:
                    continue
                if stay_grant.until is not None and now >= stay_grant.until:
                    continue
                place = stay.organisation.name + (f" – {stay.care_unit.name}" if stay.care_unit else "")
                running.append(RunningAccess(basis="stay", professional=None, organisation=place,
                                             since=stay.admitted_at, until=stay_grant.until))
        return sorted(running, key=lambda r: r.since or now, reverse=True)

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

    def wishes(self, record_id: uuid.UUID) -> list[Wish]:
        """Every wish with its history, newest first (the holder's side)."""
        record = self._record(record_id)
        self._authorise(Action.export_record, record, context={"part": "wishes"})
        return list(
            self.session.scalars(select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id))
        )

    def acting_candidates(self) -> set[uuid.UUID]:
        """The persons the caller (a person, as themselves) is an assistant or legal representative of, on file.

        Candidates only: whether each relation still holds is ``acting_as``'s answer. A question about the
        caller's own relations, not an act on a record, so nothing is traced."""
        person_id = uuid.UUID(self.actor.id)
        assisted = self.session.scalars(
            select(Record.person_id).join(AssistantDelegation, AssistantDelegation.record_id == Record.id)
            .where(AssistantDelegation.assistant_id == person_id, AssistantDelegation.ended_at.is_(None))
        )
        represented = self.session.scalars(
            select(LegalRepresentation.minor_id).where(LegalRepresentation.representative_id == person_id)
        )
        return (set(assisted) | set(represented)) - {person_id}

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

    def referring_doctor_eligible(self, professional: Professional) -> bool:
        """Whether this professional's profession and specialties let them write the patient summary."""
        rights = self.matrix.rights_of(professional.profession, frozenset(professional.specialties))
        return rights is not None and DocumentType.patient_summary in rights.deposit

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

    def read_trace(self, record_id: uuid.UUID) -> list[TraceEntry]:
        record = self._record(record_id)
        self._authorise(Action.read_trace, record)
        return list(
            self.session.scalars(
                select(TraceEntry).where(TraceEntry.chain == str(record.id)).order_by(TraceEntry.seq)
            )
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
        return TracePage(lines=describe(self.session, entries, self._visibility(record)), total=total)

    def trace_download(self, record_id: uuid.UUID, query: TraceQuery, file_format: str) -> TraceReading:
        """Reading the whole (filtered) trace for a file: decided and traced once, then read with the permit."""
        record = self._record(record_id)
        permit = self._authorise(
            Action.read_trace, record, context={"format": file_format, "filters": query.as_context()}
        )
        return TraceReading(permit=permit, record_id=record.id, query=query, rule=self._visibility(record),
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
            rule=self._visibility(record),
            upto_seq=self._trace_head(record),
            grants=self._grants(record),
            wishes=list(self.session.scalars(
                select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id)
            )),
            stays=list(self.session.scalars(
                select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
            )),
        )


def _name(organisation: Organisation | None) -> str | None:
    return organisation.name if organisation is not None else None
