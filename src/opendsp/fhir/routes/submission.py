"""IHE MHD ITI-65 Provide Document Bundle: ``POST /fhir`` a transaction Bundle, stored all or nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from opendsp.fhir import submission
from opendsp.fhir.body import streamed_bundle
from opendsp.fhir.capability import capability_statement
from opendsp.fhir.context import FhirContext, FhirSettings, allowed, fhir_settings
from opendsp.fhir.errors import fhir_response
from opendsp.fhir.mapping import instant
from opendsp.fhir.streaming import ReceivedBundle

router = APIRouter()


@router.get("/")
def base(settings: Annotated[FhirSettings, Depends(fhir_settings)]) -> JSONResponse:
    """``GET /fhir``: the CapabilityStatement, as ``/metadata`` (the base URL answers, never redirects)."""
    return fhir_response(capability_statement(settings.base, instant(settings.platform.clock.now())))


@router.post("/")
def provide_document_bundle(bundle: Annotated[tuple[dict[str, Any], ReceivedBundle], streamed_bundle()],
                            context: Annotated[FhirContext, allowed("DocumentReference", "c")]) -> JSONResponse:
    resource, received = bundle
    return fhir_response(submission.store(submission.plan(resource, context, received.spools), context))
