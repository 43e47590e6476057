"""The access rules, one line each: readable as evidence by a privacy officer.

Each row: who, what, the situation, and the decision the policy must take
(permit or deny, the reason, and the basis of access).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import NamedTuple

import pytest

from opendsp.actors import Actor, ActorKind
from opendsp.documents.types import ConfidentialityLevel as Conf
from opendsp.documents.types import DocumentStatus
from opendsp.documents.types import DocumentType as T
from opendsp.policy import AccessRequest, Action, Basis, Effect, Grants, Obligation, Reason, decide
from opendsp.policy.facts import StayGrant
from opendsp.records.models import RecordState
from tests.policy.scenario import (
    AGENCY,
    ASSISTANT,
    BIOLOGIST,
    CARDIOLOGIST,
    DENTIST,
    ER_DOCTOR,
    GP,
    GP_SAME_PRACTICE,
    HEALER,
    HOSPITAL_ID,
    HOLDER,
    HOUR,
    IN_CIRCLE,
    JOB,
    MINOR_RECORD,
    NOW,
    NURSE,
    OTHER_PERSON,
    PARENT,
    PHARMACIST,
    RECORD,
    WARD_NURSE,
    document,
    pid,
    request,
)

A = Action
PERMIT, DENY = Effect.permit, Effect.deny
CLOSED = replace(RECORD, state=RecordState.closed)
NOT_ACTIVATED = replace(RECORD, state=RecordState.created)
LAB = document(T.laboratory_report)
HIDDEN_LAB = document(T.laboratory_report, hidden=True)
RESTRICTED = document(T.consultation_report, author=CARDIOLOGIST, confidentiality=Conf.restricted)
RESTRICTED_NAMING_NURSE = document(
    T.consultation_report, author=CARDIOLOGIST, confidentiality=Conf.restricted, named=(NURSE,)
)
GP_REPORT = document(T.consultation_report, author=GP)
WITHDRAWN_BY_CARDIO = document(T.consultation_report, author=CARDIOLOGIST, status=DocumentStatus.withdrawn)
PERSONAL = document(T.personal_document, by_holder=True)
DECLARED_VACCINATION = document(T.vaccination_record, by_holder=True)
LAB_BIOLOGIST_ELSEWHERE = replace(BIOLOGIST, organisation_kind="hospital")
IN_STAY = Grants(stays={WARD_NURSE.organisation_id: StayGrant(uuid.uuid4(), HOSPITAL_ID, None)})  # type: ignore[dict-item]
HOSPITAL_SYSTEM = Actor(kind=ActorKind.institution, id=str(HOSPITAL_ID), display="HIS", organisation_id=HOSPITAL_ID,
                        organisation_kind="hospital")


def stay_until(moment):  # type: ignore[no-untyped-def]
    return Grants(stays={WARD_NURSE.organisation_id: StayGrant(uuid.uuid4(), HOSPITAL_ID, moment)})  # type: ignore[dict-item]
DELAYED = document(T.laboratory_report, holder_from=NOW + 72 * HOUR)


def circle(*actors, until=None, **more) -> Grants:  # type: ignore[no-untyped-def]
    return Grants(circle={pid(a): until for a in actors}, **more)


class Row(NamedTuple):
    rule: str
    request: AccessRequest
    effect: Effect
    reason: Reason
    basis: Basis | None = None


ROWS = [
    # 1. Rights matrix: profession and specialty decide which types may be consulted and deposited.
    Row("matrix: a GP in the circle consults a laboratory report",
        request(GP, A.consult_document, grants=circle(GP), document=LAB), PERMIT, Reason.access_granted, Basis.circle),
    Row("matrix: a pharmacist in the circle may not see a discharge letter (it does not exist for them)",
        request(PHARMACIST, A.consult_document, grants=circle(PHARMACIST), document=document(T.discharge_letter, author=CARDIOLOGIST)),
        DENY, Reason.not_found, Basis.circle),
    Row("matrix: a pharmacist in the circle consults a prescription",
        request(PHARMACIST, A.consult_document, grants=circle(PHARMACIST), document=document(T.prescription, author=GP)),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("matrix: a nurse may not deposit a prescription",
        request(NURSE, A.deposit_document, grants=circle(NURSE), document_type=T.prescription),
        DENY, Reason.type_not_permitted, Basis.circle),
    Row("matrix: a dentist deposits a consultation report",
        request(DENTIST, A.deposit_document, grants=circle(DENTIST), document_type=T.consultation_report),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("matrix: an unknown profession gets nothing, even in the circle",
        request(HEALER, A.list_documents, grants=circle(HEALER)), DENY, Reason.profession_without_rights),
    Row("matrix: a hospital physician deposits a discharge letter",
        request(CARDIOLOGIST, A.deposit_document, grants=circle(CARDIOLOGIST), document_type=T.discharge_letter),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("matrix: the same letter is not for a physician in private practice",
        request(GP, A.deposit_document, grants=circle(GP), document_type=T.discharge_letter),
        DENY, Reason.type_not_permitted, Basis.circle),
    Row("matrix: a biologist outside a laboratory needs an access basis to deposit",
        request(LAB_BIOLOGIST_ELSEWHERE, A.deposit_document, document_type=T.laboratory_report),
        DENY, Reason.no_access),
    Row("matrix: a laboratory sends a result directly, without an access basis",
        request(BIOLOGIST, A.deposit_document, document_type=T.laboratory_report),
        PERMIT, Reason.access_granted, Basis.direct_deposit),
    Row("matrix: direct deposit does not let a laboratory read the record",
        request(BIOLOGIST, A.list_documents), DENY, Reason.no_access),
    # 2. Trusted circle and referring doctor.
    Row("circle: outside the circle, no access",
        request(GP, A.list_documents), DENY, Reason.no_access),
    Row("circle: a member sees the list",
        request(GP, A.list_documents, grants=circle(GP)), PERMIT, Reason.access_granted, Basis.circle),
    Row("circle: adding one doctor of a practice gives nothing to a colleague",
        request(GP_SAME_PRACTICE, A.list_documents, grants=circle(GP)), DENY, Reason.no_access),
    Row("circle: a membership with an end date ends then",
        request(GP, A.list_documents, grants=circle(GP, until=NOW)), DENY, Reason.no_access),
    Row("circle: before its end date it holds",
        request(GP, A.list_documents, grants=circle(GP, until=NOW + HOUR)), PERMIT, Reason.access_granted, Basis.circle),
    Row("referring doctor: deposits the patient summary",
        request(GP, A.deposit_document, grants=IN_CIRCLE, document_type=T.patient_summary),
        PERMIT, Reason.access_granted, Basis.referring_doctor),
    Row("referring doctor: another GP of the circle may not deposit the patient summary",
        request(GP_SAME_PRACTICE, A.deposit_document, grants=circle(GP, GP_SAME_PRACTICE, referring_doctor=pid(GP)),
                document_type=T.patient_summary), DENY, Reason.referring_doctor_only, Basis.circle),
    # Institutional access: a hospital stay opens the record to the care unit (issue 8).
    Row("stay: during the stay the care unit's nurse consults",
        request(WARD_NURSE, A.consult_document, grants=IN_STAY, document=LAB), PERMIT, Reason.access_granted, Basis.stay),
    Row("stay: until the end of the period after discharge",
        request(WARD_NURSE, A.list_documents, grants=stay_until(NOW + HOUR)), PERMIT, Reason.access_granted, Basis.stay),
    Row("stay: and not after it",
        request(WARD_NURSE, A.list_documents, grants=stay_until(NOW)), DENY, Reason.no_access),
    Row("stay: another unit of the same hospital has no access",
        request(replace(WARD_NURSE, organisation_id=HOSPITAL_ID), A.list_documents, grants=IN_STAY), DENY, Reason.no_access),
    Row("stay: a block still wins",
        request(WARD_NURSE, A.list_documents, grants=replace(IN_STAY, blocked=frozenset({pid(WARD_NURSE)}))),
        DENY, Reason.blocked),
    Row("stay: a hidden document stays hidden",
        request(WARD_NURSE, A.consult_document, grants=IN_STAY, document=HIDDEN_LAB), DENY, Reason.not_found, Basis.stay),
    Row("stay: a restricted document stays restricted",
        request(WARD_NURSE, A.consult_document, grants=IN_STAY, document=RESTRICTED), DENY, Reason.not_found, Basis.stay),
    Row("stay: a closed record stays closed",
        request(WARD_NURSE, A.list_documents, record=CLOSED, grants=IN_STAY), DENY, Reason.record_closed),
    Row("stay: the holder may refuse institutional access altogether",
        request(WARD_NURSE, A.list_documents, grants=replace(IN_STAY, institutional_access_allowed=False)),
        DENY, Reason.no_access),
    Row("stay: or for one organisation",
        request(WARD_NURSE, A.list_documents, grants=replace(IN_STAY, refused_institutions=frozenset({HOSPITAL_ID}))),
        DENY, Reason.no_access),
    Row("stay: the hospital's system reports the stay",
        request(HOSPITAL_SYSTEM, A.report_stay), PERMIT, Reason.access_granted, Basis.institution),
    Row("stay: a laboratory's system may not",
        request(replace(HOSPITAL_SYSTEM, organisation_kind="laboratory"), A.report_stay),
        DENY, Reason.not_a_care_institution),
    Row("stay: a hospital's system never reads the record",
        request(HOSPITAL_SYSTEM, A.list_documents), DENY, Reason.not_applicable),
    # 3. Presence code.
    Row("presence code: the right code opens access and the holder is told",
        request(CARDIOLOGIST, A.open_with_presence_code, presence_code_valid=True),
        PERMIT, Reason.access_granted, Basis.presence_code),
    Row("presence code: a wrong code is refused",
        request(CARDIOLOGIST, A.open_with_presence_code, presence_code_valid=False), DENY, Reason.wrong_presence_code),
    Row("presence code: after too many wrong codes, even the right one is refused",
        request(CARDIOLOGIST, A.open_with_presence_code, presence_code_valid=True, presence_code_locked=True),
        DENY, Reason.presence_code_locked),
    Row("presence code: the access opened lasts while it has not expired",
        request(CARDIOLOGIST, A.consult_document, grants=Grants(presence={pid(CARDIOLOGIST): NOW + HOUR}), document=LAB),
        PERMIT, Reason.access_granted, Basis.presence_code),
    Row("presence code: and not a moment longer",
        request(CARDIOLOGIST, A.consult_document, grants=Grants(presence={pid(CARDIOLOGIST): NOW}), document=LAB),
        DENY, Reason.no_access),
    # 4. Emergency access.
    Row("emergency: an emergency department opens with a reason",
        request(ER_DOCTOR, A.open_emergency_access, emergency_reason="unconscious, no relative reachable"),
        PERMIT, Reason.access_granted, Basis.emergency),
    Row("emergency: a reason is mandatory",
        request(ER_DOCTOR, A.open_emergency_access, emergency_reason="  "), DENY, Reason.emergency_reason_required),
    Row("emergency: only emergency departments",
        request(CARDIOLOGIST, A.open_emergency_access, emergency_reason="urgent"), DENY, Reason.not_emergency_department),
    Row("emergency: the holder may refuse it",
        request(ER_DOCTOR, A.open_emergency_access, emergency_reason="urgent", grants=Grants(emergency_allowed=False)),
        DENY, Reason.emergency_refused_by_holder),
    Row("emergency: an open emergency access lets the doctor consult, traced as emergency",
        request(ER_DOCTOR, A.consult_document, grants=Grants(emergency={pid(ER_DOCTOR): NOW + HOUR}), document=LAB),
        PERMIT, Reason.access_granted, Basis.emergency),
    Row("emergency: refusing emergency access ends an open one",
        request(ER_DOCTOR, A.consult_document, document=LAB,
                grants=Grants(emergency={pid(ER_DOCTOR): NOW + HOUR}, emergency_allowed=False)),
        DENY, Reason.no_access),
    Row("emergency: it ends after its bounded time",
        request(ER_DOCTOR, A.consult_document, grants=Grants(emergency={pid(ER_DOCTOR): NOW}), document=LAB),
        DENY, Reason.no_access),
    # 5. Blocked professionals: the block wins over circle, code and emergency.
    Row("block: over the circle",
        request(GP, A.consult_document, grants=circle(GP, blocked=frozenset({pid(GP)})), document=LAB),
        DENY, Reason.blocked),
    Row("block: over a presence code",
        request(CARDIOLOGIST, A.open_with_presence_code, presence_code_valid=True,
                grants=Grants(blocked=frozenset({pid(CARDIOLOGIST)}))), DENY, Reason.blocked),
    Row("block: over emergency access",
        request(ER_DOCTOR, A.open_emergency_access, emergency_reason="urgent",
                grants=Grants(blocked=frozenset({pid(ER_DOCTOR)}))), DENY, Reason.blocked),
    Row("block: over being the referring doctor",
        request(GP, A.deposit_document, document_type=T.patient_summary,
                grants=replace(IN_CIRCLE, blocked=frozenset({pid(GP)}))), DENY, Reason.blocked),
    Row("block: over a laboratory's direct deposit",
        request(BIOLOGIST, A.deposit_document, document_type=T.laboratory_report,
                grants=Grants(blocked=frozenset({pid(BIOLOGIST)}))), DENY, Reason.blocked),
    # 6. Confidentiality of documents.
    Row("hidden: a hidden document does not exist for the circle",
        request(GP, A.consult_document, grants=IN_CIRCLE, document=HIDDEN_LAB), DENY, Reason.not_found, Basis.referring_doctor),
    Row("hidden: nor for emergency access",
        request(ER_DOCTOR, A.consult_document, grants=Grants(emergency={pid(ER_DOCTOR): NOW + HOUR}), document=HIDDEN_LAB),
        DENY, Reason.not_found, Basis.emergency),
    Row("hidden: nor for its own author",
        request(BIOLOGIST, A.consult_document, grants=circle(BIOLOGIST), document=HIDDEN_LAB), DENY, Reason.not_found, Basis.circle),
    Row("hidden: the holder still sees it",
        request(HOLDER, A.consult_document, document=HIDDEN_LAB), PERMIT, Reason.holder_side, Basis.holder),
    Row("restricted: its author reads it",
        request(CARDIOLOGIST, A.consult_document, grants=circle(CARDIOLOGIST), document=RESTRICTED),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("restricted: the referring doctor reads it",
        request(GP, A.consult_document, grants=IN_CIRCLE, document=RESTRICTED),
        PERMIT, Reason.access_granted, Basis.referring_doctor),
    Row("restricted: another circle member does not see it",
        request(NURSE, A.consult_document, grants=circle(NURSE), document=RESTRICTED), DENY, Reason.not_found, Basis.circle),
    Row("restricted: a professional the holder named reads it",
        request(NURSE, A.consult_document, grants=circle(NURSE), document=RESTRICTED_NAMING_NURSE),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("delayed: the holder does not see a result before its release date",
        request(HOLDER, A.consult_document, document=DELAYED), DENY, Reason.not_found),
    Row("delayed: professionals see it at once",
        request(GP, A.consult_document, grants=circle(GP), document=DELAYED), PERMIT, Reason.access_granted, Basis.circle),
    Row("withdrawn: a withdrawn document does not exist for other professionals",
        request(GP, A.consult_document, grants=circle(GP), document=WITHDRAWN_BY_CARDIO), DENY, Reason.not_found, Basis.circle),
    Row("withdrawn: the holder still sees it in the document history",
        request(HOLDER, A.consult_document, document=WITHDRAWN_BY_CARDIO), PERMIT, Reason.holder_side, Basis.holder),
    Row("own documents: the author replaces their document",
        request(GP, A.replace_document, grants=circle(GP), document=GP_REPORT), PERMIT, Reason.access_granted, Basis.circle),
    Row("own documents: nobody else may withdraw it",
        request(CARDIOLOGIST, A.withdraw_document, grants=circle(CARDIOLOGIST), document=GP_REPORT),
        DENY, Reason.not_author, Basis.circle),
    Row("own documents: a laboratory withdraws its own result without an access basis",
        request(BIOLOGIST, A.withdraw_document, document=LAB), PERMIT, Reason.access_granted, Basis.direct_deposit),
    Row("own documents: without an access basis, a missing document gets the record-level answer (no oracle)",
        request(GP, A.replace_document, document=None), DENY, Reason.no_access),
    Row("own documents: without an access basis, someone else's document gets the same answer",
        request(GP, A.withdraw_document, document=LAB), DENY, Reason.no_access),
    Row("own documents: a laboratory's own result the holder hid gets the same answer too",
        request(BIOLOGIST, A.replace_document, document=HIDDEN_LAB), DENY, Reason.no_access),
    Row("own documents: with access, a missing document is not found",
        request(GP, A.replace_document, grants=circle(GP), document=None), DENY, Reason.not_found, Basis.circle),
    Row("own documents: a superseded version cannot be withdrawn",
        request(GP, A.withdraw_document, grants=circle(GP), document=document(T.consultation_report, author=GP, status=DocumentStatus.superseded)),
        DENY, Reason.document_not_current, Basis.circle),
    # 7. Assistants and legal representatives.
    Row("assistant: acts with the holder's rights",
        request(ASSISTANT, A.manage_access, grants=Grants(assistants={pid(ASSISTANT): None})),
        PERMIT, Reason.holder_side, Basis.assistant),
    Row("assistant: until the end date the holder gave",
        request(ASSISTANT, A.list_documents, grants=Grants(assistants={pid(ASSISTANT): NOW})), DENY, Reason.delegation_ended),
    Row("assistant: cannot designate further assistants",
        request(ASSISTANT, A.manage_assistants, grants=Grants(assistants={pid(ASSISTANT): None})),
        DENY, Reason.assistant_cannot_delegate),
    Row("assistant: someone who is not designated gets nothing",
        request(ASSISTANT, A.list_documents), DENY, Reason.not_holder_side),
    Row("representative: a parent acts for a minor",
        request(PARENT, A.consult_document, record=MINOR_RECORD, document=LAB,
                grants=Grants(representatives=frozenset({pid(PARENT)}))), PERMIT, Reason.holder_side, Basis.representative),
    Row("representative: a parent may designate an assistant for the minor",
        request(PARENT, A.manage_assistants, record=MINOR_RECORD, grants=Grants(representatives=frozenset({pid(PARENT)}))),
        PERMIT, Reason.holder_side, Basis.representative),
    Row("representative: not once the child has come of age",
        request(PARENT, A.list_documents, grants=Grants(representatives=frozenset({pid(PARENT)}))),
        DENY, Reason.representation_ended),
    Row("assistant: switches to the record they act for",
        request(ASSISTANT, A.enter_record, grants=Grants(assistants={pid(ASSISTANT): None})),
        PERMIT, Reason.holder_side, Basis.assistant),
    Row("assistant: cannot switch once the delegation has ended",
        request(ASSISTANT, A.enter_record, grants=Grants(assistants={pid(ASSISTANT): NOW})), DENY, Reason.delegation_ended),
    Row("representative: a parent switches to the minor's record",
        request(PARENT, A.enter_record, record=MINOR_RECORD, grants=Grants(representatives=frozenset({pid(PARENT)}))),
        PERMIT, Reason.holder_side, Basis.representative),
    Row("representative: not once the child has come of age",
        request(PARENT, A.enter_record, grants=Grants(representatives=frozenset({pid(PARENT)}))),
        DENY, Reason.representation_ended),
    Row("assistant: a professional never switches to a record", request(GP, A.enter_record, grants=circle(GP)),
        DENY, Reason.holder_only),
    Row("holder side: another person cannot switch to the record",
        request(OTHER_PERSON, A.enter_record), DENY, Reason.not_holder_side),
    Row("holder side: another person gets nothing",
        request(OTHER_PERSON, A.list_documents), DENY, Reason.not_holder_side),
    Row("holder side: deposits only in the personal space",
        request(HOLDER, A.deposit_document, document_type=T.laboratory_report), DENY, Reason.holder_deposits_personal_only),
    Row("holder side: deposits a personal document",
        request(HOLDER, A.deposit_document, document_type=T.personal_document), PERMIT, Reason.holder_side, Basis.holder),
    Row("holder side: declares a vaccination (a vaccination record of their own, reported by the patient)",
        request(HOLDER, A.deposit_document, document_type=T.vaccination_record), PERMIT, Reason.holder_side, Basis.holder),
    Row("holder side: an assistant declares a vaccination for the holder",
        request(ASSISTANT, A.deposit_document, document_type=T.vaccination_record,
                grants=Grants(assistants={pid(ASSISTANT): None})), PERMIT, Reason.holder_side, Basis.assistant),
    Row("holder side: a parent declares their child's vaccination",
        request(PARENT, A.deposit_document, record=MINOR_RECORD, document_type=T.vaccination_record,
                grants=Grants(representatives=frozenset({pid(PARENT)}))), PERMIT, Reason.holder_side, Basis.representative),
    Row("holder side: a withdrawn assistant declares nothing",
        request(ASSISTANT, A.deposit_document, document_type=T.vaccination_record,
                grants=Grants(assistants={pid(ASSISTANT): NOW})), DENY, Reason.delegation_ended),
    Row("holder side: another person declares nothing on the record",
        request(OTHER_PERSON, A.deposit_document, document_type=T.vaccination_record), DENY, Reason.not_holder_side),
    Row("holder side: no patient summary, however structured",
        request(HOLDER, A.deposit_document, document_type=T.patient_summary), DENY, Reason.holder_deposits_personal_only),
    Row("holder side: withdraws their own declared vaccination",
        request(HOLDER, A.withdraw_document, document=DECLARED_VACCINATION), PERMIT, Reason.holder_side, Basis.holder),
    Row("holder side: cannot withdraw a vaccination record a professional deposited",
        request(HOLDER, A.withdraw_document, document=document(T.vaccination_record)), DENY, Reason.not_author),
    Row("holder side: withdraws their own personal document",
        request(HOLDER, A.withdraw_document, document=PERSONAL), PERMIT, Reason.holder_side, Basis.holder),
    Row("holder side: cannot withdraw a professional's document (they hide it instead)",
        request(HOLDER, A.withdraw_document, document=LAB), DENY, Reason.not_author),
    Row("holder side: professionals never manage access",
        request(GP, A.manage_access, grants=IN_CIRCLE), DENY, Reason.holder_only),
    Row("holder side: professionals do not read the trace",
        request(GP, A.read_trace, grants=IN_CIRCLE), DENY, Reason.holder_only),
    # 8. Closed record.
    Row("closed: no professional has access",
        request(GP, A.list_documents, record=CLOSED, grants=IN_CIRCLE), DENY, Reason.record_closed),
    Row("closed: not even in an emergency",
        request(ER_DOCTOR, A.open_emergency_access, record=CLOSED, emergency_reason="urgent"), DENY, Reason.record_closed),
    Row("closed: deposits are refused, laboratories included",
        request(BIOLOGIST, A.deposit_document, record=CLOSED, document_type=T.laboratory_report), DENY, Reason.record_closed),
    Row("closed: the holder still reads it",
        request(HOLDER, A.consult_document, record=CLOSED, document=LAB), PERMIT, Reason.holder_side, Basis.holder),
    Row("closed: the holder may not deposit",
        request(HOLDER, A.deposit_document, record=CLOSED, document_type=T.personal_document), DENY, Reason.record_closed),
    Row("closed: the holder reopens it",
        request(HOLDER, A.reopen_record, record=CLOSED), PERMIT, Reason.holder_side, Basis.holder),
    Row("closed: an open record cannot be reopened",
        request(HOLDER, A.reopen_record), DENY, Reason.wrong_state),
    Row("closed: the holder closes an open record",
        request(HOLDER, A.close_record), PERMIT, Reason.holder_side, Basis.holder),
    Row("not activated: professionals wait for the holder's activation",
        request(BIOLOGIST, A.deposit_document, record=NOT_ACTIVATED, document_type=T.laboratory_report),
        DENY, Reason.record_not_active),
    Row("not activated: the holder activates it",
        request(HOLDER, A.activate_record, record=NOT_ACTIVATED), PERMIT, Reason.holder_side, Basis.holder),
    # Looking a patient up (identity only, IHE PDQm).
    Row("patients: a licensed professional looks a patient up",
        request(CARDIOLOGIST, A.find_patients, record=None), PERMIT, Reason.access_granted, Basis.licensed_professional),
    Row("patients: an unknown profession may not",
        request(HEALER, A.find_patients, record=None), DENY, Reason.profession_without_rights),
    Row("patients: nor may agency staff through this door",
        request(AGENCY, A.find_patients, record=None), DENY, Reason.agency_no_clinical_access),
    # 9. Agency staff and platform jobs.
    Row("agency: never lists documents", request(AGENCY, A.list_documents), DENY, Reason.agency_no_clinical_access),
    Row("agency: never consults", request(AGENCY, A.consult_document, document=LAB), DENY, Reason.agency_no_clinical_access),
    Row("agency: manages accounts", request(AGENCY, A.manage_accounts, record=None), PERMIT, Reason.agency_administration, Basis.agency),
    Row("agency: only the agency manages accounts", request(HOLDER, A.manage_accounts), DENY, Reason.agency_only),
    Row("agency: issues the letter's presence code on a record", request(AGENCY, A.manage_accounts),
        PERMIT, Reason.agency_administration, Basis.agency),
    Row("agency: never switches to a record", request(AGENCY, A.enter_record), DENY, Reason.agency_no_clinical_access),
    Row("platform jobs: issue the letter's presence code", request(JOB, A.manage_accounts),
        PERMIT, Reason.agency_administration, Basis.system),
    Row("platform jobs: never consult", request(JOB, A.consult_document, document=LAB), DENY, Reason.system_no_clinical_access),
    # 10. Erasing a record for good: the agency's act, on a closed record only.
    Row("erase: agency staff erase a closed record", request(AGENCY, A.erase_record, record=CLOSED),
        PERMIT, Reason.agency_administration, Basis.agency),
    Row("erase: the agency's platform job erases a closed record", request(JOB, A.erase_record, record=CLOSED),
        PERMIT, Reason.agency_administration, Basis.system),
    Row("erase: not an open record", request(JOB, A.erase_record), DENY, Reason.wrong_state),
    Row("erase: not a record not yet activated", request(AGENCY, A.erase_record, record=NOT_ACTIVATED),
        DENY, Reason.wrong_state),
    Row("erase: not without a record", request(AGENCY, A.erase_record, record=None), DENY, Reason.not_found),
    Row("erase: never the holder", request(HOLDER, A.erase_record, record=CLOSED), DENY, Reason.not_applicable),
    Row("erase: never an assistant", request(ASSISTANT, A.erase_record, record=CLOSED), DENY, Reason.not_applicable),
    Row("erase: never a legal representative", request(PARENT, A.erase_record, record=replace(MINOR_RECORD, state=RecordState.closed)),
        DENY, Reason.not_applicable),
    Row("erase: never the referring doctor", request(GP, A.erase_record, record=CLOSED, grants=Grants(referring_doctor=pid(GP))),
        DENY, Reason.not_applicable),
    Row("erase: never a professional in the circle", request(GP, A.erase_record, grants=IN_CIRCLE),
        DENY, Reason.not_applicable),
    Row("erase: never a hospital's professional", request(WARD_NURSE, A.erase_record, record=CLOSED),
        DENY, Reason.not_applicable),
    Row("erase: never a hospital's system", request(HOSPITAL_SYSTEM, A.erase_record, record=CLOSED),
        DENY, Reason.not_applicable),
    # 9. The holder's wishes (organ donation, ...): the holder's side, and any professional with access.
    Row("wishes: the holder reads them", request(HOLDER, A.read_wishes), PERMIT, Reason.holder_side, Basis.holder),
    Row("wishes: an assistant reads them", request(ASSISTANT, A.read_wishes, grants=Grants(assistants={pid(ASSISTANT): None})),
        PERMIT, Reason.holder_side, Basis.assistant),
    Row("wishes: another person does not", request(OTHER_PERSON, A.read_wishes), DENY, Reason.not_holder_side),
    Row("wishes: a professional in the circle reads them", request(GP, A.read_wishes, grants=circle(GP)),
        PERMIT, Reason.access_granted, Basis.circle),
    Row("wishes: a pharmacist with the presence code reads them, whatever the document rights",
        request(PHARMACIST, A.read_wishes, grants=Grants(presence={pid(PHARMACIST): NOW + HOUR})),
        PERMIT, Reason.access_granted, Basis.presence_code),
    Row("wishes: a hospital's professional during a stay reads them", request(WARD_NURSE, A.read_wishes, grants=IN_STAY),
        PERMIT, Reason.access_granted, Basis.stay),
    Row("wishes: not without access", request(GP, A.read_wishes), DENY, Reason.no_access),
    Row("wishes: not when blocked, even in the circle",
        request(GP, A.read_wishes, grants=circle(GP, blocked=frozenset({pid(GP)}))), DENY, Reason.blocked),
    Row("wishes: not on a closed record", request(GP, A.read_wishes, record=CLOSED, grants=circle(GP)),
        DENY, Reason.record_closed),
    Row("wishes: a profession without rights does not", request(HEALER, A.read_wishes, grants=circle(HEALER)),
        DENY, Reason.profession_without_rights),
    Row("wishes: never the agency", request(AGENCY, A.read_wishes), DENY, Reason.agency_no_clinical_access),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.rule for row in ROWS])
def test_rule(row: Row) -> None:
    decision = decide(row.request)
    assert (decision.effect, decision.reason, decision.basis) == (row.effect, row.reason, row.basis)
    if decision.permitted:
        assert decision.basis is not None


def test_record_level_refusal_says_how_to_get_access() -> None:
    decision = decide(request(GP, A.list_documents))
    assert decision.how_to_obtain == ("presence_code", "trusted_circle")
    emergency = decide(request(ER_DOCTOR, A.list_documents))
    assert emergency.how_to_obtain == ("presence_code", "trusted_circle", "emergency_access")


def test_a_hidden_document_refusal_looks_like_a_missing_one() -> None:
    hidden = decide(request(GP, A.consult_document, grants=IN_CIRCLE, document=HIDDEN_LAB))
    missing = decide(request(GP, A.consult_document, grants=IN_CIRCLE, document=None))
    assert (hidden.reason, hidden.message, hidden.how_to_obtain) == (missing.reason, missing.message, missing.how_to_obtain)


@pytest.mark.parametrize(
    ("req", "obligations"),
    [
        (request(CARDIOLOGIST, A.open_with_presence_code, presence_code_valid=True), {Obligation.notify_holder}),
        (request(ER_DOCTOR, A.open_emergency_access, emergency_reason="urgent"),
         {Obligation.notify_holder, Obligation.trace_as_emergency}),
        (request(ER_DOCTOR, A.consult_document, grants=Grants(emergency={pid(ER_DOCTOR): NOW + HOUR}), document=LAB),
         {Obligation.trace_as_emergency}),
        (request(CARDIOLOGIST, A.open_with_presence_code, presence_code_locked=True), {Obligation.notify_holder}),
        (request(CARDIOLOGIST, A.open_with_presence_code), set()),
        (request(CARDIOLOGIST, A.open_with_presence_code, presence_code_last_attempt=True), {Obligation.notify_holder}),
        (request(GP, A.consult_document, grants=IN_CIRCLE, document=LAB), set()),
    ],
    ids=["presence code notifies", "emergency notifies and marks", "emergency reads are marked", "lockout notifies",
         "a wrong code does not", "the wrong code that locks does", "circle reads carry nothing"],
)
def test_obligations(req: AccessRequest, obligations: set[Obligation]) -> None:
    assert decide(req).obligations == obligations
