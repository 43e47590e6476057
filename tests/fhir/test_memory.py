"""The largest document a Provide Document Bundle may carry does not swell the server: measured on a real server.

The server is a separate process (uvicorn, as deployed) so that its peak resident memory (``VmHWM``) is its
own. The bound asserted is loose on purpose, to catch a return to reading the body whole (the peak was 457 MB
before); the figures themselves are measured in bench/iti65_workers.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from opendsp.clients.services import make_client_assertion
from opendsp.fhir.app import MAX_REQUEST_BYTES
from opendsp.platform import Platform
from tests.fhir.conftest import World, provide_bundle
from tests.fhir.test_mhd import documents

PEAK_BOUND = 300 * 1024 * 1024
# The largest document a Bundle under the request limit can carry: 3/4 of it, less the Bundle around (~50.3 MB).
DOCUMENT_BYTES = (MAX_REQUEST_BYTES - 8192) // 4 * 3


def memory_of(pid: int, field: str) -> int:
    """``VmHWM`` (the peak) or ``VmRSS`` (now) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(platform: Platform, world: World) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENDSP_DATABASE_URL": platform.settings.database_url,
           "OPENDSP_VAR_DIR": str(platform.settings.var_dir), "OPENDSP_PUBLIC_BASE_URL": url}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "opendsp.web.app:create_app", "--factory",
                                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)  # waiting for the server to listen, not for an expiry
        else:
            raise AssertionError("the server did not start")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def token(url: str, world: World) -> str:
    software = world.software["lab"]
    assertion = make_client_assertion(private_jwk=software.key, client_id=software.client_id,
                                      token_url=f"{url}/auth/token", licence_number=world.biologist.licence_number,
                                      now=datetime.now(UTC), jti=uuid.uuid4().hex)
    response = httpx.post(f"{url}/auth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion, "scope": "system/DocumentReference.c",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_the_largest_document_is_deposited_within_bounded_memory(
        platform: Platform, world: World, server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = server
    bearer = token(url, world)
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/fhir+json"}
    warm = httpx.post(f"{url}/fhir/", content=json.dumps(provide_bundle(world.person_id)), headers=headers)
    assert warm.status_code == 200, warm.text
    before = memory_of(process.pid, "VmHWM")
    content = b"%PDF-1.4\n" + os.urandom(DOCUMENT_BYTES - 9)
    body = json.dumps(provide_bundle(world.person_id, content=content)).encode()
    assert MAX_REQUEST_BYTES - 16384 < len(body) <= MAX_REQUEST_BYTES  # the largest allowed, near enough
    response = httpx.post(f"{url}/fhir/", content=body, headers=headers, timeout=300)
    assert response.status_code == 200, response.text
    peak = memory_of(process.pid, "VmHWM")
    assert peak <= PEAK_BOUND, f"peak RSS {peak / 1e6:.0f} MB (before the deposit {before / 1e6:.0f} MB)"
    assert documents(platform) == 2
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    with platform.sessions() as session:
        from opendsp.documents.models import Document

        document = session.get(Document, uuid.UUID(document_id))
        assert document is not None and document.size == len(content)
        assert document.sha256 == hashlib.sha256(content).hexdigest()
