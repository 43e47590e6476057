"""The gate: the only code that turns an act on a record into a permit.

Every act of ``RecordAccess`` passes here, in four steps that no feature module
repeats for itself: the **facts** (the record, its holder, the holder's choices,
the document's metadata) are loaded; the policy **decides** (``decide``, one pure
function); the decision is **traced** as one entry in the request's transaction
(a refusal is written again in a transaction of its own if the request rolls
back); the **notifications** it calls for, and who is told, are queued beside that
entry (the worker writes their e-mails, docs/adr/0030-jobs-off-the-request.md). Only then
does the feature module (``opendsp.access.reading``, ``changes``, ...) act, with
the permit it was handed.

The feature modules cannot do it themselves, by construction: they do not import
``decide`` nor the trace, and the steps that write the trace are private to this
class (``__trace``: Python renames it, so no subclass can call it by that name).
``tests/test_contracts.py`` checks both (docs/adr/0023-the-gate-and-feature-modules.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import ORMExecuteState, Session

from opendsp.access.models import (
    AccessSettings,
    AssistantDelegation,
    BlockedProfessional,
    CircleMember,
    DocumentNamedProfessional,
    EmergencyAccess,
    Notification,
    PresenceGrant,
)
from opendsp.actors import Actor, ActorKind
from opendsp.caches import earliest, has_written
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.metrics import count_decision
from opendsp.notifications import services as notifications
from opendsp.notifications.models import NotificationKind
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import PENDING_REFUSALS, Platform
from opendsp.policy.decision import AccessDenied, Decision, Visibility, acting_role, decide, stay_basis, visibility
from opendsp.policy.facts import AccessRequest, DocumentFacts, Grants, RecordFacts, StayGrant
from opendsp.policy.matrix import RightsMatrix
from opendsp.policy.vocabulary import Action, Basis, Obligation, Reason
from opendsp.records.models import Record
from opendsp.stays.models import InstitutionalRefusal, Stay, StayState
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import RequestContext, TraceEvent


def decide_imported_deposit(
    author: Actor, record: RecordFacts, grants: Grants, document_type: Any, *, now: datetime, matrix: RightsMatrix,
) -> Decision:
    """The policy's answer to one author depositing one type of document in one record, for the migration loader.

    The loader (``opendsp.importing``) asks once per record, author and type and writes the trace itself in bulk
    (ADR 26); the permit is still made here, where every permit is made.
    """
    request = AccessRequest(actor=author, action=Action.deposit_document, record=record, now=now, grants=grants,
                            document_type=document_type)
    return decide(request, matrix)


class RecordNotFound(LookupError):
    """No record with that id."""


class InvalidRequest(ValueError):
    """The request itself is wrong (unknown professional, bad date, ...): nothing was changed."""


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


class Gate:
    """Facts, decide, trace, notify: what ``RecordAccess`` and each of its feature modules act through."""

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
        self._grants_seen = GrantsMemo(session)
        self._records: dict[uuid.UUID, Record] = {}

    @property
    def now(self) -> datetime:
        return self.platform.clock.now()

    # -- facts ----------------------------------------------------------------

    def _record(self, record_id: uuid.UUID) -> Record:
        record = self._records.get(record_id)
        if record is None or record not in self.session:
            record = self.session.get(Record, record_id)
        if record is None:
            raise RecordNotFound(f"no record {record_id}")
        self._records[record_id] = record
        return record

    def _hold(self, record: Record) -> Record:
        """Keep a record loaded for this request: the session's identity map holds its rows weakly only, and the
        request's later steps would read it again."""
        self._records[record.id] = record
        return record

    def _record_facts(self, record: Record) -> RecordFacts:
        return RecordFacts(id=record.id, state=record.state, holder_id=record.person_id,
                           holder_birth_date=self._standing(record).holder_birth_date)

    def _grants(self, record: Record) -> Grants:
        """The holder's choices and the grants on the record: read once per request (``GrantsMemo``), and
        kept across requests by version (``_shared_standing``)."""
        return self._standing(record).grants

    def _standing(self, record: Record) -> Standing:
        return self._grants_seen.get(record.id, lambda: self._shared_standing(record))

    def _shared_standing(self, record: Record) -> Standing:
        """The record's standing from the platform's cache, keyed by the record's ``policy_version`` as this
        request read it (docs/adr/0031-request-caches.md); loaded and kept on a miss.

        A session that has written anything neither reads nor fills the cache: its uncommitted changes have
        moved the version in the database, not in the record it holds, and they may still roll back.
        """
        cache, session, now = self.platform.access_cache, self.session, self.now
        if has_written(session) or record.policy_version is None:
            return self._load_standing(record, now)
        key = (record.id, record.policy_version, self.matrix.parameters.after_discharge)
        found = cache.get(key, now)
        if found is not None and found.loaded_at <= now:
            return found
        standing = self._load_standing(record, now)
        if not has_written(session):
            cache.put(key, standing, standing.until)
        return standing

    def _load_standing(self, record: Record, now: datetime) -> Standing:
        holder = self.session.get(Person, record.person_id)
        assert holder is not None
        grants = self._load_grants(record)
        return Standing(holder_birth_date=holder.birth_date, grants=grants, loaded_at=now,
                        until=earliest(now, *grants.presence.values(), *grants.emergency.values(),
                                       *grants.circle.values(), *grants.assistants.values(),
                                       *(stay.until for stay in grants.stays.values())))

    def _load_grants(self, record: Record) -> Grants:
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
                    DocumentNamedProfessional.record_id == document.record_id,
                    DocumentNamedProfessional.document_id == document.id,
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

    def _document_of(self, document_id: uuid.UUID) -> tuple[Document | None, Record | None]:
        """A document named by its id alone, and its record: the directory says whose it is, then the document is
        read within that record. No directory row, or one naming a record the document is not in: unknown."""
        record_id = self.session.scalar(
            select(DocumentDirectory.record_id).where(DocumentDirectory.document_id == document_id))
        record = self.session.get(Record, record_id) if record_id is not None else None
        document = self._document_in(record, document_id) if record is not None else None
        return (document, record) if document is not None else (None, None)

    def _document_in(self, record: Record, document_id: uuid.UUID) -> Document | None:
        """The document by id if it belongs to ``record``; another record's document is as good as none."""
        return self.session.scalars(
            select(Document).where(Document.record_id == record.id, Document.id == document_id)).first()

    # -- deciding and tracing: the only ways to a permit ---------------------------

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
            context["stay"] = self.__stay_context(request)
        self.__trace(decision, document_id=trace_document or decision.document_id, context=context)
        if not decision.permitted:
            raise AccessDenied(decision)
        return decision

    def _authorise_many(
        self,
        record: Record,
        choose: Callable[[Visibility], tuple[Sequence[Document], int]],
        *,
        context: dict[str, Any],
    ) -> tuple[Decision, list[tuple[Document, Decision]], int]:
        """Many documents read for one view: one decision on the record, a permit per document, ONE entry.

        ``choose`` picks the documents under the record's visibility rule (and counts those it could have
        picked); each still passes ``decide`` before it is handed back with its permit. The entry names the
        documents read and is written even when none was: the view was an access to the record all the same.
        """
        request = self._request(Action.list_documents, record)
        listing = decide(request, self.matrix)
        if not listing.permitted:
            self.__trace(listing, document_id=None, context=context)
            raise AccessDenied(listing)
        found, total = choose(visibility(request, self.matrix))
        permits: list[tuple[Document, Decision]] = []
        for document in found:
            permit = decide(replace(request, action=Action.consult_document,
                                    document=self._document_facts(document)), self.matrix)
            if permit.permitted:  # the SQL form said so already; the storage layer wants the permit itself
                permits.append((document, permit))
        read: dict[str, Any] = {**context, "documents": [str(document.id) for document, _ in permits]}
        if listing.basis is Basis.stay:
            read["stay"] = self.__stay_context(request)
        self.__trace(replace(listing, action=Action.consult_document), document_id=None, context=read)
        return listing, permits, total

    def _authorise_each(self, action: Action, record: Record, *, context: dict[str, Any]) -> Decision:
        """Decided and traced like ``_authorise``, but a refusal is handed back, not raised: for an act over
        many records (a lookup of people), where a refusal on one record is not a refusal of the act."""
        decision = decide(self._request(action, record), self.matrix)
        self.__trace(decision, document_id=None, context=context)
        return decision

    def _covered_by_page(self, record: Record, document: Document) -> Decision | None:
        """The permit to show a document's content inside its page, when this actor read that page moments ago
        on the same basis: that page's entry covers the content, so no second entry is written. None
        otherwise (then the content is an act of its own, decided and traced by ``_authorise``)."""
        decision = decide(self._request(Action.consult_document, record, document), self.matrix)
        return decision if decision.permitted and self.__page_read(decision) else None

    def __page_read(self, decision: Decision) -> bool:
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

    def __stay_context(self, request: AccessRequest) -> dict[str, Any]:
        """What the holder reads in the trace: which stay, where, from when to when."""
        grant = stay_basis(request)
        stay = self.session.get(Stay, grant.stay_id) if grant else None
        if stay is None:
            return {}
        return {
            "id": str(stay.id),
            "organisation": stay.organisation.name,
            "care_unit": stay.care_unit.name if stay.care_unit else None,
            "from": plain(stay.admitted_at),
            "to": plain(stay.discharged_at),
        }

    def __event(self, decision: Decision, *, document_id: uuid.UUID | None, context: dict[str, Any]) -> TraceEvent:
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

    def __trace(self, decision: Decision, *, document_id: uuid.UUID | None, context: dict[str, Any]) -> TraceEntry:
        event = self.__event(decision, document_id=document_id, context=context)
        count_decision(decision.action.value, decision.permitted, decision.reason.value)
        kind = self.__notification_kind(decision)

        def write(session: Session) -> TraceEntry:
            entry = self.platform.trace.append(session, event)
            if kind and decision.record_id:
                self.__notify(session, decision.record_id, kind, entry, context)
            return entry

        entry = write(self.session)
        self._last_entry = entry
        if not decision.permitted:
            # Written again in a transaction of its own if this one rolls back.
            self.session.info.setdefault(PENDING_REFUSALS, []).append(write)
        return entry

    def __notification_kind(self, decision: Decision) -> str | None:
        if Obligation.notify_holder not in decision.obligations:
            return None
        if decision.permitted:
            return _NOTIFY_ON_PERMIT.get(decision.action, decision.action.value)
        return _NOTIFY_ON_REFUSAL.get(decision.reason, decision.action.value)

    def __notify(
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
            people=notifications.holder_side(session, record, self.now),
        )

    # -- notifying ---------------------------------------------------------------

    def _notify_change(
        self, record: Record, kind: str, details: dict[str, Any], *, shown_from: datetime | None = None
    ) -> None:
        """A notification of the act just decided and traced (its entry is the last one written).

        Who is told is decided here, with the act (the holder's side now); the worker writes their e-mails."""
        notifications.notify(
            self.session, self.platform, record=record, kind=kind, shown_from=shown_from, details=details,
            trace_entry_id=self._last_entry.id if self._last_entry is not None else None,
            people=notifications.holder_side(self.session, record, self.now),
        )

    # -- questions, not acts: nothing is done and nothing is traced ---------------------

    def would(self, record_id: uuid.UUID, action: Action, **facts: Any) -> Decision:
        """What the policy would answer to ``action`` on the record now: for offering a form, or saying why not.

        A question, not an act: nothing is done and nothing is traced. The act
        itself is decided (and traced) again when it is asked for.
        """
        record = self._record(record_id)
        return decide(self._request(action, record, **facts), self.matrix)

    def may(self, record_id: uuid.UUID, action: Action) -> bool:
        return self.would(record_id, action).permitted

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

    def _allows(self, action: Action, record: Record) -> bool:
        """Whether the policy would permit ``action`` now (a part of an act already decided)."""
        return decide(self._request(action, record), self.matrix).permitted

    def _visibility(self, record: Record) -> Visibility:
        """Which documents of the record the actor may see, as a rule the queries apply in SQL."""
        return visibility(self._request(Action.list_documents, record), self.matrix)


