"""Every bad input gets an OperationOutcome with a precise code and status, and stores nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from opendsp.fhir import app as fhir_app
from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.factories import PDF
from tests.fhir.conftest import Fhir, World, provide_bundle, valid
from tests.fhir.test_mhd import documents


def outcome(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code, body
    assert body["issue"][0]["diagnostics"]
    return body


@pytest.fixture
def lab(world: World, fhir: Fhir) -> str:
    return fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.crs system/Patient.rs")


def test_bad_submissions_are_refused_precisely_and_store_nothing(platform: Platform, world: World, fhir: Fhir,
                                                                  lab: str) -> None:
    person = world.person_id
    outcome(fhir.post("/fhir/", lab, b"{not json"), 400, "structure")
    outcome(fhir.post("/fhir/", lab, {"resourceType": "Patient"}), 400, "invalid")
    outcome(fhir.post("/fhir/", lab, {"resourceType": "Bundle", "type": "transaction", "entry": [{"foo": 1}]}),
            400, "structure")
    outcome(fhir.post("/fhir/", lab, {"resourceType": "Bundle", "type": "nonsense"}), 400, "code-invalid")
    outcome(fhir.post("/fhir/", lab, provide_bundle(person), "text/plain"), 415, "not-supported")
    outcome(fhir.post("/fhir/", lab, provide_bundle(uuid.uuid4())), 404, "not-found")
    body = outcome(fhir.post("/fhir/", lab, provide_bundle(person, binary_url="http://elsewhere.example/Binary/1")),
                   422, "invalid")
    assert "inside the Bundle" in body["issue"][0]["diagnostics"]
    assert "size" in outcome(fhir.post("/fhir/", lab, provide_bundle(person, size=3)), 422, "invalid")[
        "issue"][0]["expression"][0]
    body = outcome(fhir.post("/fhir/", lab, provide_bundle(person, sha1="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")), 422, "invalid")
    assert "hash" in body["issue"][0]["diagnostics"]
    outcome(fhir.post("/fhir/", lab, provide_bundle(person, media_type="application/x-msdownload")), 415,
            "not-supported")
    outcome(fhir.post("/fhir/", lab, provide_bundle(person, type_coding={"system": "http://loinc.org",
                                                                         "code": "00000-0"})), 422, "code-invalid")
    # A laboratory may not deposit a consultation report: a forbidden act.
    body = outcome(fhir.post("/fhir/", lab, provide_bundle(person, type_coding={"system": "http://loinc.org",
                                                                                "code": "11488-4"})), 403, "forbidden")
    assert body["issue"][0]["details"]["coding"][0]["code"] == "type_not_permitted"
    assert documents(platform) == 0


def test_a_failed_document_in_a_bundle_stores_none_of_it(platform: Platform, world: World, fhir: Fhir,
                                                          lab: str) -> None:
    bundle = provide_bundle(world.person_id)
    second = provide_bundle(world.person_id, type_coding={"system": "http://loinc.org", "code": "11488-4"})
    bundle["entry"] += second["entry"][1:]
    bundle["entry"][0]["resource"]["entry"].append({"item": {"reference": second["entry"][1]["fullUrl"]}})
    outcome(fhir.post("/fhir/", lab, bundle), 403, "forbidden")
    assert documents(platform) == 0
    assert list((platform.settings.var_dir / "content").rglob("*")) == [] or not any(
        p.is_file() for p in (platform.settings.var_dir / "content").rglob("*"))


def test_a_request_too_large(platform: Platform, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_app, "MAX_REQUEST_BYTES", 1024)
    with TestClient(create_app(platform=platform)) as http:
        client = Fhir(http, platform)
        token = client.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
        outcome(client.post("/fhir/", token, provide_bundle(world.person_id, content=PDF * 4)), 413, "too-long")
    assert documents(platform) == 0


def test_search_errors(world: World, fhir: Fhir, lab: str) -> None:
    body = outcome(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&bogus=1", lab), 400, "not-supported")
    assert "bogus" in body["issue"][0]["diagnostics"]
    outcome(fhir.get("/fhir/DocumentReference?status=current", lab), 400, "required")
    outcome(fhir.get(f"/fhir/DocumentReference?patient={uuid.uuid4()}", lab), 404, "not-found")
    outcome(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&date=yesterday", lab), 400, "invalid")
    outcome(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&_sort=title", lab), 400, "not-supported")
    outcome(fhir.get("/fhir/Specimen", lab), 404, "not-found")
    outcome(fhir.get("/fhir/Patient?family=Schmit", lab), 400, "too-costly")


def test_patch_errors(world: World, fhir: Fhir, lab: str) -> None:
    headers = {"Authorization": f"Bearer {lab}", "Content-Type": "application/json-patch+json"}
    patch = json.dumps([{"op": "replace", "path": "/description", "value": "x"}])
    outcome(fhir.http.patch(f"/fhir/DocumentReference/{uuid.uuid4()}", content=patch, headers=headers), 422,
            "not-supported")
    outcome(fhir.http.patch(f"/fhir/DocumentReference/{uuid.uuid4()}", content=b"[", headers=headers), 400,
            "structure")


def test_metadata_lists_what_works(fhir: Fhir) -> None:
    response = fhir.http.get("/fhir/metadata")
    assert response.status_code == 200
    statement = valid(response.json())
    assert statement["fhirVersion"] == "4.0.1"
    kinds = {r["type"] for r in statement["rest"][0]["resource"]}
    assert kinds == {"DocumentReference", "Binary", "List", "Patient", "AuditEvent", "Consent", "Encounter",
                     "Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement",
                     "Immunization", "ImagingStudy", "Procedure",
                     "MedicationRequest", "MedicationDispense"}
    smart = fhir.http.get("/fhir/.well-known/smart-configuration").json()
    assert smart["token_endpoint"].endswith("/auth/token")
    assert "private_key_jwt" in smart["token_endpoint_auth_methods_supported"]


def test_resources_are_checked_against_fhir_r4_itself(platform: Platform, world: World, fhir: Fhir, lab: str) -> None:
    """fhir.resources' R4B models accept what R4 (4.0.1) does not have; the R4 models refuse it (ADR 0005)."""
    from opendsp.fhir.validation import model_class

    bundle = provide_bundle(world.person_id)
    bundle["entry"].append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "Citation"},
                            "resource": {"resourceType": "Citation", "status": "active"}})  # a resource new in R4B
    model_class("Bundle").model_validate(bundle)  # R4B alone would let it through
    body = outcome(fhir.post("/fhir/", lab, bundle), 400, "structure")
    assert "FHIR R4 4.0.1" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["Bundle.entry[3].resource"]
    wrong_type = provide_bundle(world.person_id)
    wrong_type["entry"][1]["resource"]["description"] = 42
    body = outcome(fhir.post("/fhir/", lab, wrong_type), 400, "structure")
    assert any("Bundle.entry[1].resource.description" in (i.get("expression") or [""])[0] for i in body["issue"])
    assert documents(platform) == 0
