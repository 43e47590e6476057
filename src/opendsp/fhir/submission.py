"""IHE MHD Provide Document Bundle (ITI-65): checked whole, then stored all or nothing.

Everything the Bundle says is checked before anything is stored: its shape,
that every reference stays inside the Bundle, the patient, the codes, and
that each Binary matches the size and SHA-1 hash its DocumentReference
declares. Only then are the documents deposited (or replace earlier ones)
through ``RecordAccess``, in the request's one transaction: a refusal or a
failure of any of them stores none.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from opendsp.access.criteria import ContextElement
from opendsp.access.mhd import RELATION_CODES, FolderFiling, file_folder, folder_documents, folder_in, keep_hashes
from opendsp.access.mhd import record_relations, visible_among
from opendsp.access.services import RecordAccess, SubmittedItem
from opendsp.documents.spool import Spool
from opendsp.documents.services import BINARY_MEDIA_TYPES, DocumentDraft
from opendsp.documents.types import CODINGS, FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentType
from opendsp.fhir import systems
from opendsp.fhir.context import FhirContext
from opendsp.fhir.errors import FhirError, unknown_document, unknown_patient
from opendsp.fhir.mapping import CONFIDENTIALITY_FROM_FHIR, TYPE_BY_LOINC, instant
from opendsp.fhir.search import reference_id
from opendsp.fhir.validation import validate
from opendsp.structured.bundles import CHECKED_TYPES, content_problems, parse_document

if TYPE_CHECKING:
    from opendsp.persons.models import Person

ACCEPTED_MEDIA_TYPES = BINARY_MEDIA_TYPES | {FHIR_MEDIA_TYPE}
ENTRY_KINDS = ("List", "DocumentReference", "Binary", "Patient", "Parameters")
# The one change MHD defines for a PATCH entry: the document a new one replaces becomes superseded.
SUPERSEDE = {"type": "replace", "path": "DocumentReference.status", "value": "superseded"}


@dataclass
class PlannedDocument:
    full_url: str
    binary_url: str | None
    draft: DocumentDraft
    content: Spool  # decoded as the body streamed in (fhir.streaming), read back when deposited
    replaces: uuid.UUID | None
    master_identifier: str
    context: list[dict[str, Any]]  # DocumentContext rows: practiceSetting, context.event, context.related
    sha1: str  # attachment.hash: SHA-1 of the content, base64
    relations: list[tuple[str, uuid.UUID]]  # relatesTo appends / transforms / signs: (code, target id)


@dataclass
class PlannedFolder:
    full_url: str
    unique_id: str
    title: str | None
    note: str | None
    codes: list[dict[str, str]]
    new_documents: list[str]  # fullUrls of this Bundle's DocumentReferences it receives
    existing: list[uuid.UUID]  # documents it already holds, as the sender listed them (PUT)
    folder_id: uuid.UUID | None  # the folder a PUT adds to; None: a POST creates one


@dataclass
class Plan:
    person: Person
    list_url: str
    unique_id: str
    title: str | None
    source_id: str | None
    documents: list[PlannedDocument]
    order: list[tuple[str, str]]  # (resourceType, fullUrl) in the Bundle's order
    folders: list[PlannedFolder]
    patients: list[str]  # fullUrls of Patient entries, matched to ``person``
    superseded: dict[str, uuid.UUID]  # fullUrl of a PATCH entry -> the document it supersedes (by replacing it)


def _fail(status: int, code: str, text: str, where: str) -> FhirError:
    return FhirError(status, code, text, expression=where)


def _bounded(value: Any, limit: int, where: str) -> Any:
    """A text the database keeps in a column of ``limit`` characters: longer is refused, not truncated."""
    if isinstance(value, str) and len(value) > limit:
        raise _fail(422, "too-long", f"{where} has at most {limit} characters", where)
    return value


def plan(bundle: dict[str, Any], unit: FhirContext, spools: Mapping[str, Spool] | None = None) -> Plan:
    """Check the whole Bundle; ``spools``: the documents' content by the placeholder that stands for their
    base64 in ``bundle`` (``fhir.streaming``)."""
    spools = spools or {}
    if bundle.get("type") != "transaction":
        raise _fail(400, "invalid", "a Provide Document Bundle is a Bundle of type transaction", "Bundle.type")
    entries = bundle.get("entry") or []
    by_url: dict[str, tuple[int, dict[str, Any]]] = {}
    order = []
    patched: dict[str, tuple[int, uuid.UUID]] = {}
    put_lists: dict[str, str] = {}
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        resource, url = entry.get("resource"), entry.get("fullUrl")
        if not isinstance(resource, dict) or not url:
            raise _fail(400, "required", "every entry needs a fullUrl and a resource", where)
        kind = resource["resourceType"]
        if kind not in ENTRY_KINDS:
            raise _fail(422, "not-supported", f"{kind} is not accepted in a Provide Document Bundle "
                        "(List, DocumentReference, Binary, Patient, and Parameters to PATCH a DocumentReference)",
                        where)
        request = entry.get("request") or {}
        method, target = request.get("method"), str(request.get("url") or "")
        if kind == "Parameters":
            document_id = reference_id(target, "DocumentReference", unit.base) if "/" in target else None
            if method != "PATCH" or document_id is None:
                raise _fail(400, "invalid", "a Parameters entry is a PATCH of DocumentReference/{id}",
                            f"{where}.request")
            patched[url] = (i, document_id)
        elif kind == "List" and method == "PUT":
            if target != "List" and reference_id(target, "List", unit.base) is None:
                raise _fail(400, "invalid", "a Folder is updated with PUT List or PUT List/{id}", f"{where}.request")
            put_lists[url] = target
        elif method != "POST" or target != kind:
            raise _fail(400, "invalid", f"each entry is created with POST {kind}", f"{where}.request")
        if url in by_url:
            raise _fail(400, "invalid", f"the fullUrl {url} appears twice", f"{where}.fullUrl")
        by_url[url] = (i, resource)
        order.append((kind, url))
    patients = {url: _match_patient(by_url[url][1], unit, f"Bundle.entry[{by_url[url][0]}].resource")
                for kind, url in order if kind == "Patient"}
    lists = [url for kind, url in order if kind == "List" and _list_code(by_url[url][1]) == "submissionset"]
    folder_urls = [url for kind, url in order if kind == "List" and _list_code(by_url[url][1]) == "folder"]
    others = [url for kind, url in order if kind == "List" and url not in lists and url not in folder_urls]
    if others:
        raise _fail(422, "invalid", f"a List is coded submissionset or folder ({systems.MHD_LIST_TYPES})",
                    f"Bundle.entry[{by_url[others[0]][0]}].resource.code")
    if len(lists) != 1:
        raise _fail(422, "invalid", "a Provide Document Bundle holds exactly one SubmissionSet List", "Bundle.entry")
    list_index, submission = by_url[lists[0]]
    list_where = f"Bundle.entry[{list_index}].resource"
    if lists[0] in put_lists:
        raise _fail(400, "invalid", "the SubmissionSet is created with POST List", f"Bundle.entry[{list_index}].request")
    person = _subject(submission.get("subject"), unit, f"{list_where}.subject", patients)
    if any(p.id != person.id for p in patients.values()):
        raise patient_not_matched()
    listed: list[str] = []
    for j, item in enumerate(submission.get("entry") or []):
        reference = (item.get("item") or {}).get("reference")
        target = by_url.get(reference or "")
        if reference in folder_urls:
            continue  # a Folder of this submission (MHD lists them in the SubmissionSet too)
        if target is None or target[1]["resourceType"] != "DocumentReference":
            raise _fail(422, "invalid", f"the List entry {reference!r} is not a DocumentReference of this Bundle "
                        "(references must stay inside the Bundle)", f"{list_where}.entry[{j}].item")
        listed.append(reference or "")
    references = [url for kind, url in order if kind == "DocumentReference"]
    if not references:
        raise _fail(422, "required", "the Bundle holds no DocumentReference", "Bundle.entry")
    if sorted(listed) != sorted(references):
        raise _fail(422, "invalid", "the SubmissionSet must list every DocumentReference of the Bundle, once",
                    f"{list_where}.entry")
    used_binaries: set[str] = set()
    documents = []
    for url in references:
        index, resource = by_url[url]
        documents.append(_document(resource, url, index, person, unit, by_url, used_binaries, patients, spools))
    unused = [url for kind, url in order if kind == "Binary" and url not in used_binaries]
    if unused:
        raise _fail(422, "invalid", f"the Binary {unused[0]} is not the content of any DocumentReference", "Bundle.entry")
    replaced = {d.replaces for d in documents if d.replaces is not None}
    for url, (index, document_id) in patched.items():
        _check_supersede(by_url[url][1], f"Bundle.entry[{index}].resource")
        if document_id not in replaced:
            raise _fail(422, "business-rule", "a DocumentReference is PATCHed to superseded only when a "
                        "DocumentReference of the same Bundle replaces it (relatesTo replaces)", f"Bundle.entry[{index}]")
    folders = [_folder(by_url[url][1], url, f"Bundle.entry[{by_url[url][0]}]", put_lists.get(url), person, unit,
                       references, patients) for url in folder_urls]
    masters = [d.master_identifier for d in documents]
    if len(set(masters)) != len(masters):
        raise _fail(422, "duplicate", "two DocumentReferences share a masterIdentifier", "Bundle.entry")
    taken = unit.access.taken_master_identifier(masters)
    if taken:
        raise _fail(409, "duplicate", f"a document with masterIdentifier {taken} was already submitted",
                    "DocumentReference.masterIdentifier")
    identifier = next((i.get("value") for i in submission.get("identifier") or [] if i.get("use") == "usual"),
                      None) or next((i.get("value") for i in submission.get("identifier") or []), None)
    return Plan(
        person=person,
        list_url=lists[0],
        unique_id=_bounded(identifier, 200, "List.identifier") or f"urn:uuid:{uuid.uuid4()}",
        title=_bounded(submission.get("title"), 500, "List.title"),
        source_id=_bounded(_source_id(submission), 200, "List.extension"),
        documents=documents,
        order=order,
        folders=folders,
        patients=list(patients),
        superseded={url: document_id for url, (_index, document_id) in patched.items()},
    )


def _source_id(submission: dict[str, Any]) -> str | None:
    for extension in submission.get("extension") or []:
        if str(extension.get("url", "")).endswith("ihe-sourceId"):
            value = extension.get("valueIdentifier") or {}
            return value.get("value")
    return None


def _list_code(resource: dict[str, Any]) -> str | None:
    codes = [c.get("code") for c in (resource.get("code") or {}).get("coding", [])
             if c.get("system") in (systems.MHD_LIST_TYPES, None)]
    return next((c for c in codes if c in ("submissionset", "folder")), None)


def patient_not_matched() -> FhirError:
    """The one answer for a Patient entry naming nobody here, someone out of reach, or another person than
    the demographics or the subject say: it tells nothing of who is behind an identifier."""
    return FhirError(404, "not-found", "no such patient: the Patient entry matches no patient of this server "
                     f"(its identifier {systems.NATIONAL_NUMBER}, family and given name and birth date must all "
                     "match the record's person)")


def _folded(text: Any) -> str:
    return unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode().casefold().strip()


def _match_patient(resource: dict[str, Any], unit: FhirContext, where: str) -> Person:
    """A Patient carried in the Bundle is matched, never created: by the national number, then every name
    and the birth date it gives must be the person's."""
    numbers = [i.get("value") for i in resource.get("identifier") or [] if i.get("system") == systems.NATIONAL_NUMBER]
    if len(set(numbers)) != 1:
        raise _fail(422, "required", "a Patient entry names the person by one identifier of the system "
                    f"{systems.NATIONAL_NUMBER} (patients are matched, not created)", f"{where}.identifier")
    person = unit.person_numbered(numbers[0])
    if person is None:
        raise patient_not_matched()
    for name in resource.get("name") or []:
        family, given = name.get("family"), name.get("given") or []
        if (family and _folded(family) != _folded(person.family_name)) or (
                given and _folded(given[0]) != _folded(person.given_name)):
            raise patient_not_matched()
    birth = resource.get("birthDate")
    if birth and birth != person.birth_date.isoformat():
        raise patient_not_matched()
    try:
        unit.record_of(person)  # a person's app bound to another record, or no record: no such patient
    except FhirError:
        raise patient_not_matched() from None
    return person


