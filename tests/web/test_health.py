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
