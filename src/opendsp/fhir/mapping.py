"""Domain objects to FHIR R4 resources (and the codes that go both ways). No rule lives here."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from opendsp.documents.types import (
    CODINGS,
    ConfidentialityLevel,
    DocumentStatus,
    DocumentType,
)
from opendsp.fhir import systems

if TYPE_CHECKING:  # instances handed over by RecordAccess, mapped here and never queried
    from opendsp.access.exchange import DocumentRow
    from opendsp.documents.models import Document
    from opendsp.persons.models import Person
    from opendsp.professionals.models import Organisation, Professional
    from opendsp.submissions.models import DocumentContext
    from opendsp.trace.models import TraceEntry

STATUS = {
    DocumentStatus.current: "current",
    DocumentStatus.superseded: "superseded",
    DocumentStatus.withdrawn: "entered-in-error",
}
STATUS_FROM_FHIR = {value: key for key, value in STATUS.items()}
CONFIDENTIALITY = {ConfidentialityLevel.normal: "N", ConfidentialityLevel.restricted: "R"}
CONFIDENTIALITY_FROM_FHIR = {value: key for key, value in CONFIDENTIALITY.items()}
TYPE_BY_LOINC = {coding.loinc: kind for kind, coding in CODINGS.items()}
ORGANISATION_KIND_DISPLAY = {
    "practice": "Medical practice",
    "hospital": "Hospital",
    "laboratory": "Laboratory",
    "imaging_centre": "Imaging centre",
    "pharmacy": "Pharmacy",
    "home_care_provider": "Home care provider",
    "emergency_department": "Emergency department",
}


def instant(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day(value: date) -> str:
    return value.isoformat()


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


# -- Patient (IHE PDQm) -------------------------------------------------------------


def patient(person: Person) -> dict[str, Any]:
    """What a professional may know of a person: identity only, no address or contact."""
    return {
        "resourceType": "Patient",
        "id": str(person.id),
        "identifier": [{"use": "official", "system": systems.NATIONAL_NUMBER, "value": person.national_number}],
        "active": True,
        "name": [{"use": "official", "family": person.family_name, "given": [person.given_name]}],
        "gender": person.sex.value,
        "birthDate": day(person.birth_date),
    }


# -- DocumentReference (IHE MHD) ----------------------------------------------------


def type_concept(kind: DocumentType) -> dict[str, Any]:
    code = CODINGS[kind]
    return concept(systems.LOINC, code.loinc, code.display)


def category_concept(kind: DocumentType) -> dict[str, Any]:
    return concept(systems.EHDS_CATEGORY, CODINGS[kind].ehds_category)


def _practitioner(professional: Professional) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": "author",
        "identifier": [{"system": systems.LICENCE_NUMBER, "value": professional.licence_number}],
        "name": [{"family": professional.family_name, "given": [professional.given_name]}],
    }


def _organisation(organisation: Organisation) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": "organisation",
        "identifier": [{"system": systems.ORGANISATION, "value": organisation.identifier}],
        "type": [concept(systems.ORGANISATION_KIND, organisation.kind.value,
                         ORGANISATION_KIND_DISPLAY.get(organisation.kind.value))],
        "name": organisation.name,
    }


def document_reference(
    document: Document | DocumentRow, *, base: str, person_id: uuid.UUID, master_identifier: str | None = None,
    context_rows: list[DocumentContext] | list[Any] | None = None, sha1: str | None = None,
    relations: list[tuple[str, uuid.UUID]] | None = None,
) -> dict[str, Any]:
    contained: list[dict[str, Any]] = []
    authors: list[dict[str, Any]] = []
    if document.authored_by_holder:
        authors.append({"reference": f"Patient/{person_id}"})
    if document.author is not None:
        contained.append(_practitioner(document.author))
        authors.append({"reference": "#author"})
    if document.author_organisation is not None:
        contained.append(_organisation(document.author_organisation))
        authors.append({"reference": "#organisation"})
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(document.id),
        "meta": {"versionId": "1", "lastUpdated": instant(document.status_changed_at or document.deposited_at)},
    }
    if contained:
        resource["contained"] = contained
    resource |= {
        "masterIdentifier": {"system": systems.URI, "value": master_identifier or f"urn:uuid:{document.id}"},
        "identifier": [{"use": "official", "system": systems.URI, "value": f"urn:uuid:{document.id}"}],
        "status": STATUS[document.status],
        "docStatus": "final",
        "type": type_concept(document.type),
        "category": [category_concept(document.type)],
        "subject": {"reference": f"Patient/{person_id}"},
        "date": instant(document.deposited_at),
    }
    if authors:
        resource["author"] = authors
    resource["description"] = document.title
    resource["securityLabel"] = [concept(systems.CONFIDENTIALITY, CONFIDENTIALITY[document.confidentiality])]
    related = [("replaces", document.replaces_id)] if document.replaces_id else []
    related += relations or []
    if related:
        resource["relatesTo"] = [
            {"code": code, "target": {"reference": f"DocumentReference/{target}"}} for code, target in related
        ]
    resource["content"] = [
        {
            "attachment": {
                "contentType": document.media_type,
                "url": f"{base}/Binary/{document.id}",
                "size": document.size,
                **({"hash": sha1} if sha1 else {}),
                "title": document.title,
                "creation": day(document.care_date),
            },
            "format": coding(systems.FORMAT_CODE, systems.MIME_TYPE_SUFFICIENT, "Format from mimeType"),
        }
    ]
    given = _given_context(context_rows or [])
    context: dict[str, Any] = {}
    if given.get("event"):
        context["event"] = given["event"]
    context["period"] = {"start": day(document.care_date), "end": day(document.care_date)}
    if document.author_organisation is not None:
        kind = document.author_organisation.kind.value
        context["facilityType"] = concept(systems.ORGANISATION_KIND, kind, ORGANISATION_KIND_DISPLAY.get(kind))
    if given.get("setting"):
        context["practiceSetting"] = given["setting"][0]
    if given.get("related"):
        context["related"] = given["related"]
    resource["context"] = context
    return resource


def _given_context(rows: list[DocumentContext]) -> dict[str, list[dict[str, Any]]]:
    """The sender's practiceSetting, events and related references, rebuilt in their order."""
    grouped: dict[str, dict[int, dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r.element.value, r.position)):
        element = grouped.setdefault(row.element.value, {})
        if row.element.value == "related":
            related: dict[str, Any] = {}
            if row.reference:
                related["reference"] = row.reference
            if row.code:
                related["identifier"] = {k: v for k, v in (("system", row.system), ("value", row.code)) if v}
            if row.display:
                related["display"] = row.display
            element[row.position // 100] = related
            continue
        value = element.setdefault(row.position // 100, {})
        if row.position % 100 == 99:
            value["text"] = row.display
        else:
            value.setdefault("coding", []).append(
                {k: v for k, v in (("system", row.system), ("code", row.code), ("display", row.display)) if v})
    return {name: [items[i] for i in sorted(items)] for name, items in grouped.items()}


# -- AuditEvent (IHE BALP) ------------------------------------------------------------

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
# trace action -> (FHIR restful interaction, AuditEvent.action, BALP profile)
INTERACTIONS: dict[str, tuple[str | None, str, str | None]] = {
    "documents.list": ("search-type", "E", "IHE.BasicAudit.PatientQuery"),
    "document.consult": ("read", "R", "IHE.BasicAudit.PatientRead"),
    "document.deposit": ("create", "C", "IHE.BasicAudit.PatientCreate"),
    "document.replace": ("create", "C", "IHE.BasicAudit.PatientCreate"),
    "document.withdraw": ("update", "U", "IHE.BasicAudit.PatientUpdate"),
    "trace.read": ("search-type", "E", "IHE.BasicAudit.PatientQuery"),
    "stays.list": ("search-type", "E", "IHE.BasicAudit.PatientQuery"),
    "record.export": ("read", "R", "IHE.BasicAudit.PatientRead"),
}
OUTCOMES = {"permitted": "0", "refused": "4", "failed": "8"}  # the trace's outcomes
HUMAN_ACTORS = {"holder", "assistant", "representative", "professional", "agency"}


def audit_event(entry: TraceEntry, *, person_id: uuid.UUID | None) -> dict[str, Any]:
    interaction, action, profile = INTERACTIONS.get(entry.action, (None, "E", None))
    outcome = str(getattr(entry.outcome, "value", entry.outcome))
    context = entry.context or {}
    emergency = bool(context.get("emergency")) or entry.basis == "emergency"
    event: dict[str, Any] = {"resourceType": "AuditEvent", "id": str(entry.id)}
    if profile:
        event["meta"] = {"profile": [BALP + profile]}
    event["type"] = coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation")
    subtypes = [coding(systems.TRACE_ACTION, entry.action)]
    if interaction:
        subtypes.insert(0, coding("http://hl7.org/fhir/restful-interaction", interaction))
    event |= {
        "subtype": subtypes,
        "action": action,
        "recorded": instant(entry.recorded_at),
        "outcome": OUTCOMES[outcome],
    }
    description = entry.reason or outcome
    if entry.basis:
        description += f" (basis: {entry.basis})"
    event["outcomeDesc"] = description
    if emergency:
        event["purposeOfEvent"] = [concept(systems.ACT_REASON, "ETREAT", "emergency treatment")]
    elif entry.actor_kind == "professional":
        event["purposeOfEvent"] = [concept(systems.ACT_REASON, "TREAT", "treatment")]
    who: dict[str, Any] = {"display": entry.actor_display or entry.actor_kind}
    if entry.actor_id:
        who["identifier"] = {"system": f"urn:opendsp:sid:{entry.actor_kind}", "value": entry.actor_id}
    user = {
        "type": concept("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")
        if entry.actor_kind in HUMAN_ACTORS
        else concept("http://dicom.nema.org/resources/ontology/DCM", "110150", "Application"),
        "who": who,
        "requestor": True,
    }
    agents = [user]
    if entry.on_behalf_of:
        agents.append({
            "type": concept("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PAT", "patient"),
            "who": {"identifier": {"system": "urn:opendsp:sid:person", "value": entry.on_behalf_of}},
            "requestor": False,
        })
    if entry.client_software:
        agents.append({
            "type": concept("http://dicom.nema.org/resources/ontology/DCM", "110153", "Source Role ID"),
            "who": {"display": entry.client_software},
            "requestor": False,
        })
    agents.append({
        "type": concept("http://dicom.nema.org/resources/ontology/DCM", "110152", "Destination Role ID"),
        "who": {"display": "OpenDSP"},
        "requestor": False,
    })
    event["agent"] = agents
    event["source"] = {
        "observer": {"display": "OpenDSP"},
        "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
    }
    entities: list[dict[str, Any]] = []
    if person_id is not None:
        entities.append({
            "what": {"reference": f"Patient/{person_id}"},
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
        })
    if entry.document_id:
        entities.append({
            "what": {"reference": f"DocumentReference/{entry.document_id}"},
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
        })
    details = [{"type": "trace-hash", "valueString": entry.hash}]
    if entry.request_id:
        details.append({"type": "request-id", "valueString": entry.request_id})
    entities.append({
        "what": {"identifier": {"system": "urn:opendsp:sid:trace-entry", "value": f"{entry.chain}/{entry.seq}"}},
        "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "4", "Other"),
        "detail": details,
    })
    event["entity"] = entities
    return event


# -- Bundles ---------------------------------------------------------------------------


def searchset(
    resources: list[dict[str, Any]], *, base: str, total: int | None, links: dict[str, str], timestamp: datetime
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(timestamp)},
        "type": "searchset",
    }
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": relation, "url": url} for relation, url in links.items()]
    bundle["entry"] = [
        {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource,
         "search": {"mode": "match"}}
        for resource in resources
    ]
    if not bundle["entry"]:
        del bundle["entry"]
    return bundle