def _subject(reference: Any, unit: FhirContext, where: str, patients: dict[str, Person]) -> Person:
    if not isinstance(reference, dict):
        raise _fail(422, "required", "the patient (subject) is required: every document goes into one person's "
                    "record", where)
    person: Person | None = None
    if reference.get("reference") in patients:
        return patients[reference["reference"]]
    if reference.get("reference"):
        person_id = reference_id(reference["reference"], "Patient", unit.base)
        if person_id is None:
            raise _fail(422, "invalid", "the subject must reference a Patient of this server (Patient/{id}); "
                        "patients are not created by a Provide Document Bundle", where)
        person = unit.person(person_id)
    elif isinstance(reference.get("identifier"), dict):
        identifier = reference["identifier"]
        if identifier.get("system") != systems.NATIONAL_NUMBER:
            raise _fail(422, "invalid", f"the subject's identifier must use the system {systems.NATIONAL_NUMBER}", where)
        person = unit.person_numbered(identifier.get("value"))
    else:
        raise _fail(422, "required", "the subject needs a reference or an identifier", where)
    if person is None:
        raise unknown_patient()  # the one answer for a person who does not exist, or is out of reach
    return person


def _document(
    resource: dict[str, Any],
    url: str,
    index: int,
    person: Person,
    unit: FhirContext,
    by_url: dict[str, tuple[int, dict[str, Any]]],
    used_binaries: set[str],
    patients: dict[str, Person],
    spools: Mapping[str, Spool],
) -> PlannedDocument:
    where = f"Bundle.entry[{index}].resource"
    if resource.get("status") != "current":
        raise _fail(422, "business-rule", "a submitted DocumentReference has status current", f"{where}.status")
    if _subject(resource.get("subject"), unit, f"{where}.subject", patients).id != person.id:
        raise _fail(422, "business-rule", "every document of a submission is about the SubmissionSet's patient",
                    f"{where}.subject")
    kind = _type(resource.get("type"), f"{where}.type")
    contents = resource.get("content") or []
    if len(contents) != 1:
        raise _fail(422, "not-supported", "a DocumentReference carries exactly one content", f"{where}.content")
    attachment = contents[0].get("attachment") or {}
    media_type = attachment.get("contentType")
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise _fail(415, "not-supported", f"the media type {media_type!r} is not accepted; use one of "
                    f"{', '.join(sorted(ACCEPTED_MEDIA_TYPES))}", f"{where}.content[0].attachment.contentType")
    binary_url = None
    if attachment.get("data") is not None:
        content = _content(attachment["data"], f"{where}.content[0].attachment.data", spools, unit)
    else:
        binary_url = attachment.get("url")
        target = by_url.get(binary_url or "")
        if target is None or target[1]["resourceType"] != "Binary":
            raise _fail(422, "invalid", f"the attachment url {binary_url!r} is not a Binary of this Bundle "
                        "(references must stay inside the Bundle)", f"{where}.content[0].attachment.url")
        binary_index, binary = target
        if binary_url in used_binaries:
            raise _fail(422, "invalid", f"the Binary {binary_url} is the content of two documents",
                        f"{where}.content[0].attachment.url")
        used_binaries.add(binary_url or "")
        if binary.get("contentType") != media_type:
            raise _fail(422, "invalid", "the Binary's contentType differs from the attachment's",
                        f"Bundle.entry[{binary_index}].resource.contentType")
        if binary.get("data") is None:
            raise _fail(422, "required", "the Binary has no data", f"Bundle.entry[{binary_index}].resource.data")
        content = _content(binary["data"], f"Bundle.entry[{binary_index}].resource.data", spools, unit)
    if attachment.get("size") is not None and attachment["size"] != content.size:
        raise _fail(422, "invalid", f"the attachment declares {attachment['size']} bytes but the content has "
                    f"{content.size}", f"{where}.content[0].attachment.size")
    actual = content.sha1
    if attachment.get("hash") is not None:
        declared = attachment["hash"]
        if declared != actual:
            raise _fail(422, "invalid", "the attachment's hash (SHA-1, base64) does not match the content",
                        f"{where}.content[0].attachment.hash")
    if not content.size:
        raise _fail(422, "required", "the document is empty", f"{where}.content[0]")
    if media_type == FHIR_MEDIA_TYPE:
        # Structured content is read for its meaning, so it is read whole (it is small; PDFs stay streamed).
        _check_structured(b"".join(content.chunks()), kind, f"{where}.content[0].attachment")
    # Minimal metadata may give no title: the document is then named by its type, as lists show it.
    title = (resource.get("description") or attachment.get("title") or "").strip() or CODINGS[kind].display
    master = (resource.get("masterIdentifier") or {}).get("value")
    if not master:
        raise _fail(422, "required", "a DocumentReference needs a masterIdentifier (the document's uniqueId)",
                    f"{where}.masterIdentifier")
    _bounded(master, 200, f"{where}.masterIdentifier")
    _bounded(title, 500, f"{where}.description")
    draft = DocumentDraft(
        type=kind,
        title=title,
        care_date=_care_date(resource, attachment, unit),
        media_type=media_type,
        confidentiality=_confidentiality(resource.get("securityLabel") or [], f"{where}.securityLabel"),
    )
    replaces, relations = _relations(resource.get("relatesTo") or [], unit, f"{where}.relatesTo")
    return PlannedDocument(
        full_url=url, binary_url=binary_url, draft=draft, content=content, replaces=replaces,
        master_identifier=master, context=context_rows(resource.get("context") or {}, f"{where}.context"),
        sha1=actual, relations=relations,
    )


