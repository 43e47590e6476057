"""The /fhir application: thin routes over ``RecordAccess`` (parse, call, map, send).

Mounted by ``opendsp.web.app.create_app``. Its own exception handlers make
every error an OperationOutcome.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from opendsp.clients.services import Tokens
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentStatus
from opendsp.fhir import encounter, mapping, search, structured, submission, systems
from opendsp.fhir.api import CHALLENGE, Api, Unit
from opendsp.fhir.capability import capability_statement, smart_configuration
from opendsp.fhir.consent import consents
from opendsp.fhir.errors import (
    FhirError,
    fhir_response,
    install_handlers,
    unknown_document,
    unknown_encounter,
    unknown_patient,
)
from opendsp.fhir.models import DocumentContext, SubmissionSet, SubmittedDocument
from opendsp.fhir.search import Query
from opendsp.fhir.structured import StructuredEntry
from opendsp.fhir.validation import parse, read_json
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.stays.models import Stay
from opendsp.stays.services import StayReportRefused, apply_report, read_stay, trace_refused_report
from opendsp.trace.models import TraceEntry

# A Provide Document Bundle carries its documents in base64: this bounds what one request may hold.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
JSON_TYPES = ("application/fhir+json", "application/json")
BINARY_CHUNK = 3 * 64 * 1024  # a multiple of 3: base64 chunks join without padding


async def read_body(request: Request, limit: int, accepted: tuple[str, ...] = JSON_TYPES) -> bytes:
    """The body of a protected request: no bearer token, nothing is read (the token is verified after)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError(401, "login", "a bearer access token is required (SMART Backend Services)", headers=CHALLENGE)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in accepted:
        raise FhirError(415, "not-supported", f"send {' or '.join(accepted)}, not {media_type or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FhirError(413, "too-long", f"the request is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FhirError(413, "too-long", f"the request is larger than {limit} bytes")
    return bytes(body)


def create_fhir_app(platform: Platform, tokens: Tokens, *, max_request_bytes: int | None = None) -> FastAPI:
    max_request_bytes = max_request_bytes or MAX_REQUEST_BYTES
    app = FastAPI(title="OpenDSP FHIR", docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    api = Api(platform, tokens)
    public = platform.settings.public_base_url.rstrip("/")

    @app.get("/metadata")
    def metadata() -> JSONResponse:
        return fhir_response(capability_statement(api.base, mapping.instant(platform.clock.now())))

    @app.get("/.well-known/smart-configuration")
    def smart() -> JSONResponse:
        return JSONResponse(smart_configuration(public))

    # -- MHD: Provide Document Bundle (ITI-65) ---------------------------------------

    @app.post("/")
    async def transaction(request: Request) -> JSONResponse:
        body = await read_body(request, max_request_bytes)

        def handle() -> dict[str, Any]:
            bundle = parse(body, ["Bundle"])
            with api.unit(request, "DocumentReference", "c") as unit:
                return submission.store(submission.plan(bundle, unit), unit)

        return fhir_response(await run_in_threadpool(handle))

    # -- MHD: Find Document References (ITI-67) and read -----------------------------

    def document_page(unit: Unit, query: Query, record: Record, person: Person) -> dict[str, Any]:
        order = [Document.deposited_at.asc() if query.sort_ascending else Document.deposited_at.desc()]
        page = unit.with_break_glass(lambda: unit.access.list_documents(
            record.id, where=search.document_conditions(query), order_by=order,
            limit=query.count or 1, offset=query.offset, criteria=query.criteria_for_trace(),
        ))
        items = page.items if query.count else []
        masters = _master_identifiers(unit, [d.id for d in items])
        given = _contexts(unit, [d.id for d in items])
        resources = [mapping.document_reference(d, base=api.base, person_id=person.id, master_identifier=masters.get(d.id),
                                                context_rows=given.get(d.id))
                     for d in items]
        return mapping.searchset(resources, base=api.base, total=page.total, links=query.links(api.base, page.total),
                                 timestamp=unit.access.now)

    @app.get("/DocumentReference")
    def find_documents(request: Request) -> JSONResponse:
        with api.unit(request, "DocumentReference", "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.DOCUMENT_PARAMETERS,
                                "DocumentReference", unit.access.now)
            person, record = unit.record_of_patient(query)
            return fhir_response(document_page(unit, query, record, person))

    @app.get("/DocumentReference/{document_id}")
    def read_document(document_id: str, request: Request) -> JSONResponse:
        with api.unit(request, "DocumentReference", "r") as unit:
            document_uuid = _uuid(document_id)
            # Only the record's id is looked up here; the document itself comes through the policy.
            record_id = unit.session.scalar(select(Document.record_id).where(Document.id == document_uuid))
            if record_id is None:
                raise unknown_document()
            record = unit.session.get(Record, record_id)
            assert record is not None
            page = unit.by_document_id(
                lambda: unit.access.list_documents(record.id, where=[Document.id == document_uuid], limit=1,
                                                   criteria={"_id": str(document_uuid)})
            )
            if not page.items:
                raise unknown_document()
            masters = _master_identifiers(unit, [document_uuid])
            return fhir_response(mapping.document_reference(
                page.items[0], base=api.base, person_id=record.person_id, master_identifier=masters.get(document_uuid),
                context_rows=_contexts(unit, [document_uuid]).get(document_uuid),
            ))

    @app.patch("/DocumentReference/{document_id}")
    async def withdraw_document(document_id: str, request: Request) -> JSONResponse:
        body = await read_body(request, 64 * 1024, ("application/json-patch+json",))

        def handle() -> dict[str, Any]:
            operations = read_json(body)
            wanted = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
            if operations != wanted:
                raise FhirError(422, "not-supported", "the only change accepted is the withdrawal: "
                                '[{"op": "replace", "path": "/status", "value": "entered-in-error"}]')
            with api.unit(request, "DocumentReference", "u") as unit:
                document = unit.by_document_id(lambda: unit.access.withdraw(_uuid(document_id)))
                record = unit.session.get(Record, document.record_id)
                assert record is not None
                masters = _master_identifiers(unit, [document.id])
                return mapping.document_reference(document, base=api.base, person_id=record.person_id,
                                                  master_identifier=masters.get(document.id),
                                                  context_rows=_contexts(unit, [document.id]).get(document.id))

        return fhir_response(await run_in_threadpool(handle))

    # -- MHD: Retrieve Document (ITI-68) -------------------------------------------------

    @app.get("/Binary/{document_id}")
    def retrieve(document_id: str, request: Request) -> Response:
        with api.unit(request, "Binary", "r") as unit:
            consultation = unit.by_document_id(lambda: unit.access.consult(_uuid(document_id)))
            document = consultation.document
            media_type, size, chunks = document.media_type, document.size, consultation.chunks
        # The decision and its trace are committed; the content streams after, never whole in memory.
        accept = request.headers.get("accept", "")
        if _wants_fhir_json(accept, media_type):
            return StreamingResponse(_binary_json(document_id, media_type, chunks), media_type=systems.FHIR_JSON)
        return StreamingResponse(chunks, media_type=media_type, headers={"Content-Length": str(size)})

    # -- MHD: Find Document Lists (ITI-66) ------------------------------------------------

    @app.get("/List")
    def find_lists(request: Request) -> JSONResponse:
        with api.unit(request, "List", "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.LIST_PARAMETERS, "List",
                                unit.access.now)
            for name, _modifier, values in query.criteria():
                if name == "code" and not set(values) & {"submissionset", f"{systems.MHD_LIST_TYPES}|submissionset"}:
                    return fhir_response(mapping.searchset([], base=api.base, total=0, links=query.links(api.base, 0),
                                                           timestamp=unit.access.now))
                if name == "status" and "current" not in values:
                    return fhir_response(mapping.searchset([], base=api.base, total=0, links=query.links(api.base, 0),
                                                           timestamp=unit.access.now))
            person, record = unit.record_of_patient(query)
            submitted = select(SubmittedDocument.document_id).where(SubmittedDocument.record_id == record.id)
            visible = unit.with_break_glass(lambda: unit.access.list_documents(
                record.id, where=[Document.id.in_(submitted)], limit=10_000,
                criteria={"resource": ["List"], **query.criteria_for_trace()}))
            entries: dict[uuid.UUID, list[uuid.UUID]] = {}
            rows = unit.session.execute(
                select(SubmittedDocument.submission_set_id, SubmittedDocument.document_id).where(
                    SubmittedDocument.document_id.in_([d.id for d in visible.items])
                )
            )
            for set_id, document_id in rows:
                entries.setdefault(set_id, []).append(document_id)
            sets = unit.session.scalars(
                select(SubmissionSet).where(SubmissionSet.id.in_(list(entries))).order_by(
                    SubmissionSet.submitted_at.desc(), SubmissionSet.id)
            ).all()
            page = sets[query.offset: query.offset + query.count]
            resources = [_submission_list(s, sorted(entries[s.id], key=str), person) for s in page]
            return fhir_response(mapping.searchset(resources, base=api.base, total=len(sets),
                                                   links=query.links(api.base, len(sets)), timestamp=unit.access.now))

    # -- PDQm: Patient Demographics Query (ITI-78) and the presence code ----------------

    def find_persons(unit: Unit, query: Query) -> tuple[list[Person], int]:
        matching = select(Person).where(*search.person_conditions(query))
        criteria = {name: values for name, values in query.params.items() if name not in search.PAGING}
        return unit.access.find_patients(matching, criteria=criteria, limit=query.count, offset=query.offset)

    @app.get("/Patient")
    def find_patients(request: Request) -> JSONResponse:
        with api.unit(request, "Patient", "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.PATIENT_PARAMETERS, "Patient",
                                unit.access.now)
            search.check_patient_search(query)
            persons, total = find_persons(unit, query)
            return fhir_response(mapping.searchset([mapping.patient(p) for p in persons], base=api.base, total=total,
                                                   links=query.links(api.base, total), timestamp=unit.access.now))

    @app.get("/Patient/{patient_id}")
    def read_patient(patient_id: str, request: Request) -> JSONResponse:
        with api.unit(request, "Patient", "r") as unit:
            query = Query(params={"_id": [str(_uuid(patient_id))]}, allowed=search.PATIENT_PARAMETERS,
                          resource="Patient", count=1)
            persons, _total = find_persons(unit, query)
            if not persons:
                raise unknown_patient()
            return fhir_response(mapping.patient(persons[0]))

    @app.post("/Patient/{patient_id}/$presence-code")
    async def presence_code(patient_id: str, request: Request) -> JSONResponse:
        body = await read_body(request, 64 * 1024)

        def handle() -> dict[str, Any]:
            parameters = parse(body, ["Parameters"])
            codes = [p.get("valueString") for p in parameters.get("parameter") or [] if p.get("name") == "code"]
            if len(codes) != 1 or not codes[0]:
                raise FhirError(400, "required", "give the presence code once, as the parameter code (valueString)",
                                expression="Parameters.parameter")
            with api.unit(request, "Patient", "r") as unit:
                _person, record = unit.record_of(unit.session.get(Person, _uuid(patient_id)))
                grant = unit.access.open_with_presence_code(record.id, codes[0])
                return {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "expires", "valueInstant": mapping.instant(grant.expires_at)},
                        {"name": "patient", "valueReference": {"reference": f"Patient/{record.person_id}"}},
                    ],
                }

        return fhir_response(await run_in_threadpool(handle))

    # -- BALP: the trace as AuditEvents; the holder's choices as Consents ---------------

    @app.get("/AuditEvent")
    def find_audit_events(request: Request) -> JSONResponse:
        with api.unit(request, "AuditEvent", "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.AUDIT_PARAMETERS, "AuditEvent",
                                unit.access.now)
            person, record = unit.record_of_patient(query)
            entries: list[TraceEntry] = unit.access.read_trace(record.id)
            # As at the first page's instant (_snapshot): the entries each page's own search adds do not shift pages.
            entries = [e for e in reversed(entries) if query.snapshot is None or e.recorded_at <= query.snapshot]
            page = entries[query.offset: query.offset + query.count]
            resources = [mapping.audit_event(e, person_id=person.id) for e in page]
            return fhir_response(mapping.searchset(resources, base=api.base, total=len(entries),
                                                   links=query.links(api.base, len(entries)), timestamp=unit.access.now))

    @app.get("/Consent")
    def find_consents(request: Request) -> JSONResponse:
        with api.unit(request, "Consent", "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.CONSENT_PARAMETERS, "Consent",
                                unit.access.now)
            person, record = unit.record_of_patient(query)
            resources = consents(unit.session, record, person, unit.access.read_choices(record.id), unit.access.now,
                                 unit.access.wishes(record.id))
            return fhir_response(mapping.searchset(resources, base=api.base, total=len(resources),
                                                   links=query.links(api.base, len(resources)), timestamp=unit.access.now))

    # -- Structured documents: the entries of FHIR document Bundles ---------------------

    def find_entries(request: Request, resource_type: str) -> JSONResponse:
        with api.unit(request, resource_type, "s") as unit:
            query = Query.parse(list(request.query_params.multi_items()), search.STRUCTURED_PARAMETERS,
                                resource_type, unit.access.now)
            person, record = unit.record_of_patient(query)
            candidates = unit.session.execute(
                select(StructuredEntry.document_id, StructuredEntry.position, StructuredEntry.effective_at).where(
                    StructuredEntry.record_id == record.id, StructuredEntry.resource_type == resource_type,
                    *search.structured_conditions(query, lambda system, code: structured.search_tokens(
                        platform, system, code)),
                )
            ).all()
            # The policy says which of the candidate documents the professional may see (hidden ones never).
            document_ids = sorted({row.document_id for row in candidates}, key=str)
            conditions = [Document.id.in_(document_ids), Document.status == DocumentStatus.current]
            if query.snapshot is not None:
                conditions.append(Document.deposited_at <= query.snapshot)
            visible = unit.with_break_glass(lambda: unit.access.list_documents(
                record.id, where=conditions, limit=max(len(document_ids), 1)))
            deposited = {d.id: d.deposited_at for d in visible.items}
            rows = [row for row in candidates if row.document_id in deposited]
            rows.sort(key=lambda r: (r.position,))
            rows.sort(key=lambda r: (r.effective_at or deposited[r.document_id], deposited[r.document_id]),
                      reverse=not query.sort_ascending)
            page = rows[query.offset: query.offset + query.count]
            bundles: dict[uuid.UUID, dict[str, Any]] = {}
            resources = []
            for row in page:
                if row.document_id not in bundles:
                    consultation = unit.with_break_glass(lambda d=row.document_id: unit.access.consult(d))
                    parsed = structured.parse_document(consultation.read())
                    assert parsed is not None
                    bundles[row.document_id] = parsed
                resources.append(structured.served_resource(bundles[row.document_id], row.document_id, row.position,
                                                            person_id=person.id, base=api.base))
            return fhir_response(mapping.searchset(resources, base=api.base, total=len(rows),
                                                   links=query.links(api.base, len(rows)), timestamp=unit.access.now))

    def entries_route(kind: str) -> Any:
        def route(request: Request) -> JSONResponse:
            return find_entries(request, kind)

        return route

    for kind in structured.INDEXED_TYPES:
        app.add_api_route(f"/{kind}", entries_route(kind), methods=["GET"], name=f"find_{kind}")

    # -- Hospital stays: Encounter create, update and read (institutional access) -------

    def report_stay(unit: Unit, resource: dict[str, Any], previous: Stay | None) -> Stay:
        assert unit.caller.organisation is not None  # Encounter scopes are never granted to a person's app
        try:
            return apply_report(
                session=unit.session,
                platform=platform,
                hospital=unit.caller.organisation,
                report=encounter.report(resource, session=unit.session, previous=previous, now=unit.access.now),
                software=unit.caller.software,
                request=unit.access.request,
            )
        except StayReportRefused as refused:
            trace_refused_report(session=unit.session, platform=platform, hospital=unit.caller.organisation,
                                 refused=refused, software=unit.caller.software, request=unit.access.request,
                                 context={"channel": "FHIR Encounter", "encounter": resource.get("id")})
            status, code = (404, "not-found") if refused.code == "204" else (422, "business-rule")
            raise FhirError(status, code, str(refused), expression="Encounter") from None

    def own_stay(unit: Unit, encounter_id: str) -> Stay:
        """One of the calling hospital's stays, read through the policy: another hospital's does not exist for it."""
        stay_id = _uuid(encounter_id)
        hospital = unit.caller.organisation
        stay = None if hospital is None else read_stay(
            session=unit.session, platform=platform, hospital=hospital, stay_id=stay_id,
            software=unit.caller.software, request=unit.access.request,
        )
        if stay is None:
            raise unknown_encounter()
        return stay

    def stay_to_update(unit: Unit, encounter_id: str) -> Stay:
        """The stay a PUT reports on: the calling hospital's own (the report itself is decided and traced)."""
        stay = unit.session.get(Stay, _uuid(encounter_id))
        if stay is None or unit.caller.organisation is None or stay.organisation_id != unit.caller.organisation.id:
            raise unknown_encounter()
        return stay

    def encounter_response(unit: Unit, stay: Stay, status: int = 200) -> JSONResponse:
        person = unit.session.scalars(select(Person).join(Record).where(Record.id == stay.record_id)).one()
        response = fhir_response(encounter.encounter_resource(stay, person), status=status)
        response.headers["Location"] = f"{api.base}/Encounter/{stay.id}"
        return response

    @app.post("/Encounter")
    async def create_encounter(request: Request) -> JSONResponse:
        body = await read_body(request, 256 * 1024)

        def handle() -> JSONResponse:
            resource = parse(body, ["Encounter"])
            with api.unit(request, "Encounter", "c") as unit:
                return encounter_response(unit, report_stay(unit, resource, None), status=201)

        return await run_in_threadpool(handle)

    @app.put("/Encounter/{encounter_id}")
    async def update_encounter(encounter_id: str, request: Request) -> JSONResponse:
        body = await read_body(request, 256 * 1024)

        def handle() -> JSONResponse:
            resource = parse(body, ["Encounter"])
            if resource.get("id") != encounter_id:
                raise FhirError(400, "invalid", "the Encounter's id must be the one in the URL", expression="Encounter.id")
            with api.unit(request, "Encounter", "u") as unit:
                return encounter_response(unit, report_stay(unit, resource, stay_to_update(unit, encounter_id)))

        return await run_in_threadpool(handle)

    @app.get("/Encounter/{encounter_id}")
    def read_encounter(encounter_id: str, request: Request) -> JSONResponse:
        with api.unit(request, "Encounter", "r") as unit:
            return encounter_response(unit, own_stay(unit, encounter_id))

    return app


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FhirError(404, "not-found", f"no resource with id {value!r}") from None


