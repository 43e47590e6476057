"""What the server supports (CapabilityStatement) and how to get a token (SMART configuration): public."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from opendsp.fhir import mapping
from opendsp.fhir.capability import capability_statement, smart_configuration
from opendsp.fhir.context import FhirSettings, fhir_settings
from opendsp.fhir.errors import fhir_response

router = APIRouter()
Settings = Annotated[FhirSettings, Depends(fhir_settings)]


@router.get("/metadata")
def metadata(settings: Settings) -> JSONResponse:
    return fhir_response(capability_statement(settings.base, mapping.instant(settings.platform.clock.now())))


@router.get("/.well-known/smart-configuration")
def smart(settings: Settings) -> JSONResponse:
    return JSONResponse(smart_configuration(settings.platform.settings.public_base_url.rstrip("/")))
