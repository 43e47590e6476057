"""Hostile input to the FHIR API: an OperationOutcome and a 4xx, nothing stored, and the server keeps serving."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.search.services import search
from tests.factories import as_holder, run_jobs
from tests.fhir.conftest import Fhir, World, provide_bundle
from tests.web.test_bad_input import RECURSING_PDF


def documents(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and "Traceback" not in response.text
    return body["issue"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("query", [
    "patient.identifier=%00", "patient=Patient/abc%00", "author.family=M%C3%BCl%00ler", "_id=%00",
])
def test_a_nul_in_a_search_parameter_is_a_400(platform: Platform, world: World, fhir: Fhir, query: str) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.rs")
    issue = outcome(fhir.get(f"/fhir/DocumentReference?{query}", token), 400)
    assert issue["code"] == "invalid"
    assert fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", token).status_code == 200


def test_deeply_nested_json_is_a_400_whatever_the_depth(platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    for depth in (100, 100_000):  # under and far over the interpreter's recursion limit
        body = b'{"resourceType": "Bundle", "entry": ' + b"[" * depth + b"]" * depth + b"}"
        issue = outcome(fhir.post("/fhir/", token, body), 400)
        assert issue["code"] == "structure" and "nests deeper" in issue["diagnostics"]
    assert fhir.get("/fhir/metadata", token).status_code == 200
    assert documents(platform) == 0


def test_a_nul_in_a_title_is_a_400_and_nothing_is_stored(platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    issue = outcome(fhir.post("/fhir/", token, provide_bundle(world.person_id, title="Bilan\u0000sanguin")), 400)
    assert "NUL" in issue["diagnostics"]
    assert documents(platform) == 0
    assert fhir.post("/fhir/", token, provide_bundle(world.person_id)).status_code == 200


@pytest.mark.parametrize("field", ["masterIdentifier", "description"])
def test_a_field_longer_than_its_column_is_refused_not_a_500(platform: Platform, world: World, fhir: Fhir,
                                                             field: str) -> None:
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    long_master = "urn:oid:1." + "2" * 250 if field == "masterIdentifier" else None
    long_title = "Bilan " * 100 if field == "description" else "Bilan"
    bundle = provide_bundle(world.person_id, master=long_master, title=long_title)
    issue = outcome(fhir.post("/fhir/", token, bundle), 422)
    assert issue["code"] == "too-long" and field in issue["expression"][0]
    assert documents(platform) == 0
    fine = provide_bundle(world.person_id, master=f"urn:oid:1.2.{uuid.uuid4().int}"[:200])
    assert fhir.post("/fhir/", token, fine).status_code == 200


def test_a_visit_number_longer_than_its_column_is_refused(platform: Platform, world: World, fhir: Fhir) -> None:
    from tests.fhir.test_encounter import encounter

    token = fhir.token(world.software["hospital"], world.outsider)
    issue = outcome(fhir.post("/fhir/Encounter", token, encounter(world, visit="V" * 65)), 422)
    assert issue["code"] == "too-long"
    assert fhir.post("/fhir/Encounter", token, encounter(world, visit="V" * 64)).status_code == 201


def test_a_pdf_crafted_to_exhaust_recursion_is_indexed_by_its_title_only(platform: Platform, world: World,
                                                                        fhir: Fhir) -> None:
    # A client's deposit is not checked as a portal's upload is: the PDF reaches the indexer as deposited.
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    response = fhir.post("/fhir/", token, provide_bundle(world.person_id, content=RECURSING_PDF,
                                                          title="Bilan lipidique"))
    assert response.status_code == 200 and "Traceback" not in response.text, response.text
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 1
    # Indexed by its title and metadata only, by the worker; the server keeps serving.
    with platform.transaction() as session:
        access = as_holder(session, platform, session.merge(world.record))
        assert search(access, world.record.id, "lipidique").total == 0  # not by the request
    assert run_jobs(platform) >= 1
    with platform.transaction() as session:
        access = as_holder(session, platform, session.merge(world.record))
        assert search(access, world.record.id, "lipidique").total == 1
    assert fhir.post("/fhir/", token, provide_bundle(world.person_id)).status_code == 200
