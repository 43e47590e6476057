"""The IHE MHD guide's examples driven by FHIR clients written by others (fhirpy, fhir-kit-client), live."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from opendsp.platform import Platform
from tests.factories import as_holder
from tests.fhir.conftest import World, live_token, provide_bundle, valid
from tests.fhir.test_ihe_examples import PATIENT_SUMMARY, example

SCOPES = "system/DocumentReference.crs system/Binary.r system/List.s system/Patient.rs"


def client(url: str, served: Platform, world: World) -> SyncFHIRClient:
    with served.transaction() as session:
        as_holder(session, served, world.record).set_referring_doctor(world.record.id, world.gp.id)
    token = live_token(url, served, world, "hospital", world.gp, SCOPES)
    return SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {token}")


def earlier_summary(gp: SyncFHIRClient, world: World) -> str:
    return location_id(gp.execute("", method="post", data=provide_bundle(
        world.person_id, type_coding=PATIENT_SUMMARY, title="Earlier summary")), 1)


def location_id(response: dict, index: int) -> str:
    return str(valid(response)["entry"][index]["response"]["location"].split("/")[1])


def test_fhirpy_sends_the_complete_example_and_finds_its_folder_relation_and_hash(
        server: tuple[str, Platform], world: World) -> None:
    url, served = server
    gp = client(url, served, world)
    earlier = earlier_summary(gp, world)

    response = gp.execute("", method="post", data=example(
        "comprehensiveComplete", patient_id=world.person_id, appended_document=earlier))
    document_id = location_id(response, 2)
    folder_id = location_id(response, 1)

    document = gp.reference("DocumentReference", document_id).to_resource().serialize()
    valid(document)
    assert {"code": "appends", "target": {"reference": f"DocumentReference/{earlier}"}} in document["relatesTo"]
    assert document["content"][0]["attachment"]["hash"] == "Ck1VqNd45QIvq3AZd8XYQLvEhtA="
    assert document["content"][0]["attachment"]["size"] == 11

    folders = gp.resources("List").search(patient=f"Patient/{world.person_id}", code="folder").fetch()
    assert [f.id for f in folders] == [folder_id]
    assert folders[0]["entry"][0]["item"]["reference"] == f"DocumentReference/{document_id}"
    found = gp.resources("DocumentReference").search(patient=f"Patient/{world.person_id}").fetch()
    assert {r.id: r["content"][0]["attachment"].get("hash") for r in found}[document_id] == \
        "Ck1VqNd45QIvq3AZd8XYQLvEhtA="


def test_fhirpy_replaces_by_the_guide_s_patch_and_is_told_why_it_is_refused(
        server: tuple[str, Platform], world: World) -> None:
    url, served = server
    gp = client(url, served, world)
    old = earlier_summary(gp, world)

    bundle = example("comprehensiveReplace", patient_id=world.person_id, replaced_document=old)
    with pytest.raises(OperationOutcome) as refused:  # the guide's example declares 24 bytes for 23
        gp.execute("", method="post", data=bundle)
    assert "23" in str(refused.value)

    bundle["entry"][2]["resource"]["content"][0]["attachment"]["size"] = 23
    with pytest.raises(ResourceNotFound):  # the same PATCH and replacement naming an unknown document
        unknown = example("comprehensiveReplace", patient_id=world.person_id, replaced_document=uuid.uuid4())
        unknown["entry"][2]["resource"]["content"][0]["attachment"]["size"] = 23
        gp.execute("", method="post", data=unknown)
    # The base URL as the CapabilityStatement names it, without a slash: answered, not redirected.
    token = gp.authorization.removeprefix("Bearer ")
    answer = httpx.post(f"{url}/fhir", json=bundle, follow_redirects=False,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    assert answer.status_code == 200, answer.text
    assert gp.reference("DocumentReference", old).to_resource()["status"] == "superseded"

    with pytest.raises(ResourceNotFound) as minimal:
        gp.execute("", method="post", data=example("minimalSimple", national_number=world.national_number))
    assert "no such patient" in str(minimal.value)  # the guide's Dee Schmidt is not this record's person


def test_fhir_kit_client_posts_the_complete_example_at_the_base_url(server: tuple[str, Platform], world: World,
                                                                    tmp_path: Path) -> None:
    """The npm client (tests/fhir/mhd_client.mjs) sends the guide's example to the base URL and finds its lists."""
    from tests.fhir.test_npm_client import NODE, ROOT, run_client

    if NODE is None or not (ROOT / "node_modules" / "fhir-kit-client").is_dir():
        pytest.skip("node and node_modules/fhir-kit-client are needed (make test installs them)")
    url, served = server
    gp = client(url, served, world)
    earlier = earlier_summary(gp, world)
    bundle_file = tmp_path / "complete.json"
    bundle_file.write_text(json.dumps(example("comprehensiveComplete", patient_id=world.person_id,
                                              appended_document=earlier)))
    result = run_client(url, gp.authorization.removeprefix("Bearer "), str(world.person_id), bundle_file)
    assert "error" not in result, result
    folder = result["provide"]["locations"][1].split("/")[1]
    assert folder in result["lists"]["ids"]  # the SubmissionSets and the Folder, found with ITI-66
    assert 11 in result["documents"]["sizes"]  # the example's "Hello World"