@dataclass(frozen=True)
class Standing:
    """What the policy knows of a record besides its own row: the holder's birth date and the grants.

    Shared between requests and threads (``Platform.access_cache``): never changed once made. ``until`` is the
    earliest instant it stops being true with no write at all (a presence code or an emergency access ending,
    a circle membership or a delegation reaching its date, a stay's period after discharge ending).
    """

    holder_birth_date: date
    grants: Grants
    loaded_at: datetime
    until: datetime | None


# What the grants are read from: a change to any of them in the request's session forgets what was read.
GRANT_SOURCES = (AccessSettings, CircleMember, BlockedProfessional, PresenceGrant, EmergencyAccess, AssistantDelegation,
                 LegalRepresentation, InstitutionalRefusal, Stay, Record, Person)


class GrantsMemo:
    """The grants read for each record in one request (one ``Gate``, one session), so that the facts of an act
    and the visibility rule of its query are read once, not once each.

    Per request only: nothing outlives the gate. Anything that could change them in the session forgets all:
    a flush or a pending change of a row they are read from, any INSERT, UPDATE or DELETE statement sent
    through the session (bulk writes), and a rollback. The emergency access opened by a retried act, a circle
    member added, a block: the next decision reads the grants again.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[uuid.UUID, Standing] = {}
        event.listen(session, "after_flush", self._after_flush)
        event.listen(session, "do_orm_execute", self._on_execute)
        event.listen(session, "after_rollback", self._forget)
        event.listen(session, "after_soft_rollback", self._forget)

    def get(self, record_id: uuid.UUID, load: Callable[[], Standing]) -> Standing:
        if self._pending_change():
            self.seen.clear()
        standing = self.seen.get(record_id)
        if standing is None:
            standing = self.seen[record_id] = load()
        return standing

    def _pending_change(self) -> bool:
        session = self.session
        return any(isinstance(row, GRANT_SOURCES) for rows in (session.new, session.dirty, session.deleted)
                   for row in rows)

    def _after_flush(self, session: Session, _context: Any) -> None:
        if self.seen and self._pending_change():  # still the flushed rows here
            self.seen.clear()

    def _on_execute(self, state: ORMExecuteState) -> None:
        if self.seen and not state.is_select:
            self.seen.clear()

    def _forget(self, *_args: Any) -> None:
        self.seen.clear()


def plain(value: Any) -> Any:
    """A JSON-friendly form for trace context."""
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value
