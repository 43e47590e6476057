"""The entries of structured documents (FHIR document Bundles) as resources: ``GET /fhir/Observation?patient=…``
and the other indexed types. One search is one act: one decision over the documents it reads, one trace entry
with its criteria."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opendsp.fhir import mapping, search, structured
from opendsp.fhir.context import FhirContext, allowed
from opendsp.fhir.errors import fhir_response
from opendsp.fhir.search import Query

router = APIRouter()


def find_entries(resource_type: str, request: Request, context: FhirContext) -> JSONResponse:
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.STRUCTURED_PARAMETERS, resource_type,
                        access.now)
    person, record_id = context.record_of_patient(query)
    wanted = search.entry_criteria(query)
    found = context.with_break_glass(lambda: access.find_structured_entries(
        record_id, resource_type=resource_type, where=wanted, as_of=query.snapshot,
        ascending=query.sort_ascending, limit=query.count, offset=query.offset,
        criteria=query.criteria_for_trace()))
    bundles: dict[Any, dict[str, Any]] = {}
    resources = []
    for entry in found.entries:
        if entry.document_id not in bundles:
            parsed = structured.parse_document(found.sources[entry.document_id].read())
            assert parsed is not None  # indexed, so a document Bundle
            bundles[entry.document_id] = parsed
        resources.append(structured.served_resource(bundles[entry.document_id], entry.document_id, entry.position,
                                                    person_id=person.id, base=context.base))
    return fhir_response(mapping.searchset(resources, base=context.base, total=found.total,
                                           links=query.links(context.base, found.total), timestamp=access.now))


def _route(resource_type: str) -> Callable[..., JSONResponse]:
    scoped = allowed(resource_type, "s")  # a default, not an annotation: annotations are read as module names

    def route(request: Request, context: FhirContext = scoped) -> JSONResponse:
        return find_entries(resource_type, request, context)

    return route


for _kind in structured.INDEXED_TYPES:
    router.add_api_route(f"/{_kind}", _route(_kind), methods=["GET"], name=f"find_{_kind}")
