"""Hospital stays as Encounters: a hospital's software creates, updates and reads back its own stays (the same
stay reports as HL7 v2 ADT messages, decided and traced the same way)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opendsp.fhir import encounter
from opendsp.fhir.body import resource
from opendsp.fhir.context import FhirContext, allowed, resource_id
from opendsp.fhir.errors import FhirError, fhir_response, unknown_encounter
from opendsp.stays.services import StayReportRefused, apply_report, read_stay, trace_refused_report

router = APIRouter()
ENCOUNTER_BYTES = 256 * 1024


def _report(context: FhirContext, sent: dict[str, Any], previous: Any) -> Any:
    hospital = context.caller.organisation
    assert hospital is not None  # Encounter scopes are never granted to a person's app
    access = context.access
    try:
        return apply_report(
            session=context.session, platform=context.platform, hospital=hospital,
            report=encounter.report(sent, person_of=context.person, previous=previous, now=access.now),
            software=context.caller.software, request=access.request,
        )
    except StayReportRefused as refused:
        trace_refused_report(session=context.session, platform=context.platform, hospital=hospital, refused=refused,
                             software=context.caller.software, request=access.request,
                             context={"channel": "FHIR Encounter", "encounter": sent.get("id")})
        status, code = (404, "not-found") if refused.code == "204" else (422, "business-rule")
        raise FhirError(status, code, str(refused), expression="Encounter") from None


def _answer(context: FhirContext, stay: Any, status: int = 200) -> JSONResponse:
    response = fhir_response(encounter.encounter_resource(stay, context.access.holder_of(stay.record_id)),
                             status=status)
    response.headers["Location"] = f"{context.base}/Encounter/{stay.id}"
    return response


@router.post("/Encounter")
def create_encounter(stay: Annotated[dict[str, Any], resource(["Encounter"], ENCOUNTER_BYTES)],
                     context: Annotated[FhirContext, allowed("Encounter", "c")]) -> JSONResponse:
    return _answer(context, _report(context, stay, None), status=201)


@router.put("/Encounter/{encounter_id}")
def update_encounter(encounter_id: str, stay: Annotated[dict[str, Any], resource(["Encounter"], ENCOUNTER_BYTES)],
                     context: Annotated[FhirContext, allowed("Encounter", "u")]) -> JSONResponse:
    if stay.get("id") != encounter_id:
        raise FhirError(400, "invalid", "the Encounter's id must be the one in the URL", expression="Encounter.id")
    hospital = context.caller.organisation
    # The calling hospital's own stay (the report itself is decided and traced); another's does not exist.
    previous = None if hospital is None else context.access.stay_to_report(resource_id(encounter_id),
                                                                          hospital_id=hospital.id)
    if previous is None:
        raise unknown_encounter()
    return _answer(context, _report(context, stay, previous))


@router.get("/Encounter/{encounter_id}")
def read_encounter(encounter_id: str, context: Annotated[FhirContext, allowed("Encounter", "r")]) -> JSONResponse:
    """One of the calling hospital's stays, read through the policy: another hospital's does not exist for it."""
    hospital = context.caller.organisation
    stay = None if hospital is None else read_stay(
        session=context.session, platform=context.platform, hospital=hospital, stay_id=resource_id(encounter_id),
        software=context.caller.software, request=context.access.request)
    if stay is None:
        raise unknown_encounter()
    return _answer(context, stay)
