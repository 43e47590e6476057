"""The rules the FHIR channel relies on, one line each: blocks over direct deposit, patient lookups, a hospital
reading back its stays, what a refusal may tell, and when a refusal may be retried under emergency access."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import NamedTuple

import pytest

from opendsp.documents.types import DocumentType as T
from opendsp.policy import AccessRequest, Action, Basis, Effect, Grants, Reason, decide
from opendsp.policy.disclosure import Answer, answer_for, may_retry_with_emergency
from opendsp.records.models import RecordState
from tests.policy.scenario import (
    BIOLOGIST,
    CARDIOLOGIST,
    ER_DOCTOR,
    GP,
    HEALER,
    HOLDER,
    HOSPITAL_ID,
    IN_CIRCLE,
    RECORD,
    document,
    pid,
    request,
)
from tests.policy.test_rules import HOSPITAL_SYSTEM

A = Action
PERMIT, DENY = Effect.permit, Effect.deny
CLOSED = replace(RECORD, state=RecordState.closed)
NOT_ACTIVATED = replace(RECORD, state=RecordState.created)
BLOCKED_LAB = Grants(blocked=frozenset({pid(BIOLOGIST)}))
OWN_LAB = document(T.laboratory_report, author=BIOLOGIST)


class Row(NamedTuple):
    rule: str
    request: AccessRequest
    effect: Effect
    reason: Reason
    basis: Basis | None = None


ROWS = [
    # A block wins over direct deposit, for every act of the laboratory (access-policy rule 5).
    Row("block: a blocked laboratory's direct deposit is refused",
        request(BIOLOGIST, A.deposit_document, document_type=T.laboratory_report, grants=BLOCKED_LAB),
        DENY, Reason.blocked),
    Row("block: a blocked laboratory may not replace its own result",
        request(BIOLOGIST, A.replace_document, document=OWN_LAB, grants=BLOCKED_LAB), DENY, Reason.blocked),
    Row("block: a blocked laboratory may not withdraw its own result",
        request(BIOLOGIST, A.withdraw_document, document=OWN_LAB, grants=BLOCKED_LAB), DENY, Reason.blocked),
    Row("direct deposit: an unblocked laboratory still sends results without a basis",
        request(BIOLOGIST, A.deposit_document, document_type=T.laboratory_report),
        PERMIT, Reason.access_granted, Basis.direct_deposit),
    # A closed record and a block come before "holder only", so that every act on it answers alike.
    Row("block: even the trace is refused as blocked, not as holder only",
        request(GP, A.read_trace, grants=replace(IN_CIRCLE, blocked=frozenset({pid(GP)}))), DENY, Reason.blocked),
    Row("closed: the trace is refused as closed, not as holder only",
        request(GP, A.read_trace, record=CLOSED, grants=IN_CIRCLE), DENY, Reason.record_closed),
    Row("holder only: a professional with access still does not read the trace",
        request(GP, A.read_trace, grants=IN_CIRCLE), DENY, Reason.holder_only),
    # Looking people up (PDQm): identity only.
    Row("lookup: any professional with rights searches (the search, on the platform's chain)",
        request(CARDIOLOGIST, A.find_patients, record=None), PERMIT, Reason.access_granted,
        Basis.licensed_professional),
    Row("lookup: not once the hour's lookups are used up",
        request(CARDIOLOGIST, A.find_patients, record=None, patient_lookups_exhausted=True),
        DENY, Reason.too_many_lookups),
    Row("lookup: a person with no relation to the professional is found (identity only)",
        request(CARDIOLOGIST, A.find_patients), PERMIT, Reason.access_granted, Basis.licensed_professional),
    Row("lookup: a person who blocked the professional is not found",
        request(CARDIOLOGIST, A.find_patients, grants=Grants(blocked=frozenset({pid(CARDIOLOGIST)}))),
        DENY, Reason.blocked),
    Row("lookup: a person whose record is closed is not found",
        request(CARDIOLOGIST, A.find_patients, record=CLOSED), DENY, Reason.record_closed),
    Row("lookup: a person whose record is not activated is not found",
        request(CARDIOLOGIST, A.find_patients, record=NOT_ACTIVATED), DENY, Reason.record_not_active),
    Row("lookup: an unknown profession finds no one",
        request(HEALER, A.find_patients, record=None), DENY, Reason.profession_without_rights),
    Row("lookup: the holder's side does not use the professionals' lookup",
        request(HOLDER, A.find_patients, record=None), DENY, Reason.not_applicable),
    # A hospital reads back the stays it reported, and no other.
    Row("stay: a hospital reads back its own stay",
        request(HOSPITAL_SYSTEM, A.read_stay, stay_hospital=HOSPITAL_ID), PERMIT, Reason.access_granted,
        Basis.institution),
    Row("stay: another hospital's stay does not exist for it",
        request(HOSPITAL_SYSTEM, A.read_stay, stay_hospital=uuid.uuid4()), DENY, Reason.not_found),
    Row("stay: a professional does not read stays this way",
        request(GP, A.read_stay, grants=IN_CIRCLE, stay_hospital=HOSPITAL_ID), DENY, Reason.not_applicable),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.rule for row in ROWS])
def test_rule(row: Row) -> None:
    decision = decide(row.request)
    assert (decision.effect, decision.reason, decision.basis) == (row.effect, row.reason, row.basis), decision


# -- what a refusal tells: "unknown" unless telling reveals nothing -----------------------------------------

NO_BASIS = decide(request(CARDIOLOGIST, A.list_documents))
TELLS = [
    ("a hidden document, named by its id", decide(request(GP, A.consult_document, grants=IN_CIRCLE,
                                                          document=document(hidden=True))), True,
     Answer.unknown_document),
    ("a document of a record without basis, named by its id",
     decide(request(CARDIOLOGIST, A.consult_document, document=document())), True, Answer.unknown_document),
    ("a document of a closed record, named by its id",
     decide(request(GP, A.consult_document, record=CLOSED, grants=IN_CIRCLE, document=document())), True,
     Answer.unknown_document),
    ("a blocked caller naming a document", decide(request(GP, A.consult_document, document=document(),
                                                          grants=replace(IN_CIRCLE, blocked=frozenset({pid(GP)})))),
     True, Answer.unknown_document),
    ("someone else's document the caller sees: not the author",
     decide(request(GP, A.withdraw_document, grants=IN_CIRCLE, document=document(T.consultation_report,
                                                                                   author=CARDIOLOGIST))),
     True, Answer.refused),
    ("a blocked caller naming a person", decide(request(GP, A.list_documents,
                                                       grants=replace(IN_CIRCLE, blocked=frozenset({pid(GP)})))),
     False, Answer.unknown_patient),
    ("a closed record, naming the person", decide(request(GP, A.list_documents, record=CLOSED, grants=IN_CIRCLE)),
     False, Answer.unknown_patient),
    ("no basis, naming the person: told how to obtain access", NO_BASIS, False, Answer.refused),
]


@pytest.mark.parametrize(("case", "refusal", "by_id", "answer"), TELLS, ids=[t[0] for t in TELLS])
def test_what_a_refusal_tells(case: str, refusal, by_id: bool, answer: Answer) -> None:  # type: ignore[no-untyped-def]
    assert not refusal.permitted
    assert answer_for(refusal, named_by_document=by_id) is answer


# -- emergency retry: only an emergency declared, only for lack of a basis ---------------------------------

RETRIES = [
    ("ETREAT without a basis", NO_BASIS, "ETREAT", True),
    ("TREAT without a basis", NO_BASIS, "TREAT", False),
    ("ETREAT when blocked", decide(request(ER_DOCTOR, A.list_documents, grants=Grants(blocked=frozenset({pid(ER_DOCTOR)})))),
     "ETREAT", False),
    ("ETREAT on a closed record", decide(request(ER_DOCTOR, A.list_documents, record=CLOSED)), "ETREAT", False),
    ("ETREAT for a hidden document", decide(request(GP, A.consult_document, grants=IN_CIRCLE,
                                                    document=document(hidden=True))), "ETREAT", False),
    ("ETREAT on an unknown record", decide(request(ER_DOCTOR, A.list_documents, record=None)), "ETREAT", False),
    ("ETREAT when opening emergency access itself was refused",
     decide(request(CARDIOLOGIST, A.open_emergency_access, emergency_reason="x")), "ETREAT", False),
]


@pytest.mark.parametrize(("case", "refusal", "purpose", "retry"), RETRIES, ids=[r[0] for r in RETRIES])
def test_when_a_refusal_is_retried_under_emergency_access(case: str, refusal, purpose: str,  # type: ignore[no-untyped-def]
                                                          retry: bool) -> None:
    assert may_retry_with_emergency(refusal, purpose_of_use=purpose) is retry
