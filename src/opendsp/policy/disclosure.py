"""What a refusal may tell the caller, and when a refusal may be tried again under emergency access.

Adapters never word these rules themselves: they ask here. A refusal that
would reveal something the holder did not say to the caller (that a document
exists but is hidden, that the holder blocked them, that the record is
closed) is answered exactly as an unknown id would be.
"""

from __future__ import annotations

import enum

from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action, Reason


class Answer(str, enum.Enum):
    unknown_document = "unknown_document"  # as for a document id that does not exist
    unknown_patient = "unknown_patient"  # as for a person who does not exist
    refused = "refused"  # a refusal that may be told, with its reason (and how to obtain access)


# Refusals about a document the caller does see: telling them reveals nothing.
_SEEN_DOCUMENT = frozenset({
    Reason.not_author, Reason.document_not_current, Reason.type_not_permitted,
    Reason.holder_deposits_personal_only, Reason.referring_doctor_only,
})
# Refusals that would reveal the holder's choices about this caller, or the record's state.
_UNREACHABLE_RECORD = frozenset({Reason.blocked, Reason.record_closed, Reason.record_not_active})


def answer_for(refusal: Decision, *, named_by_document: bool = False) -> Answer:
    """How an adapter answers a refusal.

    ``named_by_document``: the caller named a document (its id), not a person. Then any refusal other than
    one about a document they see answers as an unknown document: the record behind an id is never told.
    Naming a person (a search, a deposit), a record the caller may not reach answers as an unknown person;
    the lack of an access basis is told with the ways to obtain one (the person is known to them already).
    """
    assert not refusal.permitted
    if refusal.reason is Reason.not_found:
        return Answer.unknown_document
    if named_by_document:
        return Answer.refused if refusal.reason in _SEEN_DOCUMENT else Answer.unknown_document
    if refusal.reason in _UNREACHABLE_RECORD:
        return Answer.unknown_patient
    return Answer.refused


def may_retry_with_emergency(refusal: Decision, *, purpose_of_use: str | None) -> bool:
    """Whether a refusal for lack of access may open emergency access and try the act once more.

    Only a caller declaring an emergency (IHE IUA purpose of use ETREAT) and only a refusal for lack of an
    access basis on a known record: opening emergency access is then decided by the policy itself
    (emergency departments only, if the holder allows it) and traced.
    """
    return (
        purpose_of_use == "ETREAT"
        and not refusal.permitted
        and refusal.reason is Reason.no_access
        and refusal.record_id is not None
        and refusal.action is not Action.open_emergency_access
    )
