"""FHIR: a deposit (ITI-65) whose pending content store check took back is a 503 OperationOutcome, nothing written."""

from __future__ import annotations

import pytest

from opendsp.platform import Platform
from tests.fhir.conftest import Fhir, World, provide_bundle, valid
from tests.web.test_content_unavailable import _counts, store_check_at_the_worst_moment  # noqa: F401 - fixture


def test_a_provide_whose_pending_content_was_taken_back_is_a_transient_503(
    platform: Platform, world: World, fhir: Fhir, database_url: str,
    store_check_at_the_worst_moment: list[list[str]],  # noqa: F811
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: no pending content, store check never runs during a deposit")
    token = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    before = _counts(platform)
    response = fhir.post("/fhir/", token, provide_bundle(world.person_id))
    assert len(store_check_at_the_worst_moment) == 1
    assert response.status_code == 503, response.text
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "transient"
    assert _counts(platform) == before
    again = fhir.post("/fhir/", token, provide_bundle(world.person_id))
    assert again.status_code == 200, again.text
