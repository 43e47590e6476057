"""The content store on an S3-compatible object store.

The server is a real process (moto's standalone S3 server) listening on
localhost and spoken to over HTTP by boto3: no class is mocked.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.service import ContentUnavailable
from opendsp.content.stores import BlobMissing, S3Store, blob_store_from_settings
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.factories import PDF, deposit_pdf, make_record, read_as_holder

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("the S3-compatible server did not start")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "opendsp-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "opendsp-test-secret")
    bucket = f"opendsp-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'opendsp.db'}",
        content_store=f"s3://{bucket}/dsp",
        s3_endpoint_url=s3_endpoint,
    )


def test_settings_select_the_object_store(s3_settings: Settings) -> None:
    store = blob_store_from_settings(s3_settings)
    assert isinstance(store, S3Store) and store.prefix == "dsp/"


def test_blob_round_trip_large_and_empty(s3_settings: Settings) -> None:
    store = blob_store_from_settings(s3_settings)
    big = bytes(range(256)) * 40_000  # ~10 MB: goes through a multipart upload
    assert store.put("records/r/big", [big[i : i + 65536] for i in range(0, len(big), 65536)]) == len(big)
    assert store.read("records/r/big") == big
    store.put("records/r/empty", [])
    assert store.read("records/r/empty") == b""
    assert {b.key for b in store.list("records/")} == {"records/r/big", "records/r/empty"}
    store.delete("records/r/big")
    with pytest.raises(BlobMissing):
        store.read("records/r/big")


def test_documents_are_sealed_in_the_object_store(s3_settings: Settings) -> None:
    clock = FrozenClock(datetime.now(UTC))
    platform = Platform(settings=s3_settings, clock=clock, randomness=SeededRandomness(3))
    assert platform.engine is not None
    upgrade(platform.engine)
    with platform.transaction() as session:
        record = make_record(session, platform)
        document = deposit_pdf(session, platform, record)
    with platform.sessions() as session:
        session.begin()
        orphan = platform.content.put(session, record.id, [b"orphan"])
        session.info["on_rollback"].clear()  # as if the process died before committing
        session.rollback()
    raw = platform.content.blobs.read(document.content_key)
    assert b"test document" not in raw
    with platform.sessions() as session:
        assert read_as_holder(session, platform, document) == PDF

    clock.advance(timedelta(days=1))
    with platform.transaction() as session:
        report = platform.content.check(session, grace=timedelta(hours=1), verify=True)
    assert orphan.key in report.orphans_removed and report.healthy

    platform.content.blobs.put(document.content_key, [raw[:-5]])
    with platform.sessions() as session, pytest.raises(ContentUnavailable):
        read_as_holder(session, platform, document)


def test_readiness_asks_the_bucket_and_names_only_the_store_when_it_is_gone(s3_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from opendsp.web.app import create_app

    clock = FrozenClock(datetime.now(UTC))
    platform = Platform(settings=s3_settings, clock=clock, randomness=SeededRandomness(3))
    assert platform.engine is not None
    upgrade(platform.engine)
    client = TestClient(create_app(platform=platform))
    assert client.get("/healthz/ready").status_code == 200
    store = platform.blob_store
    assert isinstance(store, S3Store)
    store.client.delete_bucket(Bucket=store.bucket)  # empty: nothing was deposited
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "content_store": "failed", "master_keys": "ok"}
    assert store.bucket not in ready.text
    platform.engine.dispose()
