"""The backup drill: load an instance, back it up, restore it elsewhere, and prove it whole.

On SQLite (the online backup API) and PostgreSQL (pg_dump / pg_restore into a
new database), through the commands an operator runs.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from opendsp.cli import main
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.keys import KeyringFileProvider, keyring_path
from opendsp.db import make_engine
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.factories import as_holder, deposit_pdf, holder_draft, make_record, read_as_holder


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def env_of(settings: Settings, **more: str) -> dict[str, str]:
    return {"OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir), **more}


@pytest.fixture
def elsewhere(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database to restore into: a new SQLite file, or a new PostgreSQL database."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'elsewhere' / 'opendsp.db'}"
        return
    assert POSTGRES_URL
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    source = make_url(database_url)
    yield source.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _load(platform: Platform) -> dict[uuid.UUID, bytes]:
    contents: dict[uuid.UUID, bytes] = {}
    with platform.transaction() as session:
        for n in range(3):
            record = make_record(session, platform)
            for m in range(2):
                content = f"%PDF-1.4 record {n} document {m} ".encode() * 50
                contents[deposit_pdf(session, platform, record, content=content).id] = content
            bundle = b'{"resourceType": "Bundle", "type": "collection", "entry": []}'
            fhir = as_holder(session, platform, record).deposit(
                record.id, holder_draft("Data", media_type=FHIR_MEDIA_TYPE), [bundle])
            contents[fhir.id] = bundle
        as_holder(session, platform, record).close(record.id, reason="moved abroad")
    return contents


def test_backup_and_restore_elsewhere_reads_every_document_back(
    platform: Platform, elsewhere: str, tmp_path: Path
) -> None:
    contents = _load(platform)
    source = env_of(platform.settings)
    # A random key of the instance's own, not the demo key, so that the keyring truly matters.
    assert run(source, "keys", "rotate").exit_code == 0
    keyring = KeyringFileProvider(keyring_path(platform.settings), create_demo=False)  # type: ignore[arg-type]

    folder = tmp_path / "backups" / "monday"
    made = run(source, "backup", str(folder))
    assert made.exit_code == 0, made.output
    assert f"{len(contents)} documents" in made.output
    # Nothing in the backup is a master key, nor opens without one.
    current = keyring.key(keyring.current_key_id)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert current not in data and base64.b64encode(current) not in data
            assert b"record 0 document 0" not in data

    target_var = tmp_path / "elsewhere"
    target_keys = tmp_path / "kept-apart" / "master-keys.json"
    target = env_of(Settings(var_dir=target_var, database_url=elsewhere),
                    OPENDSP_MASTER_KEY_SOURCE=f"file:{target_keys}")
    refused = run(target, "restore", str(folder))
    assert refused.exit_code == 2 and keyring.current_key_id in refused.output
    target_keys.unlink()  # the demo keyring a development start wrote meanwhile
    shutil.copy(keyring_path(platform.settings), target_keys)  # type: ignore[arg-type]

    restored = run(target, "restore", str(folder))
    assert restored.exit_code == 0, restored.output
    assert run(target, "migrate").exit_code == 0  # already at head: nothing to do
    verified = run(target, "trace", "verify")
    assert verified.exit_code == 0 and "trace intact" in verified.output, verified.output
    checked = run(target, "store", "check", "--verify")
    assert checked.exit_code == 0, checked.output

    settings = Settings(var_dir=target_var, database_url=elsewhere, master_key_source=f"file:{target_keys}")
    copy = Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(3))
    try:
        with copy.sessions() as session:
            documents = list(session.scalars(select(Document)))
            assert {d.id for d in documents} == set(contents)
            for document in documents:
                read = read_as_holder(session, copy, document)
                assert read == contents[document.id]
                assert hashlib.sha256(read).hexdigest() == document.sha256
        again = run(target, "restore", str(folder))
        assert again.exit_code == 2 and "not empty" in again.output
    finally:
        assert copy.engine is not None
        copy.engine.dispose()


def test_a_backup_never_goes_into_a_folder_in_use_or_next_to_the_keys(platform: Platform, tmp_path: Path) -> None:
    source = env_of(platform.settings)
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    assert "not empty" in run(source, "backup", str(used)).output
    keys_folder = keyring_path(platform.settings)
    platform.keys  # noqa: B018 - writes the development keyring
    assert keys_folder is not None
    beside_keys = run(source, "backup", str(keys_folder.parent / "backup"))
    assert beside_keys.exit_code == 2 and "kept apart" in beside_keys.output
    assert "not an OpenDSP backup" in " ".join(run(source, "restore", str(tmp_path)).output.split())
