"""Consents: the holder's choices and wishes for the holder's side; the wishes alone for a professional with
access to the record (as on its patient view). Read-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opendsp.fhir import mapping, search
from opendsp.fhir.consent import consents, wish_consent
from opendsp.fhir.context import FhirContext, allowed, resource_id
from opendsp.fhir.errors import FhirError, fhir_response
from opendsp.fhir.search import Query
from opendsp.policy.decision import AccessDenied

router = APIRouter()


def unknown_consent() -> FhirError:
    """The one answer for a Consent id that is none, or that the caller may not read."""
    return FhirError(404, "not-found", "no such Consent")


@router.get("/Consent")
def find_consents(request: Request, context: Annotated[FhirContext, allowed("Consent", "s")]) -> JSONResponse:
    access = context.access
    query = Query.parse(list(request.query_params.multi_items()), search.CONSENT_PARAMETERS, "Consent", access.now)
    person, record_id = context.record_of_patient(query)
    if context.caller.professional is not None:
        # A professional: the wishes, decided (wishes.read: any access to the record) and traced as one act.
        wishes = context.with_break_glass(lambda: access.read_wishes(record_id))
        resources = [c for w in wishes if (c := wish_consent(w, person.id, current=True)) is not None]
    else:
        resources = consents(record_id, person.id, access.consent_view(record_id), access.now)
    return fhir_response(mapping.searchset(resources, base=context.base, total=len(resources),
                                           links=query.links(context.base, len(resources)), timestamp=access.now))


@router.get("/Consent/{consent_id}")
def read_consent(consent_id: str, context: Annotated[FhirContext, allowed("Consent", "r")]) -> JSONResponse:
    """A wish's Consent by its id, for whoever may read the record's wishes; anything else is not found."""
    wish_id = resource_id(consent_id)
    try:
        read = context.with_break_glass(lambda: context.access.read_wish(wish_id))
    except AccessDenied:
        raise unknown_consent() from None
    person = context.access.holder_of(read.wish.record_id)  # the decision above was on this record
    resource = wish_consent(read.wish, person.id, current=read.current)
    if resource is None:  # "not stated" is no Consent
        raise unknown_consent()
    return fhir_response(resource)
