"""IHE MHD documents: ITI-67 Find Document References (and read, and withdraw), ITI-68 Retrieve Document
(``Binary``), ITI-66 Find Document Lists (submission sets as ``List``)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from opendsp.access.mhd import ExchangeExtras, FolderView, exchange_extras, find_lists
from opendsp.access.services import DocumentDetails, SubmissionSetView
from opendsp.fhir import mapping, search, systems
from opendsp.fhir.body import JSON_TYPES, json_patch
from opendsp.fhir.context import FhirContext, allowed, resource_id
from opendsp.fhir.errors import FhirError, fhir_response, unknown_document
from opendsp.fhir.search import Query

router = APIRouter()
BINARY_CHUNK = 3 * 64 * 1024  # a multiple of 3: base64 chunks join without padding
WITHDRAWAL = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]


def document_reference(details: DocumentDetails, base: str, extras: ExchangeExtras) -> dict[str, Any]:
    document = details.document
    read_with_it = details.relations is not None  # a search reads the hash and the relations with the page
    return mapping.document_reference(
        document, base=base, person_id=details.person_id, master_identifier=details.master_identifier,
        context_rows=details.context, sha1=details.content_sha1 if read_with_it else extras.sha1.get(document.id),
        relations=details.relations if read_with_it else extras.relations.get(document.id, []))


def document_references(items: list[DocumentDetails], context: FhirContext) -> list[dict[str, Any]]:
    """DocumentReferences of documents just decided visible, with their hashes and relations (one reading;
    none when the search read them with the page)."""
    extras = ExchangeExtras() if all(d.relations is not None for d in items) else exchange_extras(
        context.access, [d.document for d in items],
        sha1={d.document.id: d.content_sha1 for d in items if d.content_sha1})
    return [document_reference(d, context.base, extras) for d in items]


# -- ITI-67: find, read, withdraw ------------------------------------------------------------------------


@router.get("/DocumentReference")
def find_document_references(request: Request,
                             context: Annotated[FhirContext, allowed("DocumentReference", "s")]) -> JSONResponse:
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.DOCUMENT_PARAMETERS, "DocumentReference",
                        access.now)
    _person, record_id = context.record_of_patient(query)
    wanted = search.document_criteria(query)
    page = context.with_break_glass(lambda: access.find_document_details(
        record_id, where=wanted, ascending=query.sort_ascending, limit=query.count or 1, offset=query.offset,
        criteria=query.criteria_for_trace()))
    resources = document_references(page.items, context) if query.count else []
    return fhir_response(mapping.searchset(resources, base=context.base, total=page.total,
                                           links=query.links(context.base, page.total), timestamp=access.now))


@router.get("/DocumentReference/{document_id}")
def read_document_reference(document_id: str,
                            context: Annotated[FhirContext, allowed("DocumentReference", "r")]) -> JSONResponse:
    wanted = resource_id(document_id)
    details = context.by_document_id(
        lambda: context.access.document_details(wanted, criteria={"_id": str(wanted)}))
    if details is None:
        raise unknown_document()
    return fhir_response(document_references([details], context)[0])


def _only_withdrawal(operations: Any = json_patch(64 * 1024)) -> None:
    if operations != WITHDRAWAL:
        raise FhirError(422, "not-supported", "the only change accepted is the withdrawal: "
                        '[{"op": "replace", "path": "/status", "value": "entered-in-error"}]')


@router.patch("/DocumentReference/{document_id}")
def withdraw_document(
    document_id: str,
    _withdrawal: Annotated[None, Depends(_only_withdrawal)],
    context: Annotated[FhirContext, allowed("DocumentReference", "u")],
) -> JSONResponse:
    wanted = resource_id(document_id)
    details = context.by_document_id(lambda: context.access.withdraw_with_details(wanted))
    return fhir_response(document_references([details], context)[0])


# -- ITI-68: the content -----------------------------------------------------------------------------------


@router.get("/Binary/{document_id}")
def retrieve_document(document_id: str, request: Request,
                      context: Annotated[FhirContext, allowed("Binary", "r")]) -> Response:
    wanted = resource_id(document_id)
    consultation = context.by_document_id(lambda: context.access.consult(wanted))
    document = consultation.document
    # The context commits the decision and its trace entry when this returns; the content streams after,
    # never whole in memory.
    if _wants_fhir_json(request.headers.get("accept", ""), document.media_type):
        return StreamingResponse(_binary_json(document_id, document.media_type, consultation.chunks),
                                 media_type=systems.FHIR_JSON)
    return StreamingResponse(consultation.chunks, media_type=document.media_type,
                             headers={"Content-Length": str(document.size)})


def _wants_fhir_json(accept: str, media_type: str) -> bool:
    wanted = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    if media_type in wanted or "*/*" in wanted or not wanted:
        return False
    return any(kind in JSON_TYPES or kind == "application/json+fhir" for kind in wanted)


def _binary_json(document_id: str, media_type: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield f'{{"resourceType":"Binary","id":"{document_id}","contentType":"{media_type}","data":"'.encode()
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = len(pending) - len(pending) % 3
        if cut:
            yield base64.b64encode(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield base64.b64encode(pending)
    yield b'"}'


# -- ITI-66: submission sets as Lists ------------------------------------------------------------------------


@router.get("/List")
def find_document_lists(request: Request, context: Annotated[FhirContext, allowed("List", "s")]) -> JSONResponse:
    """SubmissionSets and Folders (``code`` submissionset or folder; both without ``code``), newest first."""
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.LIST_PARAMETERS, "List", access.now)
    kinds = {"submissionset", "folder"}
    for name, _modifier, values in query.criteria():
        if name == "code":
            kinds &= {value.removeprefix(f"{systems.MHD_LIST_TYPES}|") for value in values}
        if name == "status" and "current" not in values:
            kinds = set()
    if not kinds:
        return fhir_response(mapping.searchset([], base=context.base, total=0,
                                               links=query.links(context.base, 0), timestamp=access.now))
    person, record_id = context.record_of_patient(query)
    sets, folders = context.with_break_glass(lambda: find_lists(
        access, record_id, submission_sets="submissionset" in kinds, folders="folder" in kinds,
        criteria={"resource": ["List"], **query.criteria_for_trace()}))
    lists = [_submission_list(s, person.id) for s in sets] + [_folder_list(f, person.id) for f in folders]
    lists.sort(key=lambda resource: resource["date"], reverse=True)
    page = lists[query.offset: query.offset + query.count]
    return fhir_response(mapping.searchset(page, base=context.base, total=len(lists),
                                           links=query.links(context.base, len(lists)), timestamp=access.now))


def _mhd_list(kind: str, list_id: uuid.UUID, unique_id: str, person_id: uuid.UUID, date: Any,
              document_ids: list[uuid.UUID], title: str | None) -> dict[str, Any]:
    """A SubmissionSet or a Folder as the FHIR List MHD defines (``kind``: submissionset or folder)."""
    profile, display = ("SubmissionSet", "SubmissionSet") if kind == "submissionset" else ("Folder", "Folder")
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": str(list_id),
        "meta": {"profile": [f"https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.{profile}"]},
        "identifier": [
            {"use": "usual", "system": systems.URI, "value": unique_id},
            {"use": "official", "system": systems.URI, "value": f"urn:uuid:{list_id}"},
        ],
        "status": "current",
        "mode": "working",
        "code": mapping.concept(systems.MHD_LIST_TYPES, kind, f"{display} as a FHIR List"),
        "subject": {"reference": f"Patient/{person_id}"},
        "date": mapping.instant(date),
        "entry": [{"item": {"reference": f"DocumentReference/{d}"}} for d in document_ids],
    }
    if title:
        resource["title"] = title
    return resource


def _folder_list(view: FolderView, person_id: uuid.UUID) -> dict[str, Any]:
    folder = view.folder
    resource = _mhd_list("folder", folder.id, folder.unique_id, person_id, folder.updated_at, view.document_ids,
                         folder.title)
    if folder.codes:
        resource = {**{k: resource[k] for k in ("resourceType", "id", "meta")},
                    "extension": [{"url": systems.MHD_DESIGNATION_TYPE, "valueCodeableConcept": {"coding": [code]}}
                                  for code in folder.codes], **resource}
    if folder.note:
        resource["note"] = [{"text": folder.note}]
    return resource


def _submission_list(view: SubmissionSetView, person_id: uuid.UUID) -> dict[str, Any]:
    submission_set = view.submission_set
    return _mhd_list("submissionset", submission_set.id, submission_set.unique_id, person_id,
                     submission_set.submitted_at, view.document_ids, submission_set.title)
