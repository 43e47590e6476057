"""Hospital stays as FHIR Encounters: what a hospital's software creates and updates.

An Encounter maps to the same ``StayReport`` as an HL7 v2 ADT message, and
goes through the same service (``opendsp.stays.services.apply_report``): the
hospital acts as itself (the client's organisation), the policy decides, and
the record's trace names the stay. The Encounter's id is the stay's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opendsp.fhir import systems
from opendsp.fhir.errors import FhirError
from opendsp.stays.vocabulary import PatientClass, StayState
from opendsp.stays.services import StayEvent, StayReport

if TYPE_CHECKING:  # instances handed over by the stays service and RecordAccess, mapped and never queried
    from opendsp.persons.models import Person
    from opendsp.stays.models import Stay

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLASSES = {"IMP": PatientClass.inpatient, "ACUTE": PatientClass.inpatient, "NONAC": PatientClass.inpatient,
           "AMB": PatientClass.outpatient, "EMER": PatientClass.emergency}
CLASS_CODES = {PatientClass.inpatient: "IMP", PatientClass.outpatient: "AMB", PatientClass.emergency: "EMER"}
IN_PROGRESS = frozenset({"arrived", "triaged", "in-progress", "onleave"})
STATUS_OF = {StayState.planned: "planned", StayState.in_progress: "in-progress", StayState.finished: "finished",
             StayState.cancelled: "cancelled"}


def _moment(value: str | None, where: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, "value", f"{value!r} is not a FHIR dateTime", expression=where) from None
    if moment.tzinfo is None:
        raise FhirError(400, "value", "give the time with its offset", expression=where)
    return moment.astimezone(UTC)


def _visit_number(encounter: dict[str, Any]) -> str:
    for identifier in encounter.get("identifier") or []:
        if identifier.get("value"):
            if len(str(identifier["value"])) > 64:
                raise FhirError(422, "too-long", "the visit number has at most 64 characters",
                                expression="Encounter.identifier")
            return str(identifier["value"])
    raise FhirError(400, "required", "the hospital's visit number is required as Encounter.identifier",
                    expression="Encounter.identifier")


def _patient_number(encounter: dict[str, Any], person_of: Callable[[uuid.UUID], Person | None]) -> str:
    subject = encounter.get("subject") or {}
    identifier = subject.get("identifier") or {}
    if identifier.get("value"):
        if identifier.get("system") not in (None, systems.NATIONAL_NUMBER):
            raise FhirError(400, "not-supported", f"patients are identified with {systems.NATIONAL_NUMBER}",
                            expression="Encounter.subject.identifier.system")
        return str(identifier["value"])
    reference = str(subject.get("reference") or "")
    if reference.startswith("Patient/"):
        try:
            person = person_of(uuid.UUID(reference.removeprefix("Patient/")))
        except ValueError:
            person = None
        if person is not None:
            return person.national_number
        raise FhirError(404, "not-found", "no such patient", expression="Encounter.subject")
    raise FhirError(400, "required", "name the patient in Encounter.subject (reference or national number)",
                    expression="Encounter.subject")


def _care_unit(encounter: dict[str, Any]) -> str | None:
    """The unit code of the current location (the active one, else the last listed)."""
    locations = encounter.get("location") or []
    active = [entry for entry in locations if entry.get("status") in (None, "active")] or locations
    if not active:
        return None
    location = active[-1].get("location") or {}
    code = (location.get("identifier") or {}).get("value")
    if not code:
        raise FhirError(400, "required", "give the care unit as location.location.identifier.value",
                        expression="Encounter.location")
    return str(code)


def _class(encounter: dict[str, Any]) -> PatientClass:
    code = (encounter.get("class") or {}).get("code")
    if code not in CLASSES:
        raise FhirError(400, "code-invalid", f"Encounter.class {code!r} is not one of {', '.join(CLASSES)} ({ACT_CODE})",
                        expression="Encounter.class")
    return CLASSES[code]


def report(encounter: dict[str, Any], *, person_of: Callable[[uuid.UUID], Person | None], previous: Stay | None,
           now: datetime) -> StayReport:
    """The stay event an Encounter (created, or updated from ``previous``) stands for; ``person_of`` finds a
    patient named by reference."""
    status = encounter.get("status")
    period = encounter.get("period") or {}
    start = _moment(period.get("start"), "Encounter.period.start")
    end = _moment(period.get("end"), "Encounter.period.end")
    patient_class = _class(encounter)
    unit = _care_unit(encounter)
    event = _event(status, previous, unit, patient_class)
    return StayReport(
        event=event,
        national_number=_patient_number(encounter, person_of),
        visit_number=_visit_number(encounter),
        occurred_at=(end if event is StayEvent.discharge else start if previous is None else None) or now,
        patient_class=patient_class,
        care_unit_code=unit,
        admitted_at=start,
        discharged_at=end,
    )


def _event(status: str | None, previous: Stay | None, unit: str | None, patient_class: PatientClass) -> StayEvent:
    if previous is None:
        if status == "planned":
            return StayEvent.plan
        if status in IN_PROGRESS:
            return StayEvent.register_outpatient if patient_class is PatientClass.outpatient else StayEvent.admit
        raise FhirError(422, "business-rule", "an Encounter is created planned or in progress",
                        expression="Encounter.status")
    was = previous.state
    if status in ("cancelled", "entered-in-error"):
        return StayEvent.cancel_admit
    if status in IN_PROGRESS and was is StayState.planned:
        return StayEvent.admit
    if status == "finished" and was is StayState.in_progress:
        return StayEvent.discharge
    if status in IN_PROGRESS and was is StayState.finished:
        return StayEvent.cancel_discharge
    current_unit = previous.care_unit.identifier.rpartition("/")[2] if previous.care_unit else None
    if status in IN_PROGRESS and was is StayState.in_progress and unit != current_unit:
        return StayEvent.transfer
    if STATUS_OF.get(was) == status or (status in IN_PROGRESS and was is StayState.in_progress):
        return StayEvent.update
    raise FhirError(422, "business-rule", f"a {was.value.replace('_', ' ')} stay cannot become {status}",
                    expression="Encounter.status")


def encounter_resource(stay: Stay, person: Person) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(stay.id),
        "identifier": [{"system": f"urn:opendsp:sid:visit:{stay.organisation.identifier}", "value": stay.visit_number}],
        "status": STATUS_OF[stay.state],
        "class": {"system": ACT_CODE, "code": CLASS_CODES[stay.patient_class]},
        "subject": {"reference": f"Patient/{person.id}",
                    "identifier": {"system": systems.NATIONAL_NUMBER, "value": person.national_number}},
        "serviceProvider": {"identifier": {"system": systems.ORGANISATION, "value": stay.organisation.identifier},
                            "display": stay.organisation.name},
    }
    period = {k: v.isoformat() for k, v in (("start", stay.admitted_at), ("end", stay.discharged_at)) if v}
    if period:
        resource["period"] = period
    if stay.care_unit is not None:
        resource["location"] = [{
            "location": {"identifier": {"value": stay.care_unit.identifier.rpartition("/")[2]},
                         "display": stay.care_unit.name},
            "status": "active",
        }]
    return resource
