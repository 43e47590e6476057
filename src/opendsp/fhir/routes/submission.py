"""IHE MHD ITI-65 Provide Document Bundle: ``POST /fhir`` a transaction Bundle, stored all or nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opendsp.fhir import submission
from opendsp.fhir.body import resource
from opendsp.fhir.context import FhirContext, allowed
from opendsp.fhir.errors import fhir_response

router = APIRouter()


@router.post("/")
def provide_document_bundle(bundle: Annotated[dict[str, Any], resource(["Bundle"])],
                            context: Annotated[FhirContext, allowed("DocumentReference", "c")]) -> JSONResponse:
    return fhir_response(submission.store(submission.plan(bundle, context), context))
