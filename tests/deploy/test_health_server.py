"""The health port of the processes without web pages: the same checks as the web's, "stopping" once asked to
stop, nothing but its two paths, and no error text; and the flow cookies' key that several workers share."""

from __future__ import annotations

import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendsp.content.stores import LocalFolderStore
from opendsp.health import HealthServer
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.security import session_secret
from tests.deploy.processes import probe


@pytest.fixture
def health(platform: Platform) -> Iterator[tuple[str, threading.Event]]:
    stopping = threading.Event()
    server = HealthServer(platform, "worker", "127.0.0.1", 0, stopping).start()
    try:
        yield f"http://127.0.0.1:{server.port}", stopping
    finally:
        server.close()


def test_ready_then_stopping_once_the_process_is_asked_to_stop(health: tuple[str, threading.Event]) -> None:
    url, stopping = health
    checks = {"database": "ok", "content_store": "ok", "master_keys": "ok"}
    assert probe(f"{url}/healthz/ready") == (200, {"status": "ok", "process": "worker", "checks": checks})
    assert probe(f"{url}/healthz/live?verbose=1") == (200, {"status": "ok", "process": "worker"})
    stopping.set()
    assert probe(f"{url}/healthz/ready") == (503, {"status": "stopping", "process": "worker", "checks": checks})
    assert probe(f"{url}/healthz/live")[0] == 200  # still alive: it is finishing its work


def test_a_missing_content_store_is_named_never_described(platform: Platform,
                                                          health: tuple[str, threading.Event]) -> None:
    url, _ = health
    store = platform.blob_store
    assert isinstance(store, LocalFolderStore)
    shutil.rmtree(store.root)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/healthz/ready", timeout=10)
    body = refused.value.read().decode()
    assert refused.value.code == 503 and '"content_store": "failed"' in body and str(store.root) not in body


def test_a_listener_is_starting_until_its_port_is_open(platform: Platform) -> None:
    """The MLLP listener's health port opens before its own port: ready waits for the port, so that a probe's
    "ok" means messages can be sent."""
    stopping, listening = threading.Event(), threading.Event()
    server = HealthServer(platform, "mllp", "127.0.0.1", 0, stopping, listening).start()
    try:
        url = f"http://127.0.0.1:{server.port}/healthz/ready"
        status, body = probe(url)
        assert (status, body["status"]) == (503, "starting")
        assert probe(f"http://127.0.0.1:{server.port}/healthz/live")[0] == 200
        listening.set()
        assert probe(url)[0] == 200
        stopping.set()
        assert probe(url)[1]["status"] == "stopping"
    finally:
        server.close()


@pytest.mark.parametrize("path", ["/", "/metrics", "/healthz", "/healthz/ready/../../etc/passwd", "/%00"])
def test_nothing_else_is_served(health: tuple[str, threading.Event], path: str) -> None:
    url, _ = health
    assert probe(f"{url}{path}") == (404, {"status": "not found"})


def test_other_methods_are_refused(health: tuple[str, threading.Event]) -> None:
    url, _ = health
    request = urllib.request.Request(f"{url}/healthz/ready", data=b"x" * 1000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 501


def test_processes_starting_together_all_read_the_one_session_secret(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, session_secret_source=f"file:{tmp_path / 'keys' / 'session-secret'}")
    start, secrets_read = threading.Barrier(8), []

    def first_start() -> None:
        start.wait()
        secrets_read.append(session_secret(settings))

    threads = [threading.Thread(target=first_start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(secrets_read) == 8 and len(set(secrets_read)) == 1 and len(secrets_read[0]) == 64
    assert sorted(path.name for path in (tmp_path / "keys").iterdir()) == ["session-secret"]  # no draft left
    assert ((tmp_path / "keys" / "session-secret").stat().st_mode & 0o777) == 0o600
