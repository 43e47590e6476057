"""IHE BALP / ITI-81: the record's trace as AuditEvents, for the holder's side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opendsp.fhir import mapping, search
from opendsp.fhir.context import FhirContext, allowed
from opendsp.fhir.errors import fhir_response
from opendsp.fhir.search import Query

router = APIRouter()


@router.get("/AuditEvent")
def find_audit_events(request: Request, context: Annotated[FhirContext, allowed("AuditEvent", "s")]) -> JSONResponse:
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.AUDIT_PARAMETERS, "AuditEvent", access.now)
    person, record_id = context.record_of_patient(query)
    # As at the first page's instant (_snapshot): the entries each page's own search adds do not shift pages.
    entries = [e for e in reversed(access.read_trace(record_id))
               if query.snapshot is None or e.recorded_at <= query.snapshot]
    page = entries[query.offset: query.offset + query.count]
    resources = [mapping.audit_event(e, person_id=person.id) for e in page]
    return fhir_response(mapping.searchset(resources, base=context.base, total=len(entries),
                                           links=query.links(context.base, len(entries)), timestamp=access.now))
