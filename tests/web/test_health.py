from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opendsp import __version__
from opendsp.platform import Platform
from opendsp.settings import InsecureSettings, Mode, Settings
from opendsp.web.app import create_app


def test_healthz_answers_with_version_and_database_kind(platform: Platform) -> None:
    client = TestClient(create_app(platform=platform))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == __version__
    assert body["database"] == platform.engine.dialect.name  # type: ignore[union-attr]


def test_production_refuses_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(mode=Mode.production, var_dir=tmp_path)
    with pytest.raises(InsecureSettings, match="SQLite"):
        create_app(settings)


def test_production_refuses_the_demo_master_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opendsp.content.keys import KeyringFileProvider

    keyring = tmp_path / "keys.json"
    KeyringFileProvider(keyring, create_demo=True)  # a developer's keyring, holding the demo key
    settings = Settings(
        mode=Mode.production,
        var_dir=tmp_path,
        database_url="postgresql://postgres@127.0.0.1/test",
        master_key_source=f"file:{keyring}",
    )
    with pytest.raises(InsecureSettings, match="demo master key"):
        settings.check_production()


def test_production_never_creates_a_keyring_by_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opendsp.content.keys import MasterKeyError

    settings = Settings(
        mode=Mode.production, var_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1/test"
    )
    with pytest.raises(MasterKeyError, match="no master keyring"):
        settings.check_production()


def test_production_accepts_its_own_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64

    settings = Settings(
        mode=Mode.production,
        var_dir=tmp_path,
        database_url="postgresql://postgres@127.0.0.1/test",
        master_key_source="env",
        master_keys="prod-1:" + base64.b64encode(bytes(range(32))).decode(),
    )
    settings.check_production()


def test_live_and_ready_answer_ok_when_everything_is_there(platform: Platform) -> None:
    client = TestClient(create_app(platform=platform))
    assert client.get("/healthz/live").json() == {"status": "ok"}
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok",
                            "checks": {"database": "ok", "content_store": "ok", "master_keys": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


def test_ready_stays_ok_while_another_connection_holds_the_write_lock(platform: Platform) -> None:
    """On SQLite a long write (a deposit, an import batch) holds the database's one write lock: not an outage."""
    import time

    from sqlalchemy import text

    assert platform.engine is not None
    client = TestClient(create_app(platform=platform))
    writer = platform.engine.connect()
    transaction = writer.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock
    try:
        writer.execute(text("UPDATE trace_chain_heads SET last_seq = last_seq WHERE 1 = 0"))
        started = time.monotonic()
        ready = client.get("/healthz/ready")
        assert ready.status_code == 200, ready.json()
        assert time.monotonic() - started < 5  # answered, not after waiting for the lock
    finally:
        transaction.rollback()
        writer.close()


def test_ready_names_a_missing_content_store_and_nothing_else(platform: Platform) -> None:
    import shutil

    from opendsp.content.stores import LocalFolderStore

    client = TestClient(create_app(platform=platform))
    store = platform.blob_store
    assert isinstance(store, LocalFolderStore)
    shutil.rmtree(store.root)  # the volume went away
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable",
                            "checks": {"database": "ok", "content_store": "failed", "master_keys": "ok"}}
    assert str(store.root) not in ready.text
    assert client.get("/healthz/live").status_code == 200  # alive: the orchestrator must not restart it for this


def test_ready_names_an_unreachable_database_without_its_address(platform: Platform) -> None:
    from sqlalchemy import create_engine

    # A server that does not listen: port 9 (discard) on localhost refuses the connection at once.
    dead = "postgresql+psycopg://opendsp:s3cret-password@127.0.0.1:9/nowhere?connect_timeout=2"
    unreachable = Platform(settings=platform.settings, clock=platform.clock, randomness=platform.randomness,
                           engine=create_engine(dead), blob_store=platform.blob_store)
    unreachable.__dict__["keys"] = platform.keys  # the keyring was already opened (it counts sealed records)
    client = TestClient(create_app(platform=unreachable))
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "failed", "content_store": "ok", "master_keys": "ok"}
    assert "s3cret" not in ready.text and "127.0.0.1" not in ready.text


def test_ready_fails_when_the_master_keys_cannot_be_had(platform: Platform) -> None:
    # Keys from the environment, but the variable was lost in the deployment: no key to wrap with.
    settings = platform.settings.model_copy(update={"master_key_source": "env", "master_keys": None})
    keyless = Platform(settings=settings, clock=platform.clock, randomness=platform.randomness,
                       engine=platform.engine, blob_store=platform.blob_store)
    client = TestClient(create_app(platform=keyless))
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "failed"}
    assert "OPENDSP_MASTER_KEYS" not in ready.text
