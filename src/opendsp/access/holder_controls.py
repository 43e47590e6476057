"""The holder's controls: the record's state, the circle, blocks, the referring doctor, the emergency setting,
refused institutions, the presence code, hidden and restricted documents, assistants, wishes.

Each change is ``manage_access`` (or its kin) decided and traced by the gate before anything is written; the
change itself is what this module knows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from opendsp.access import presence
from opendsp.access.gate import Gate, InvalidRequest, plain
from opendsp.access.models import (
    AccessSettings,
    AssistantDelegation,
    BlockedProfessional,
    CircleMember,
    DocumentNamedProfessional,
    PresenceGrant,
    Wish,
)
from opendsp.access.wishes import ANSWERS, WishKind, WishValue
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, DocumentType
from opendsp.notifications.models import NotificationKind
from opendsp.persons.models import Person
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action
from opendsp.professionals.models import Organisation, Professional
from opendsp.records import services as records
from opendsp.records.models import Record, RecordState
from opendsp.stays.models import InstitutionalRefusal


class HolderControls(Gate):
    """What the holder's side decides about their record."""

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
        context = {"change": change, **{k: plain(v) for k, v in details.items()}}
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

    def end_presence_access(self, record_id: uuid.UUID, grant_id: uuid.UUID) -> Professional:
        """End now the access a professional opened with the presence code: their next request is refused.

        ``grant_id`` names a running grant of THIS record; any other id (another record's, an ended one, none)
        is an unknown grant, answered alike. Every running grant of that professional on the record ends, so the
        access ends whichever of them was named. The act is traced as a change of the access settings."""
        record = self._record(record_id)
        grant = self.session.get(PresenceGrant, grant_id)
        if grant is None or grant.record_id != record.id or grant.expires_at <= self.now:
            grant = None
        # Decided (and a refusal traced) before the caller learns whether the grant exists.
        self._manage(record_id, "presence_access.end", grant=grant_id,
                     **({"professional": grant.professional_id, "opened": grant.opened_at,
                         "until": grant.expires_at} if grant else {}))
        if grant is None:
            raise InvalidRequest(f"no running presence-code access {grant_id}")
        professional = self._professional(grant.professional_id)
        for running in self.session.scalars(
            select(PresenceGrant).where(
                PresenceGrant.record_id == record.id, PresenceGrant.professional_id == professional.id,
                PresenceGrant.expires_at > self.now,
            )
        ):
            running.expires_at = self.now
        self.session.flush()
        return professional

    def enter(self, record_id: uuid.UUID) -> Decision:
        """An assistant or a legal representative switching to the record they act for."""
        return self._authorise(Action.enter_record, self._record(record_id))

    def _manage_document(self, document_id: uuid.UUID, change: str, **details: Any) -> Document:
        document, record = self._document_of(document_id)
        context = {"change": change, **{k: plain(v) for k, v in details.items()}}
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
        """``set_confidentiality_in`` for the record the document belongs to (platform code and tests)."""
        document, _ = self._document_of(document_id)
        if document is None:
            raise InvalidRequest(f"no document {document_id}")
        self.set_confidentiality_in(document.record_id, document_id, level, named=named)

    def set_confidentiality_in(
        self, record_id: uuid.UUID, document_id: uuid.UUID, level: ConfidentialityLevel, *,
        named: Iterable[uuid.UUID] = (),
    ) -> Document:
        """Restrict a document of the record to its author, the referring doctor and the professionals named,
        or lift the restriction, as ONE act: one decision (the document must be one the holder's side sees,
        else it is not found, like another record's) and one trace entry naming the level and the readers."""
        readers = sorted(set(named), key=str)
        if level is ConfidentialityLevel.normal and readers:
            raise InvalidRequest("professionals are named only for a restricted document")
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        self._authorise(Action.manage_access, record, document=document, names_document=True,
                        trace_document=document.id if document else None,
                        context={"change": "document.confidentiality", "level": level.value,
                                 "named": [str(r) for r in readers]})
        assert document is not None  # a missing document is refused above
        for professional_id in readers:  # decided first: an unknown document says nothing about professionals
            self._professional(professional_id)
        document.confidentiality = level
        for row in self.session.scalars(
            select(DocumentNamedProfessional).where(DocumentNamedProfessional.record_id == document.record_id,
                                                    DocumentNamedProfessional.document_id == document.id)
        ):
            self.session.delete(row)
        self.session.flush()
        for professional_id in readers:
            self.session.add(DocumentNamedProfessional(
                document_id=document.id, professional_id=professional_id, record_id=document.record_id))
        self.session.flush()
        return document

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
        context = {"change": "assistant.add", "assistant": str(person.id), "until": plain(until)}
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
