"""While no database answers (a failover between the primary's loss and the promotion), every adapter says so
with a 503 and a Retry-After, never a 500 or a stack trace, and stores nothing.

The database here is one that is not there: a loopback port nobody listens on.
"""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.fhir.conftest import Fhir, World, fhir, provide_bundle, world  # noqa: F401 - fixtures


def _nobody_listening() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _without_database(platform: Platform) -> Platform:
    url = f"postgresql://postgres@127.0.0.1:{_nobody_listening()}/opendsp?connect_timeout=2"
    return Platform(settings=platform.settings.model_copy(update={"database_url": url}), clock=platform.clock,
                    randomness=platform.randomness, blob_store=platform.blob_store)


def test_without_a_database_fhir_and_the_portals_answer_503_and_store_nothing(
        platform: Platform, world: World, fhir: Fhir) -> None:  # noqa: F811 - fixtures
    lab = fhir.token(world.software["lab"], world.biologist)
    gone = _without_database(platform)
    with TestClient(create_app(platform=gone), raise_server_exceptions=False) as http:
        headers = {"Authorization": f"Bearer {lab}", "Content-Type": "application/fhir+json"}
        import json

        sent = http.post("/fhir/", content=json.dumps(provide_bundle(world.person_id)).encode(), headers=headers)
        assert sent.status_code == 503 and sent.headers["Retry-After"] == "30"
        assert sent.json()["issue"][0]["code"] == "transient"
        searched = http.get(f"/fhir/DocumentReference?patient={world.person_id}",
                            headers={"Authorization": f"Bearer {lab}"})
        assert searched.status_code == 503 and searched.json()["resourceType"] == "OperationOutcome"
        http.cookies.set("opendsp_session", "any")  # a session the database would have to look up
        page = http.get("/record/documents", follow_redirects=False)
        assert page.status_code == 503 and page.headers["Retry-After"] == "30"
        assert "Le service est momentanément indisponible" in page.text and "Traceback" not in page.text
        token = http.post("/auth/token", data={"grant_type": "client_credentials"})
        assert token.status_code in (400, 401, 503)  # refused before or by the database, never a 500
    assert gone.engine is not None
    gone.engine.dispose()
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
