"""The holder's choices as read-only Consents, for the holder's side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opendsp.fhir import mapping, search
from opendsp.fhir.consent import consents
from opendsp.fhir.context import FhirContext, allowed
from opendsp.fhir.errors import fhir_response
from opendsp.fhir.search import Query

router = APIRouter()


@router.get("/Consent")
def find_consents(request: Request, context: Annotated[FhirContext, allowed("Consent", "s")]) -> JSONResponse:
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.CONSENT_PARAMETERS, "Consent", access.now)
    person, record_id = context.record_of_patient(query)
    resources = consents(record_id, person.id, access.consent_view(record_id), access.now)
    return fhir_response(mapping.searchset(resources, base=context.base, total=len(resources),
                                           links=query.links(context.base, len(resources)), timestamp=access.now))
