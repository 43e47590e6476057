"""The MHD flows driven by a FHIR client written by others (fhirpy), over a real HTTP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import uvicorn
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.factories import PDF
from tests.fhir.conftest import World, provide_bundle, valid


@pytest.fixture
def server(platform: Platform, clock: FrozenClock) -> Iterator[tuple[str, Platform]]:
    """uvicorn on a free localhost port, serving the test platform's database."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    served = Platform(settings=platform.settings.model_copy(update={"public_base_url": url}), clock=clock,
                      randomness=platform.randomness, engine=platform.engine, blob_store=platform.blob_store)
    uv = uvicorn.Server(uvicorn.Config(create_app(platform=served), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the server to listen, not for an expiry
    assert uv.started
    try:
        yield url, served
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def token(url: str, served: Platform, world: World, software: str, professional, scope: str) -> str:  # type: ignore[no-untyped-def]
    import httpx

    from opendsp.clients.services import make_client_assertion

    chosen = world.software[software]
    assertion = make_client_assertion(private_jwk=chosen.key, client_id=chosen.client_id, token_url=f"{url}/auth/token",
                                      licence_number=professional.licence_number, now=served.clock.now())
    response = httpx.post(f"{url}/auth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion, "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    })
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_fhirpy_provides_finds_pages_and_retrieves(server: tuple[str, Platform], world: World,
                                                   clock: FrozenClock) -> None:
    url, served = server
    lab = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {token(url, served, world, 'lab', world.biologist, 'system/DocumentReference.c')}")
    created = []
    for title in ("un", "deux", "trois"):
        response = lab.execute("", method="post", data=provide_bundle(world.person_id, title=title))
        created.append(valid(response)["entry"][1]["response"]["location"].split("/")[1])
        clock.advance(timedelta(seconds=1))

    gp = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {token(url, served, world, 'hospital', world.gp, 'system/DocumentReference.rs system/Binary.r system/Patient.rs')}")
    patient = gp.resources("Patient").search(identifier=f"urn:oid:1.3.182.4.4|{world.national_number}").first()
    assert patient is not None and patient.id == str(world.person_id)
    references = gp.resources("DocumentReference").search(patient=f"Patient/{patient.id}").sort("date").limit(2)
    found = references.fetch_all()  # follows the next links
    assert [r.id for r in found] == created
    assert gp.resources("DocumentReference").search(patient=f"Patient/{patient.id}").count() == 3
    for resource in found:
        valid(resource.serialize())
    binary = gp.reference("Binary", created[0]).to_resource()
    assert binary["contentType"] == "application/pdf"
    import base64

    assert base64.b64decode(binary["data"]) == PDF

    outsider = SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {token(url, served, world, 'hospital', world.outsider, 'system/DocumentReference.s')}")
    with pytest.raises(ForbiddenError) as refused:
        outsider.resources("DocumentReference").search(patient=f"Patient/{patient.id}").fetch()
    assert "no_access" in str(refused.value)
