"""The words of the policy: actions, effects, bases, reasons, obligations."""

from __future__ import annotations

import enum


class Action(str, enum.Enum):
    list_documents = "documents.list"
    consult_document = "document.consult"
    deposit_document = "document.deposit"
    replace_document = "document.replace"
    withdraw_document = "document.withdraw"
    manage_access = "access.manage"
    manage_assistants = "assistants.manage"
    close_record = "record.close"
    reopen_record = "record.reopen"
    activate_record = "record.activate"
    read_trace = "trace.read"
    export_record = "record.export"
    open_with_presence_code = "presence.open"
    open_emergency_access = "emergency.open"
    manage_accounts = "accounts.manage"
    report_stay = "stay.report"
    list_stays = "stays.list"
    # A professional looking a patient up by national number or name and birth date (IHE PDQm).
    find_patients = "patients.search"
    # A hospital's system reading back a stay it reported (FHIR Encounter read).
    read_stay = "stay.read"
    # An assistant or a parent switching to the record they act for (the holder sees it in the trace).
    enter_record = "record.enter"
    # The holder's side looking professionals up in the directory, to add one to the circle or block one.
    search_directory = "directory.search"
    # Erasing a closed record for good (a holder's death plus the retention period, or a legal order):
    # the agency's act, never anyone else's (docs/operations.md, "Erasing a record for good").
    erase_record = "record.erase"
    # Reading the holder's wishes (organ donation, ...): the holder's side, and a professional with access.
    read_wishes = "wishes.read"


# Actions that touch clinical content or metadata of a record.
CLINICAL_ACTIONS = frozenset(
    {
        Action.list_documents,
        Action.consult_document,
        Action.deposit_document,
        Action.replace_document,
        Action.withdraw_document,
        Action.export_record,
        Action.read_trace,
    }
)
HOLDER_ONLY_ACTIONS = frozenset(
    {
        Action.manage_access,
        Action.manage_assistants,
        Action.close_record,
        Action.reopen_record,
        Action.activate_record,
        Action.read_trace,
        Action.export_record,
        Action.enter_record,
        Action.search_directory,
    }
)


class Effect(str, enum.Enum):
    permit = "permit"
    deny = "deny"


class Basis(str, enum.Enum):
    """Why access was granted: stored in the trace and shown to the holder."""

    holder = "holder"
    assistant = "assistant"
    representative = "representative"
    circle = "circle"
    referring_doctor = "referring_doctor"
    stay = "stay"
    presence_code = "presence_code"
    emergency = "emergency"
    direct_deposit = "direct_deposit"
    agency = "agency"
    institution = "institution"
    licensed_professional = "licensed_professional"
    system = "system"


class Obligation(str, enum.Enum):
    notify_holder = "notify_holder"
    trace_as_emergency = "trace_as_emergency"


class Reason(str, enum.Enum):
    """Why: a machine-readable code, with a sentence for people."""

    # permits
    holder_side = "holder_side"
    access_granted = "access_granted"
    agency_administration = "agency_administration"
    # record-level refusals
    record_closed = "record_closed"
    record_not_active = "record_not_active"
    blocked = "blocked"
    no_access = "no_access"
    not_holder_side = "not_holder_side"
    holder_only = "holder_only"
    assistant_cannot_delegate = "assistant_cannot_delegate"
    delegation_ended = "delegation_ended"
    representation_ended = "representation_ended"
    profession_without_rights = "profession_without_rights"
    agency_no_clinical_access = "agency_no_clinical_access"
    system_no_clinical_access = "system_no_clinical_access"
    # document-level refusals
    not_found = "not_found"
    type_not_permitted = "type_not_permitted"
    referring_doctor_only = "referring_doctor_only"
    not_author = "not_author"
    holder_deposits_personal_only = "holder_deposits_personal_only"
    document_not_current = "document_not_current"
    # opening access
    wrong_presence_code = "wrong_presence_code"
    presence_code_locked = "presence_code_locked"
    emergency_refused_by_holder = "emergency_refused_by_holder"
    not_emergency_department = "not_emergency_department"
    emergency_reason_required = "emergency_reason_required"
    wrong_state = "wrong_state"
    agency_only = "agency_only"
    not_applicable = "not_applicable"
    not_a_care_institution = "not_a_care_institution"
    too_many_lookups = "too_many_lookups"


REASON_TEXT: dict[Reason, str] = {
    Reason.holder_side: "the holder, or someone acting with the holder's rights",
    Reason.access_granted: "access granted",
    Reason.agency_administration: "administrative act of the agency",
    Reason.record_closed: "the record is closed by its holder",
    Reason.record_not_active: "the record has not been activated by its holder yet",
    Reason.blocked: "the holder has refused access to this professional",
    Reason.no_access: "no access to this record: ask the patient for their presence code, or to add you to their "
    "trusted circle",
    Reason.not_holder_side: "only the holder, their assistants or legal representatives act on this record",
    Reason.holder_only: "only the holder (or someone acting with their rights) may do this",
    Reason.assistant_cannot_delegate: "an assistant cannot designate further assistants",
    Reason.delegation_ended: "the delegation to this assistant has ended",
    Reason.representation_ended: "the person represented has come of age",
    Reason.profession_without_rights: "this profession has no rights on shared care records",
    Reason.agency_no_clinical_access: "agency staff never consult clinical content",
    Reason.system_no_clinical_access: "platform jobs never consult clinical content",
    Reason.not_found: "no such document",
    Reason.type_not_permitted: "this profession may not deposit this type of document",
    Reason.referring_doctor_only: "only the holder's referring doctor deposits the patient summary",
    Reason.not_author: "only the author may replace or withdraw a document",
    Reason.holder_deposits_personal_only: "the holder deposits documents in the personal space only",
    Reason.document_not_current: "only the current version of a document can be replaced or withdrawn",
    Reason.wrong_presence_code: "the presence code is not correct",
    Reason.presence_code_locked: "too many wrong presence codes: try again later",
    Reason.emergency_refused_by_holder: "the holder does not allow emergency access",
    Reason.not_emergency_department: "emergency access is reserved to emergency departments",
    Reason.emergency_reason_required: "emergency access needs a reason",
    Reason.wrong_state: "the record is not in a state that allows this",
    Reason.agency_only: "only the agency's staff manage accounts",
    Reason.not_applicable: "this act does not apply to this actor",
    Reason.not_a_care_institution: "only hospitals and emergency departments report stays",
    Reason.too_many_lookups: "too many patient lookups: try again later",
}
