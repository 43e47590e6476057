"""IHE PDQm ITI-78 Patient Demographics Query (identity only, exact matching), and opening a record with the
holder's presence code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from opendsp.fhir import mapping, search
from opendsp.fhir.body import resource
from opendsp.fhir.context import FhirContext, allowed, resource_id
from opendsp.fhir.errors import FhirError, fhir_response, unknown_patient
from opendsp.fhir.search import Query
from opendsp.persons.models import Person

router = APIRouter()


def _find(context: FhirContext, query: Query) -> tuple[list[Person], int]:
    matching = select(Person).where(*search.person_conditions(query))
    criteria = {name: values for name, values in query.params.items() if name not in search.PAGING}
    return context.access.find_patients(matching, criteria=criteria, limit=query.count, offset=query.offset)


@router.get("/Patient")
def find_patients(request: Request, context: Annotated[FhirContext, allowed("Patient", "s")]) -> JSONResponse:
    query = Query.parse(list(request.query_params.multi_items()), search.PATIENT_PARAMETERS, "Patient",
                        context.access.now)
    search.check_patient_search(query)
    persons, total = _find(context, query)
    return fhir_response(mapping.searchset([mapping.patient(p) for p in persons], base=context.base, total=total,
                                           links=query.links(context.base, total), timestamp=context.access.now))


@router.get("/Patient/{patient_id}")
def read_patient(patient_id: str, context: Annotated[FhirContext, allowed("Patient", "r")]) -> JSONResponse:
    query = Query(params={"_id": [str(resource_id(patient_id))]}, allowed=search.PATIENT_PARAMETERS,
                  resource="Patient", count=1)
    persons, _total = _find(context, query)
    if not persons:
        raise unknown_patient()
    return fhir_response(mapping.patient(persons[0]))


def _presence_code(parameters: dict[str, Any] = resource(["Parameters"], 64 * 1024)) -> str:
    codes = [p.get("valueString") for p in parameters.get("parameter") or [] if p.get("name") == "code"]
    if len(codes) != 1 or not codes[0]:
        raise FhirError(400, "required", "give the presence code once, as the parameter code (valueString)",
                        expression="Parameters.parameter")
    return str(codes[0])


@router.post("/Patient/{patient_id}/$presence-code")
def presence_code(patient_id: str, code: Annotated[str, Depends(_presence_code)],
                  context: Annotated[FhirContext, allowed("Patient", "r")]) -> JSONResponse:
    person, record_id = context.record_of(context.person(resource_id(patient_id)))
    grant = context.access.open_with_presence_code(record_id, code)
    return fhir_response({
        "resourceType": "Parameters",
        "parameter": [
            {"name": "expires", "valueInstant": mapping.instant(grant.expires_at)},
            {"name": "patient", "valueReference": {"reference": f"Patient/{person.id}"}},
        ],
    })
