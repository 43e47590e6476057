"""``decide``: one pure function for every access decision. Deny by default.

Precedence, from strongest to weakest (docs/access-policy.md says it in words):

1. Agency staff and platform jobs never reach clinical content; they alone
   erase a record for good, and only a closed one.
2. The holder's side (holder, assistant, legal representative of a minor)
   may do everything on their record, even closed, except deposit outside the
   personal space (the types the rights matrix gives the holder: their own
   documents and the vaccinations they declare) and see documents whose
   release the author delayed.
3. For professionals: an unknown profession gets nothing; a closed or not yet
   activated record refuses everyone; a blocked professional is refused
   whatever else holds (circle, presence code, emergency).
4. Then an access basis is needed: referring doctor, trusted circle, a
   hospital stay of the organisation acted for, presence code (24 h),
   emergency access — or, for the types a profession may send directly
   (laboratory results), none.
5. Then the document: hidden by the holder, restricted to others, a type the
   profession may not consult, or withdrawn by someone else, and it does not
   exist for this professional ("not found", nothing more).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from opendsp.actors import ActorKind
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.policy.facts import AccessRequest, DocumentFacts, StayGrant
from opendsp.policy.matrix import RightsMatrix, default_matrix
from opendsp.policy.vocabulary import (
    HOLDER_ONLY_ACTIONS,
    REASON_TEXT,
    Action,
    Basis,
    Effect,
    Obligation,
    Reason,
)
from opendsp.records.models import RecordState

HOLDER_SIDE = frozenset({ActorKind.holder, ActorKind.assistant, ActorKind.representative})


class AccessDenied(Exception):
    """Raised by the access layer with the refusing decision."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