def _master_identifiers(unit: Unit, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = unit.session.execute(
        select(SubmittedDocument.document_id, SubmittedDocument.master_identifier).where(
            SubmittedDocument.document_id.in_(ids)
        )
    )
    return {document_id: master for document_id, master in rows}


def _contexts(unit: Unit, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[DocumentContext]]:
    """The context the sender gave (practiceSetting, events, related) of documents already decided visible."""
    found: dict[uuid.UUID, list[DocumentContext]] = {}
    if ids:
        for row in unit.session.scalars(select(DocumentContext).where(DocumentContext.document_id.in_(ids))):
            found.setdefault(row.document_id, []).append(row)
    return found


def _submission_list(submission_set: SubmissionSet, documents: list[uuid.UUID], person: Person) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": str(submission_set.id),
        "meta": {"profile": ["https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.SubmissionSet"]},
        "identifier": [
            {"use": "usual", "system": systems.URI, "value": submission_set.unique_id},
            {"use": "official", "system": systems.URI, "value": f"urn:uuid:{submission_set.id}"},
        ],
        "status": "current",
        "mode": "working",
        "code": mapping.concept(systems.MHD_LIST_TYPES, "submissionset", "SubmissionSet as a FHIR List"),
        "subject": {"reference": f"Patient/{person.id}"},
        "date": mapping.instant(submission_set.submitted_at),
        "entry": [{"item": {"reference": f"DocumentReference/{d}"}} for d in documents],
    }
    if submission_set.title:
        resource["title"] = submission_set.title
    return resource


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


