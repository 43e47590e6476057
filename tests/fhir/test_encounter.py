"""A hospital's software reports stays as FHIR Encounters; the stay opens the record to the hospital's staff.

Black-box: everything goes over HTTP with tokens obtained the way client software does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.factories import make_organisation, make_professional
from tests.fhir.conftest import Fhir, World, register, valid

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def encounter(world: World, *, status: str = "in-progress", visit: str = "V-2026-001", code: str = "IMP",
              start: str = "2025-12-31T22:00:00+00:00", end: str | None = None, id: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:example:visit", "value": visit}],
        "status": status,
        "class": {"system": ACT_CODE, "code": code},
        "subject": {"reference": f"Patient/{world.person_id}"},
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if id:
        resource["id"] = id
    return resource


def put(fhir: Fhir, path: str, token: str, body: dict[str, Any]) -> Any:
    return fhir.http.put(path, content=json.dumps(body).encode(),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})


def documents(fhir: Fhir, token: str, world: World) -> Any:
    return fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)


def test_a_hospital_nurse_sees_the_record_during_the_stay_and_not_a_week_after_discharge(
    platform: Platform, world: World, fhir: Fhir, clock  # type: ignore[no-untyped-def]
) -> None:
    hospital = world.software["hospital"]
    with platform.transaction() as session:
        nurse = make_professional(session, platform, profession="nurse", specialties=(),
                                  organisation=session.merge(world.hospital), family_name="Thill")
    # The nurse works at the hospital but is not in the patient's circle.
    nurse_token = fhir.token(hospital, nurse)
    assert documents(fhir, nurse_token, world).status_code == 403

    # The hospital's software (acting for Dr Reuter) reports the admission.
    token = fhir.token(hospital, world.outsider)
    created = fhir.post("/fhir/Encounter", token, encounter(world))
    assert created.status_code == 201, created.text
    stay = valid(created.json())
    assert stay["status"] == "in-progress" and created.headers["Location"].endswith(f"/Encounter/{stay['id']}")
    assert documents(fhir, fhir.token(hospital, nurse), world).status_code == 200

    now = clock.now().isoformat()
    finished = put(fhir, f"/fhir/Encounter/{stay['id']}", token, encounter(world, status="finished", end=now, id=stay["id"]))
    assert finished.status_code == 200, finished.text
    assert valid(finished.json())["period"]["end"].startswith(clock.now().date().isoformat())
    clock.advance(timedelta(days=7) - timedelta(minutes=1))
    assert documents(fhir, fhir.token(hospital, nurse), world).status_code == 200
    clock.advance(timedelta(minutes=1))
    assert documents(fhir, fhir.token(hospital, nurse), world).status_code == 403


def test_a_cancelled_admission_removes_access_at_once(platform: Platform, world: World, fhir: Fhir) -> None:
    hospital = world.software["hospital"]
    token = fhir.token(hospital, world.outsider)
    stay = fhir.post("/fhir/Encounter", token, encounter(world)).json()
    assert documents(fhir, token, world).status_code == 200
    cancelled = put(fhir, f"/fhir/Encounter/{stay['id']}", token, encounter(world, status="cancelled", id=stay["id"]))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert documents(fhir, fhir.token(hospital, world.outsider), world).status_code == 403


def test_a_planned_stay_opens_nothing_until_admission(platform: Platform, world: World, fhir: Fhir) -> None:
    hospital = world.software["hospital"]
    token = fhir.token(hospital, world.outsider)
    planned = fhir.post("/fhir/Encounter", token, encounter(world, status="planned")).json()
    assert planned["status"] == "planned"
    assert documents(fhir, token, world).status_code == 403
    admitted = put(fhir, f"/fhir/Encounter/{planned['id']}", token, encounter(world, id=planned["id"]))
    assert admitted.json()["status"] == "in-progress"
    assert documents(fhir, fhir.token(hospital, world.outsider), world).status_code == 200


def test_only_hospitals_report_stays_and_only_their_own(platform: Platform, world: World, fhir: Fhir) -> None:
    lab_token = fhir.token(world.software["lab"], world.biologist)
    refused = fhir.post("/fhir/Encounter", lab_token, encounter(world))
    assert refused.status_code == 403
    assert "hospitals" in refused.json()["issue"][0]["diagnostics"]

    hospital_token = fhir.token(world.software["hospital"], world.outsider)
    stay = fhir.post("/fhir/Encounter", hospital_token, encounter(world)).json()
    with platform.transaction() as session:
        other = make_organisation(session, platform, OrganisationKind.hospital, name="Autre hôpital")
        nurse = make_professional(session, platform, profession="nurse", specialties=(), organisation=other)
    other_software = register(platform, other, "Other HIS")
    other_token = fhir.token(other_software, nurse)
    assert fhir.get(f"/fhir/Encounter/{stay['id']}", other_token).status_code == 404
    hijack = put(fhir, f"/fhir/Encounter/{stay['id']}", other_token, encounter(world, status="finished", id=stay["id"],
                                                                             end="2026-01-01T10:00:00+00:00"))
    assert hijack.status_code == 404
    assert fhir.get(f"/fhir/Encounter/{stay['id']}", hospital_token).json()["status"] == "in-progress"


def test_bad_encounters_are_refused_precisely(platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.outsider)
    cases = [
        (encounter(world, code="XYZ"), 400, "Encounter.class"),
        ({**encounter(world), "identifier": []}, 400, "Encounter.identifier"),
        (encounter(world, status="finished", end="2026-01-01T10:00:00+00:00"), 422, "Encounter.status"),
        ({**encounter(world), "subject": {"reference": "Patient/00000000-0000-0000-0000-000000000000"}}, 404,
         "Encounter.subject"),
        ({**encounter(world), "status": "sleeping"}, 400, "Encounter.status"),
    ]
    for body, status, where in cases:
        response = fhir.post("/fhir/Encounter", token, body)
        assert response.status_code == status, (where, response.text)
        issue = valid(response.json())["issue"][0]
        assert where in json.dumps(issue), (where, issue)
    duplicate = encounter(world, visit="V-DUP")
    assert fhir.post("/fhir/Encounter", token, duplicate).status_code == 201
    assert fhir.post("/fhir/Encounter", token, duplicate).status_code == 422
