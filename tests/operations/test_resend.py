"""A sender that did not get its answer (a failover cut the connection) sends again: nothing is stored twice.

docs/operations.md, "A transaction cut by a failover": the service does not retry a cut transaction, because
the sender's resend is safe. The HL7 listener's half is tests/stays/test_adt_mllp.py (the same message twice).
"""

from __future__ import annotations

from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.platform import Platform
from tests.fhir.conftest import Fhir, World, fhir, provide_bundle, world  # noqa: F401 - fixtures


def test_an_iti65_bundle_sent_again_is_refused_and_stores_nothing_more(
        platform: Platform, world: World, fhir: Fhir) -> None:  # noqa: F811 - fixtures
    lab = fhir.token(world.software["lab"], world.biologist)
    bundle = provide_bundle(world.person_id)
    assert fhir.post("/fhir/", lab, bundle).status_code == 200
    again = fhir.post("/fhir/", lab, bundle)
    assert again.status_code in (409, 422), again.text
    assert again.json()["resourceType"] == "OperationOutcome"
    assert "masterIdentifier" in again.text
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 1