@dataclass(frozen=True)
class Decision:
    effect: Effect
    action: Action
    reason: Reason
    basis: Basis | None = None
    obligations: frozenset[Obligation] = frozenset()
    record_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    # For a refusal at record level: the ways access can be obtained.
    how_to_obtain: tuple[str, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.effect is Effect.permit

    @property
    def message(self) -> str:
        return REASON_TEXT[self.reason]

    def covers(self, action: Action, record_id: uuid.UUID, document_id: uuid.UUID | None = None) -> bool:
        """Whether this decision is a permit for exactly that act (the storage layer asks)."""
        return (
            self.permitted
            and self.action is action
            and self.record_id == record_id
            and (document_id is None or self.document_id == document_id)
        )


@dataclass(frozen=True)
class Visibility:
    """Which documents of a record a caller may see: the same rule in Python and in SQL."""

    holder_side: bool
    now: datetime
    viewer: uuid.UUID | None = None
    types: frozenset[DocumentType] = frozenset()
    referring_doctor: bool = False
    nothing: bool = False

    def admits(self, document: DocumentFacts) -> bool:
        if self.nothing:
            return False
        if self.holder_side:
            return document.visible_to_holder_from is None or document.visible_to_holder_from <= self.now
        own = document.author_id is not None and document.author_id == self.viewer
        return (
            not document.hidden
            and document.type in self.types
            and (document.status is not DocumentStatus.withdrawn or own)
            and (
                document.confidentiality is ConfidentialityLevel.normal
                or own
                or self.referring_doctor
                or (self.viewer is not None and self.viewer in document.named_professionals)
            )
        )


@dataclass(frozen=True)
class _Outcome:
    """Builds decisions for one request without repeating its ids."""

    request: AccessRequest
    obligations: frozenset[Obligation] = field(default_factory=frozenset)

    def permit(self, reason: Reason, basis: Basis, *extra: Obligation) -> Decision:
        return self._decision(Effect.permit, reason, basis, self.obligations | frozenset(extra))

    def deny(self, reason: Reason, *extra: Obligation, how: tuple[str, ...] = (), basis: Basis | None = None) -> Decision:
        return self._decision(Effect.deny, reason, basis, frozenset(extra), how)

    def _decision(
        self,
        effect: Effect,
        reason: Reason,
        basis: Basis | None,
        obligations: frozenset[Obligation],
        how: tuple[str, ...] = (),
    ) -> Decision:
        request = self.request
        return Decision(
            effect=effect,
            action=request.action,
            reason=reason,
            basis=basis,
            obligations=obligations,
            record_id=request.record.id if request.record else None,
            document_id=request.document.id if request.document else None,
            how_to_obtain=how,
        )


def decide(request: AccessRequest, matrix: RightsMatrix | None = None) -> Decision:
    matrix = matrix or default_matrix()
    out = _Outcome(request)
    kind = request.actor.kind
    if request.action is Action.erase_record:
        return _erase(request, out)
    if kind is ActorKind.agency:
        if request.action is Action.manage_accounts:
            return out.permit(Reason.agency_administration, Basis.agency)
        return out.deny(Reason.agency_no_clinical_access)
    if kind is ActorKind.system:
        if request.action is Action.manage_accounts:
            return out.permit(Reason.agency_administration, Basis.system)
        return out.deny(Reason.system_no_clinical_access)
    if kind is ActorKind.institution:
        if request.action is Action.read_stay:
            # A hospital reads back its own stays only; another hospital's stay does not exist for it.
            own = request.record is not None and request.stay_hospital == request.actor.organisation_id
            return out.permit(Reason.access_granted, Basis.institution) if own else out.deny(Reason.not_found)
        if request.action is not Action.report_stay:
            return out.deny(Reason.not_applicable)
        if request.actor.organisation_kind not in ("hospital", "emergency_department"):
            return out.deny(Reason.not_a_care_institution)
        if request.record is None:
            return out.deny(Reason.not_found)
        return out.permit(Reason.access_granted, Basis.institution)
    if request.action is Action.manage_accounts:
        return out.deny(Reason.agency_only)
    if request.action is Action.find_patients:
        return _find_patients(request, out, matrix)
    if request.record is None:
        return out.deny(Reason.not_found)
    if kind in HOLDER_SIDE:
        return _holder_side(request, out, matrix)
    if kind is ActorKind.professional:
        return _professional(request, out, matrix)
    return out.deny(Reason.not_applicable)


def _erase(request: AccessRequest, out: _Outcome) -> Decision:
    """Erasure for good: an act of the agency (or its platform job), on a closed record only.

    The holder's side, professionals and institutions never erase; an open record is closed first,
    so that nobody deposits or reads while its content is destroyed.
    """
    basis = {ActorKind.agency: Basis.agency, ActorKind.system: Basis.system}.get(request.actor.kind)
    if basis is None:
        return out.deny(Reason.not_applicable)
    if request.record is None:
        return out.deny(Reason.not_found)
    if request.record.state is not RecordState.closed:
        return out.deny(Reason.wrong_state)
    return out.permit(Reason.agency_administration, basis)


def _find_patients(request: AccessRequest, out: _Outcome, matrix: RightsMatrix) -> Decision:
    """Looking people up (identity only, never clinical data): any professional whose profession has rights.

    Without a record, the search itself (on the platform's chain); with one, each person it found: a person
    whose record is closed, not activated or blocks the professional is not found for them.
    """
    actor = request.actor
    if actor.kind is not ActorKind.professional:
        return out.deny(Reason.not_applicable)
    if matrix.rights_of(actor.profession) is None:
        return out.deny(Reason.profession_without_rights)
    record = request.record
    if record is None:
        if request.patient_lookups_exhausted:
            return out.deny(Reason.too_many_lookups)
        return out.permit(Reason.access_granted, Basis.licensed_professional)
    if record.state is not RecordState.active:
        return out.deny(_inactive_reason(record.state))
    if uuid.UUID(actor.id) in request.grants.blocked:
        return out.deny(Reason.blocked)
    return out.permit(Reason.access_granted, Basis.licensed_professional)


# -- the holder's side --------------------------------------------------------


def _holder_side_basis(request: AccessRequest) -> tuple[Basis | None, Reason]:
    actor, record, grants = request.actor, request.record, request.grants
    assert record is not None
    if actor.kind is ActorKind.holder:
        return (Basis.holder, Reason.holder_side) if actor.id == str(record.holder_id) else (None, Reason.not_holder_side)
    if actor.on_behalf_of != record.holder_id:
        return None, Reason.not_holder_side
    person = uuid.UUID(actor.id)
    if actor.kind is ActorKind.assistant:
        if person not in grants.assistants:
            return None, Reason.not_holder_side
        until = grants.assistants[person]
        if until is not None and request.now >= until:
            return None, Reason.delegation_ended
        return Basis.assistant, Reason.holder_side
    if person not in grants.representatives:
        return None, Reason.not_holder_side
    if not record.holder_is_minor(request.now.date()):
        return None, Reason.representation_ended
    return Basis.representative, Reason.holder_side


def _holder_side(request: AccessRequest, out: _Outcome, matrix: RightsMatrix) -> Decision:
    basis, reason = _holder_side_basis(request)
    if basis is None:
        return out.deny(reason)
    record, action, document = request.record, request.action, request.document
    assert record is not None
    permit = out.permit(Reason.holder_side, basis)
    match action:
        case Action.activate_record:
            return permit if record.state is RecordState.created else out.deny(Reason.wrong_state)
        case Action.close_record:
            return permit if record.state is not RecordState.closed else out.deny(Reason.wrong_state)
        case Action.reopen_record:
            return permit if record.state is RecordState.closed else out.deny(Reason.wrong_state)
        case Action.manage_assistants if basis is Basis.assistant:
            return out.deny(Reason.assistant_cannot_delegate)
        case Action.manage_access | Action.manage_assistants | Action.search_directory:
            if record.state is RecordState.closed:
                return out.deny(Reason.record_closed)
            if request.names_document and (document is None or not _document_rule(request).admits(document)):
                return out.deny(Reason.not_found)  # a document the holder's side does not see yet, or none
            return permit
        case Action.export_record if request.names_document:
            # A part of the record about one document (who may read it): that document must be one the holder's
            # side sees, else it is not found.
            if document is None or not _document_rule(request).admits(document):
                return out.deny(Reason.not_found)
            return permit
        case (Action.read_trace | Action.export_record | Action.list_documents | Action.list_stays
              | Action.enter_record | Action.read_wishes):
            return permit
        case Action.consult_document:
            if document is None or not _document_rule(request).admits(document):
                return out.deny(Reason.not_found)
            return permit
        case Action.deposit_document:
            if record.state is not RecordState.active:
                return out.deny(_inactive_reason(record.state))
            if request.document_type not in matrix.holder_deposit:
                return out.deny(Reason.holder_deposits_personal_only)
            return permit
        case Action.replace_document | Action.withdraw_document:
            if record.state is not RecordState.active:
                return out.deny(_inactive_reason(record.state))
            if document is None or not _document_rule(request).admits(document):
                return out.deny(Reason.not_found)
            if not document.authored_by_holder:
                return out.deny(Reason.not_author)
            if document.status is not DocumentStatus.current:
                return out.deny(Reason.document_not_current)
            return permit
    return out.deny(Reason.not_applicable)


# The roles through which a person acts for someone else's record, the stronger first.
ACTING_ROLES = (ActorKind.representative, ActorKind.assistant)


def acting_role(requests: dict[ActorKind, AccessRequest], matrix: RightsMatrix | None = None) -> ActorKind | None:
    """The role through which a person acts for a record now: the first of ``ACTING_ROLES`` that ``decide``
    lets enter the record. ``requests``: the person's request in each role they hold on file. A former legal
    representative (the child has come of age) who is also an assistant acts as the assistant; None when no
    role holds any more."""
    for kind in ACTING_ROLES:
        request = requests.get(kind)
        if request is not None and decide(replace(request, action=Action.enter_record), matrix).permitted:
            return kind
    return None


def _inactive_reason(state: RecordState) -> Reason:
    return Reason.record_closed if state is RecordState.closed else Reason.record_not_active


# -- professionals ------------------------------------------------------------


def _professional_basis(request: AccessRequest) -> Basis | None:
    grants, now = request.grants, request.now
    professional = uuid.UUID(request.actor.id)
    if grants.referring_doctor == professional:
        return Basis.referring_doctor
    if professional in grants.circle:
        until = grants.circle[professional]
        if until is None or now < until:
            return Basis.circle
    if stay_basis(request) is not None:
        return Basis.stay
    if professional in grants.presence and now < grants.presence[professional]:
        return Basis.presence_code
    if grants.emergency_allowed and professional in grants.emergency and now < grants.emergency[professional]:
        return Basis.emergency
    return None


def stay_basis(request: AccessRequest) -> StayGrant | None:
    """The stay that opens the record to the organisation the professional acts for, if any."""
    grants, organisation = request.grants, request.actor.organisation_id
    if organisation is None or not grants.institutional_access_allowed:
        return None
    stay = grants.stays.get(organisation)
    if stay is None or stay.hospital_id in grants.refused_institutions:
        return None
    if stay.until is not None and request.now >= stay.until:
        return None
    return stay


def _ways_in(request: AccessRequest) -> tuple[str, ...]:
    ways = ("presence_code", "trusted_circle")
    if request.actor.organisation_kind == "emergency_department" and request.grants.emergency_allowed:
        ways += ("emergency_access",)
    return ways


def _professional(request: AccessRequest, out: _Outcome, matrix: RightsMatrix) -> Decision:
    actor, record, action, grants = request.actor, request.record, request.action, request.grants
    assert record is not None
    rights = matrix.rights_of(actor.profession, actor.specialties, actor.organisation_kind)
    if rights is None:
        return out.deny(Reason.profession_without_rights)
    # A closed record and a block come before "holder only": whatever the act, the answer is the same
    # for a record the professional may not reach (adapters answer it as an unknown patient).
    if record.state is not RecordState.active:
        return out.deny(_inactive_reason(record.state))
    professional = uuid.UUID(actor.id)
    if professional in grants.blocked:
        return out.deny(Reason.blocked)
    if action in HOLDER_ONLY_ACTIONS:
        return out.deny(Reason.holder_only)

    if action is Action.open_with_presence_code:
        if request.presence_code_locked:
            return out.deny(Reason.presence_code_locked, Obligation.notify_holder)
        if not request.presence_code_valid:
            # The wrong code that locks the presence code is news for the holder; the ones before it are not.
            if request.presence_code_last_attempt:
                return out.deny(Reason.wrong_presence_code, Obligation.notify_holder)
            return out.deny(Reason.wrong_presence_code)
        return out.permit(Reason.access_granted, Basis.presence_code, Obligation.notify_holder)
    if action is Action.open_emergency_access:
        if actor.organisation_kind != "emergency_department":
            return out.deny(Reason.not_emergency_department)
        if not grants.emergency_allowed:
            return out.deny(Reason.emergency_refused_by_holder)
        if not (request.emergency_reason or "").strip():
            return out.deny(Reason.emergency_reason_required)
        return out.permit(
            Reason.access_granted, Basis.emergency, Obligation.notify_holder, Obligation.trace_as_emergency
        )

    basis = _professional_basis(request)
    if basis is Basis.emergency:
        out = _Outcome(request, frozenset({Obligation.trace_as_emergency}))
    document = request.document

    if action is Action.deposit_document:
        kind = request.document_type
        if kind is None or kind not in rights.deposit:
            return out.deny(Reason.type_not_permitted, basis=basis)
        if kind is DocumentType.patient_summary and grants.referring_doctor != professional:
            return out.deny(Reason.referring_doctor_only, basis=basis)
        if basis is None:
            if kind in rights.direct_deposit:
                return out.permit(Reason.access_granted, Basis.direct_deposit)
            return out.deny(Reason.no_access, how=_ways_in(request))
        return out.permit(Reason.access_granted, basis)

    if action in (Action.replace_document, Action.withdraw_document):
        # Without an access basis, a document that is not one's own direct deposit (or is hidden, or does
        # not exist) gets the record-level answer: the caller learns nothing about which ids exist.
        direct = (basis is None and document is not None and document.type in rights.direct_deposit
                  and document.author_id == professional and not document.hidden)
        effective = Basis.direct_deposit if direct else basis
        if effective is None:
            return out.deny(Reason.no_access, how=_ways_in(request))
        if document is None or not direct and not _document_rule(request, matrix).admits(document):
            return out.deny(Reason.not_found, basis=basis)
        if document.author_id != professional:
            return out.deny(Reason.not_author, basis=basis)
        if document.status is not DocumentStatus.current:
            return out.deny(Reason.document_not_current, basis=basis)
        if document.type not in rights.deposit:
            return out.deny(Reason.type_not_permitted, basis=basis)
        return out.permit(Reason.access_granted, effective)

    if basis is None:
        return out.deny(Reason.no_access, how=_ways_in(request))
    if action in (Action.list_documents, Action.list_stays, Action.read_wishes):
        # The holder's wishes go with any access to the record, whatever the profession's document rights.
        return out.permit(Reason.access_granted, basis)
    if action is Action.consult_document:
        if document is None or not _document_rule(request, matrix).admits(document):
            return out.deny(Reason.not_found, basis=basis)
        return out.permit(Reason.access_granted, basis)
    return out.deny(Reason.not_applicable)


# -- what a caller may see ----------------------------------------------------


def visibility(request: AccessRequest, matrix: RightsMatrix | None = None) -> Visibility:
    """The documents of ``request.record`` the actor may see, as a rule for lists and searches.

    It admits nothing unless the actor may list the record's documents at all.
    """
    listing = replace(request, action=Action.list_documents, document=None)
    if not decide(listing, matrix).permitted:
        return Visibility(holder_side=False, now=request.now, nothing=True)
    return _document_rule(request, matrix)


def _document_rule(request: AccessRequest, matrix: RightsMatrix | None = None) -> Visibility:
    matrix = matrix or default_matrix()
    actor, now = request.actor, request.now
    if actor.kind in HOLDER_SIDE and request.record is not None:
        basis, _ = _holder_side_basis(request)
        return Visibility(holder_side=True, now=now, nothing=basis is None)
    if actor.kind is not ActorKind.professional or request.record is None:
        return Visibility(holder_side=False, now=now, nothing=True)
    rights = matrix.rights_of(actor.profession, actor.specialties, actor.organisation_kind)
    professional = uuid.UUID(actor.id)
    return Visibility(
        holder_side=False,
        now=now,
        viewer=professional,
        types=rights.consult if rights else frozenset(),
        referring_doctor=request.grants.referring_doctor == professional,
        nothing=rights is None,
    )