def _check_structured(content: bytes, kind: DocumentType, where: str) -> None:
    """The types whose FHIR content the platform reads for its meaning are checked before anything is stored."""
    # Checked here too (RecordAccess checks again) so that the answer names the problem before anything is decided.
    if kind.value not in CHECKED_TYPES:
        return
    bundle = parse_document(content)
    if bundle is None:
        raise _fail(422, "invalid", f"the content of a {kind.value} in application/fhir+json is a FHIR document "
                    "Bundle", where)
    try:
        validate(bundle, ["Bundle"])  # FHIR R4 and R4B, as every resource of the API
    except FhirError as error:
        raise FhirError(422, "structure", "the document's content does not validate", issues=[
            replace(issue, diagnostics=f"in the document's content: {issue.diagnostics}", expression=where)
            for issue in error.issues]) from None
    problems = content_problems(bundle, kind.value)
    if problems:
        message, path = problems[0]
        raise _fail(422, "business-rule", f"{message} (in the document's content: {path})", where)


def context_rows(context: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """practiceSetting, event and related as DocumentContext rows (position: 100 × concept + coding; 99: text)."""
    rows: list[dict[str, Any]] = []

    def text(value: Any, path: str) -> str | None:
        if value is not None and len(str(value)) > 500:
            raise _fail(422, "too-long", "at most 500 characters are kept", path)
        return value

    def concept(element: ContextElement, value: dict[str, Any], index: int, path: str) -> None:
        for j, coding in enumerate(value.get("coding") or []):
            if coding.get("code") is None:
                raise _fail(422, "required", "a coding of the context needs a code", f"{path}.coding[{j}].code")
            rows.append({"element": element, "position": index * 100 + j,
                         "system": text(coding.get("system"), f"{path}.coding[{j}].system"),
                         "code": text(coding.get("code"), f"{path}.coding[{j}].code"),
                         "display": text(coding.get("display"), f"{path}.coding[{j}].display")})
        if value.get("text"):
            rows.append({"element": element, "position": index * 100 + 99, "display": text(value["text"], f"{path}.text")})

    if context.get("practiceSetting"):
        concept(ContextElement.setting, context["practiceSetting"], 0, f"{where}.practiceSetting")
    for i, event in enumerate(context.get("event") or []):
        concept(ContextElement.event, event, i, f"{where}.event[{i}]")
    for i, related in enumerate(context.get("related") or []):
        path = f"{where}.related[{i}]"
        identifier = related.get("identifier") or {}
        if not identifier.get("value") and not related.get("reference"):
            raise _fail(422, "required", "a related reference needs an identifier (with a value) or a reference", path)
        if related.get("reference") and len(related["reference"]) > 1000:
            raise _fail(422, "too-long", "a reference has at most 1000 characters", f"{path}.reference")
        rows.append({"element": ContextElement.related, "position": i * 100,
                     "system": text(identifier.get("system"), f"{path}.identifier.system"),
                     "code": text(identifier.get("value"), f"{path}.identifier.value"),
                     "display": text(related.get("display"), f"{path}.display"), "reference": related.get("reference")})
    return rows


def _content(data: str, where: str, spools: Mapping[str, Spool], unit: FhirContext) -> Spool:
    """The content the body's reader decoded as it streamed; base64 it left in the JSON is decoded here."""
    if data in spools:
        return spools[data]
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(400, "value", "the data is not valid base64", where) from None
    return Spool.of(decoded, randomness=unit.platform.randomness)


def _type(concept: Any, where: str) -> DocumentType:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == systems.LOINC and coding.get("code") in TYPE_BY_LOINC:
            return TYPE_BY_LOINC[coding["code"]]
    accepted = ", ".join(sorted(TYPE_BY_LOINC))
    raise _fail(422, "code-invalid", f"the document type must be one of the LOINC codes {accepted}", where)


def _care_date(resource: dict[str, Any], attachment: dict[str, Any], unit: FhirContext) -> date:
    for value in ((resource.get("context") or {}).get("period") or {}).get("start"), attachment.get("creation"):
        if value:
            return date.fromisoformat(value[:10]) if len(value) >= 10 else date(int(value[:4]), 1, 1)
    return unit.access.now.date()


def _confidentiality(labels: list[dict[str, Any]], where: str) -> ConfidentialityLevel:
    levels = set()
    for label in labels:
        for coding in label.get("coding", []):
            if coding.get("system") == systems.CONFIDENTIALITY:
                level = CONFIDENTIALITY_FROM_FHIR.get(coding.get("code"))
                if level is None:
                    raise _fail(422, "code-invalid", "the confidentiality is N (normal) or R (restricted)", where)
                levels.add(level)
    if len(levels) > 1:
        raise _fail(422, "invalid", "a document has one confidentiality", where)
    return levels.pop() if levels else ConfidentialityLevel.normal


def _relations(relations: list[dict[str, Any]], unit: FhirContext,
               where: str) -> tuple[uuid.UUID | None, list[tuple[str, uuid.UUID]]]:
    """The document replaced (at most one: the new one is its next version) and the other relations."""
    replaced = None
    others: list[tuple[str, uuid.UUID]] = []
    for i, relation in enumerate(relations):
        code = relation.get("code")
        target = reference_id((relation.get("target") or {}).get("reference") or "", "DocumentReference", unit.base)
        if target is None:
            raise _fail(422, "invalid", "relatesTo.target must reference a DocumentReference of this server",
                        f"{where}[{i}].target")
        if code == "replaces":
            if replaced is not None:
                raise _fail(422, "not-supported", "a document replaces one document at most", f"{where}[{i}]")
            replaced = target
        elif code in RELATION_CODES:
            others.append((code, target))
        else:
            raise _fail(422, "code-invalid", f"relatesTo.code is one of replaces, {', '.join(RELATION_CODES)}",
                        f"{where}[{i}].code")
    if len(set(others)) != len(others):
        raise _fail(422, "invalid", "a relation is given twice", where)
    return replaced, others


def _check_supersede(parameters: dict[str, Any], where: str) -> None:
    """The PATCH entry MHD defines for a replacement: one operation, the status replaced by superseded."""
    operations = parameters.get("parameter") or []
    if len(operations) == 1 and operations[0].get("name") == "operation":
        parts = {p.get("name"): p.get("valueCode", p.get("valueString")) for p in operations[0].get("part") or []}
        if parts == SUPERSEDE:
            return
    raise _fail(422, "not-supported", "the only PATCH accepted in a Provide Document Bundle sets "
                "DocumentReference.status to superseded (type replace, path DocumentReference.status, value "
                "superseded)", f"{where}.parameter")


def _folder(resource: dict[str, Any], url: str, where: str, put: str | None, person: Person, unit: FhirContext,
            references: list[str], patients: dict[str, Person]) -> PlannedFolder:
    """A Folder List beside the SubmissionSet: created (POST), or added to (PUT, by its id or uniqueId)."""
    if _subject(resource.get("subject"), unit, f"{where}.resource.subject", patients).id != person.id:
        raise patient_not_matched()
    if resource.get("status", "current") != "current":
        raise _fail(422, "business-rule", "a Folder is submitted with status current", f"{where}.resource.status")
    unique_id = next((i.get("value") for i in resource.get("identifier") or [] if i.get("use") == "usual"),
                     None) or next((i.get("value") for i in resource.get("identifier") or []), None)
    codes = []
    for j, extension in enumerate(resource.get("extension") or []):
        if extension.get("url") == systems.MHD_DESIGNATION_TYPE:
            for coding in (extension.get("valueCodeableConcept") or {}).get("coding") or []:
                codes.append({k: _bounded(coding[k], 200, f"{where}.resource.extension[{j}]")
                              for k in ("system", "code", "display") if coding.get(k)})
    new_documents: list[str] = []
    existing: list[uuid.UUID] = []
    for j, item in enumerate(resource.get("entry") or []):
        reference = (item.get("item") or {}).get("reference") or ""
        if reference in references:
            new_documents.append(reference)
            continue
        document_id = reference_id(reference, "DocumentReference", unit.base) if "/" in reference else None
        if put is None or document_id is None:
            raise _fail(422, "business-rule", "a Folder receives the DocumentReferences of the Bundle that names it "
                        "(and, updated with PUT, lists the documents it holds)", f"{where}.resource.entry[{j}].item")
        existing.append(document_id)
    if not new_documents:
        raise _fail(422, "required", "a Folder in a Provide Document Bundle receives at least one of its "
                    "DocumentReferences", f"{where}.resource.entry")
    folder_id = None
    if put is not None:
        named = reference_id(put, "List", unit.base) if put != "List" else None
        folder = folder_in(unit.access, unit.record_of(person)[1], unique_id=None if named else unique_id,
                           folder_id=named)
        if folder is None:
            raise FhirError(404, "not-found", "no such Folder (List)")  # another record's is unknown too
        folder_id = folder.id
    elif not unique_id:
        raise _fail(422, "required", "a Folder needs its uniqueId (identifier)", f"{where}.resource.identifier")
    elif folder_in(unit.access, unit.record_of(person)[1], unique_id=unique_id) is not None:
        raise _fail(409, "duplicate", f"the record has a Folder with uniqueId {unique_id} already; add to it with "
                    "PUT List", f"{where}.resource.identifier")
    note = "\n".join(n.get("text") or "" for n in resource.get("note") or []).strip() or None
    return PlannedFolder(full_url=url, unique_id=_bounded(unique_id or "", 200, f"{where}.resource.identifier"),
                         title=_bounded(resource.get("title"), 500, f"{where}.resource.title"),
                         note=_bounded(note, 500, f"{where}.resource.note"), codes=codes,
                         new_documents=new_documents, existing=existing, folder_id=folder_id)


def _put(access: RecordAccess, record_id: uuid.UUID, planned: PlannedDocument) -> Any:
    if planned.replaces is not None:
        # The document replaced must be of the submission's patient: another record's answers as unknown.
        return access.replace(planned.replaces, planned.draft, planned.content.chunks(), within=record_id)
    return access.deposit(record_id, planned.draft, planned.content.chunks())


def store(submission: Plan, unit: FhirContext) -> dict[str, Any]:
    """Deposit every planned document through RecordAccess, file them as one submission set, keep their
    relations and folders; return the transaction-response Bundle."""
    _person, record_id = unit.record_of(submission.person)
    access = unit.access
    now = access.now
    # The documents named beside the new ones (relations, a folder's present entries) must be of the record and
    # visible to the caller: one list act; any other answers as an unknown document.
    named = {target for d in submission.documents for _code, target in d.relations}
    named |= {document_id for f in submission.folders for document_id in f.existing}
    if named:
        found = unit.by_document_id(lambda: visible_among(access, record_id, named,
                                                          criteria={"related": len(named)}))
        if found != named:
            raise unknown_document()
    for planned_folder in submission.folders:
        if planned_folder.folder_id is not None and planned_folder.existing:
            folder = folder_in(access, record_id, folder_id=planned_folder.folder_id)
            assert folder is not None
            if not set(planned_folder.existing) <= folder_documents(access, folder):
                raise _fail(422, "business-rule", "a Folder updated with PUT lists the documents it holds and "
                            "those of the Bundle it receives; no other is added", "List.entry")
    filed: list[SubmittedItem] = []
    locations: dict[str, str] = {}
    deposited: dict[str, uuid.UUID] = {}
    for planned in submission.documents:
        put = partial(_put, access, record_id, planned)
        # A replacement names a document by its id: a refusal then answers as an unknown id.
        document = unit.by_document_id(put) if planned.replaces else unit.with_break_glass(put)
        filed.append(SubmittedItem(document=document, master_identifier=planned.master_identifier,
                                   context=planned.context))
        locations[planned.full_url] = f"DocumentReference/{document.id}"
        deposited[planned.full_url] = document.id
        if planned.binary_url:
            locations[planned.binary_url] = f"Binary/{document.id}"
        if planned.relations:
            record_relations(access, record_id, document, planned.relations)
    submission_set = access.file_submission(record_id, unique_id=submission.unique_id, title=submission.title,
                                            source_id=submission.source_id, client_id=unit.caller.client.client_id,
                                            documents=filed)
    keep_hashes(access, record_id, {deposited[d.full_url]: d.sha1 for d in submission.documents})
    locations[submission.list_url] = f"List/{submission_set.id}"
    statuses = dict.fromkeys(locations, "201 Created")
    for planned_folder in submission.folders:
        folder = unit.with_break_glass(partial(file_folder, access, record_id, FolderFiling(
            unique_id=planned_folder.unique_id, title=planned_folder.title, note=planned_folder.note,
            codes=planned_folder.codes, documents=[deposited[url] for url in planned_folder.new_documents],
            folder_id=planned_folder.folder_id), client_id=unit.caller.client.client_id))
        locations[planned_folder.full_url] = f"List/{folder.id}"
        statuses[planned_folder.full_url] = "200 OK" if planned_folder.folder_id else "201 Created"
    for url in submission.patients:  # matched, not created
        locations[url], statuses[url] = f"Patient/{submission.person.id}", "200 OK"
    for url, document_id in submission.superseded.items():  # superseded by its replacement above
        locations[url], statuses[url] = f"DocumentReference/{document_id}", "200 OK"
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "transaction-response",
        "entry": [
            {
                "response": {
                    "status": statuses[url],
                    "location": locations[url] if url in submission.patients else f"{locations[url]}/_history/1",
                    "lastModified": instant(now),
                }
            }
            for _kind, url in submission.order
        ],
    }
