"""The backup drill: load an instance, back it up, restore it elsewhere, and prove it whole.

On SQLite (the online backup API) and PostgreSQL (pg_dump / pg_restore into a
new database), through the commands an operator runs.
"""

from __future__ import annotations

import base64
import json
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from cryptography.hazmat.primitives import serialization

from opendsp.cli import main
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.keys import KeyringFileProvider, keyring_path
from opendsp.db import make_engine
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.models import PLATFORM_CHAIN, TraceEntry
from opendsp.trace.service import verify
from opendsp.trace.signing import load_private_key
from tests.conftest import POSTGRES_URL
from tests.factories import as_holder, deposit_pdf, holder_draft, make_record, read_as_holder


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def said(result: Result) -> str:
    """The output on one line (errors are wrapped to the terminal's width)."""
    return " ".join(result.output.split())


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


def target_env(platform: Platform, var_dir: Path, database_url: str, keyring: Path,
               public_key: Path) -> dict[str, str]:
    """The restored instance: its own database, folder and keyring, the instance's one sink, the published key."""
    return env_of(Settings(var_dir=var_dir, database_url=database_url),
                  OPENDSP_MASTER_KEY_SOURCE=f"file:{keyring}",
                  OPENDSP_CHECKPOINT_SINK=platform.settings.checkpoint_sink,
                  OPENDSP_CHECKPOINT_PUBLIC_KEY_FILE=str(public_key))


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

    # The trace anchored outside the database before the backup: the restore is checked against it.
    anchored = run(source, "trace", "checkpoint")
    assert anchored.exit_code == 0 and "checkpoint 1 written" in anchored.output, anchored.output

    folder = tmp_path / "backups" / "monday"
    made = run(source, "backup", str(folder))
    assert made.exit_code == 0, made.output
    assert f"{len(contents)} documents" in made.output and "extends checkpoint 1" in made.output
    # Neither the checkpoints nor their keys travel with the backup: they vouch for it from outside.
    names = {path.name for path in folder.rglob("*")}
    assert not any(name.startswith("checkpoint-") or name.startswith("trace-checkpoint") for name in names)
    private_pem = platform.settings.checkpoint_key_file.read_bytes()  # type: ignore[union-attr]
    public_pem = platform.settings.checkpoint_public_key_file.read_bytes()  # type: ignore[union-attr]
    raw = load_private_key(platform.settings.checkpoint_key_file).private_bytes(  # type: ignore[arg-type]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    private_forms = [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")]
    # Nothing in the backup is a master key, nor opens without one.
    current = keyring.key(keyring.current_key_id)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert current not in data and base64.b64encode(current) not in data
            assert b"record 0 document 0" not in data
            assert private_pem not in data and public_pem not in data
            # The signing key never entered the database, in any encoding.
            assert all(form not in data for form in private_forms)

    target_var = tmp_path / "elsewhere"
    target_keys = tmp_path / "kept-apart" / "master-keys.json"
    target_public_key = tmp_path / "published" / "trace-checkpoint.key.pub"
    target = target_env(platform, target_var, elsewhere, target_keys, target_public_key)
    refused = run(target, "restore", str(folder))
    assert refused.exit_code == 2 and keyring.current_key_id in refused.output
    target_keys.unlink()  # the demo keyring a development start wrote meanwhile
    shutil.copy(keyring_path(platform.settings), target_keys)  # type: ignore[arg-type]
    # The checkpoint public key, from where it is published, not from the backup: without it, no restore.
    refused = run(target, "restore", str(folder))
    assert refused.exit_code == 2 and "checkpoint public key is not in place" in said(refused), refused.output
    target_public_key.parent.mkdir()
    target_public_key.write_bytes(public_pem)
    # Another instance's sink (or an empty one) does not hold the checkpoint the backup follows.
    elsewhere_sink = run({**target, "OPENDSP_CHECKPOINT_SINK": f"file:{tmp_path / 'empty-sink'}"},
                         "restore", str(folder))
    assert elsewhere_sink.exit_code == 2 and "does not hold checkpoint 1" in said(elsewhere_sink)

    restored = run(target, "restore", str(folder))
    assert restored.exit_code == 0, restored.output
    assert "will name the acts" not in restored.output
    assert run(target, "migrate").exit_code == 0  # already at head: nothing to do
    verified = run(target, "trace", "verify")
    assert verified.exit_code == 0 and "trace intact" in verified.output, verified.output
    assert "checked against checkpoint 1 of" in verified.output, verified.output
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
    # Nor inside the checkpoint sink, nor around it: the checkpoints vouch for the backup from outside.
    sink = tmp_path / "around" / "checkpoints"
    for place in (sink / "backup", sink.parent):
        refused = run({**source, "OPENDSP_CHECKPOINT_SINK": f"file:{sink}"}, "backup", str(place))
        assert refused.exit_code == 2 and "the checkpoint sink" in said(refused), refused.output
    assert "not an OpenDSP backup" in " ".join(run(source, "restore", str(tmp_path)).output.split())


def test_restoring_a_backup_older_than_the_latest_checkpoint_names_the_acts_lost_since(
    platform: Platform, elsewhere: str, tmp_path: Path
) -> None:
    source = env_of(platform.settings)
    with platform.transaction() as session:
        kept, grown = make_record(session, platform), make_record(session, platform)
    assert run(source, "trace", "checkpoint").exit_code == 0
    folder = tmp_path / "backups" / "sunday"
    assert run(source, "backup", str(folder)).exit_code == 0
    # After the backup: a deposit in one record, a new record, and the checkpoint that anchors them.
    with platform.transaction() as session:
        deposit_pdf(session, platform, session.merge(grown))
        born = make_record(session, platform)
    assert run(source, "trace", "checkpoint").exit_code == 0

    keyring = tmp_path / "kept-apart" / "master-keys.json"
    keyring.parent.mkdir()
    shutil.copy(keyring_path(platform.settings), keyring)  # type: ignore[arg-type]
    public_key = tmp_path / "published" / "trace-checkpoint.key.pub"
    public_key.parent.mkdir()
    shutil.copy(platform.settings.checkpoint_public_key_file, public_key)  # type: ignore[arg-type]
    target = target_env(platform, tmp_path / "elsewhere", elsewhere, keyring, public_key)

    restored = run(target, "restore", str(folder))
    assert restored.exit_code == 0, restored.output
    assert "follows checkpoint 1 but the sink holds checkpoints up to 2" in said(restored), restored.output
    verified = run(target, "trace", "verify")
    assert verified.exit_code == 1, verified.output
    report = said(verified)
    assert "checked against checkpoint 2" in report
    # The record that grew since the backup: its tail (the deposit) is gone, as checkpoint 2 holds it.
    assert f"chain {grown.id} at position" in report and "its tail was cut" in report, report
    # The record created since: its whole chain is gone, and checkpoint 2 holds it.
    assert f"chain {born.id} at position 2: the whole chain was removed with its head" in report, report
    assert str(kept.id) not in report  # untouched since the backup: nothing lost, nothing said
    # The platform chain went on after the backup with its "backup" entry; the restored one with "restore".
    assert "chain platform at position 1" in report, report
    # The checkpointer signs nothing on that sink: it never blesses a trace that went back.
    signer = {**target, "OPENDSP_CHECKPOINT_KEY_FILE": str(platform.settings.checkpoint_key_file)}
    refused = run(signer, "trace", "checkpoint")
    assert refused.exit_code == 1 and "not signed: since checkpoint 2" in said(refused), refused.output
    # The operator keeps the old sink as evidence and anchors the restored trace in a new one.
    anew = {**signer, "OPENDSP_CHECKPOINT_SINK": f"file:{tmp_path / 'sink-after-restore'}"}
    # Its first checkpoint is a full one, numbered after those the restored database noted (1, from the old sink).
    first = run(anew, "trace", "checkpoint")
    assert first.exit_code == 0 and "checkpoint 2 written" in first.output, first.output
    again = run(anew, "trace", "verify", "--all-checkpoints")
    assert again.exit_code == 0 and "checked against checkpoint 2" in again.output, again.output
    assert run(target, "trace", "verify").exit_code == 1  # the old sink keeps naming the loss
    # Against the checkpoint the backup followed, the restored trace is whole.
    with_first = run({**target, "OPENDSP_CHECKPOINT_SINK": f"file:{_sink_up_to(platform, 1, tmp_path)}"},
                     "trace", "verify")
    assert with_first.exit_code == 0 and "checked against checkpoint 1" in with_first.output, with_first.output


def test_a_restore_says_so_in_the_restored_trace(platform: Platform, elsewhere: str, tmp_path: Path) -> None:
    with platform.transaction() as session:
        deposit_pdf(session, platform, make_record(session, platform))
    folder = tmp_path / "backups" / "tuesday"
    assert run(env_of(platform.settings), "backup", str(folder)).exit_code == 0
    keyring = tmp_path / "kept-apart" / "master-keys.json"
    keyring.parent.mkdir()
    shutil.copy(keyring_path(platform.settings), keyring)  # type: ignore[arg-type]
    target = target_env(platform, tmp_path / "elsewhere", elsewhere, keyring, tmp_path / "published" / "key.pub")

    restored = run(target, "restore", str(folder))

    assert restored.exit_code == 0, restored.output
    copy = Platform(settings=Settings(var_dir=tmp_path / "elsewhere", database_url=elsewhere,
                                      master_key_source=f"file:{keyring}"),
                    clock=FrozenClock(), randomness=SeededRandomness(4))
    try:
        with copy.sessions() as session:
            platform_chain = list(session.scalars(
                select(TraceEntry).where(TraceEntry.chain == PLATFORM_CHAIN).order_by(TraceEntry.id)))
            assert verify(session).intact
    finally:
        assert copy.engine is not None
        copy.engine.dispose()
    # Its last entry is the restore, with what it brought back; the backup's own entry came after the copy.
    assert [e.action for e in platform_chain].count("backup") == 0
    last = platform_chain[-1]
    assert (last.action, last.actor_kind, last.record_id) == ("restore", "system", None)
    assert (last.context["folder"], last.context["documents"], last.context["blobs"]) == (str(folder), 1, 1)
    again = run(target, "restore", str(folder))  # refused (not empty): nothing more written
    assert again.exit_code == 2


def _sink_up_to(platform: Platform, number: int, tmp_path: Path) -> Path:
    """A copy of the sink as it was at checkpoint ``number`` (the state the backup saw)."""
    from opendsp.trace.checkpoints import checkpoint_name

    origin = Path(platform.settings.checkpoint_sink.removeprefix("file:"))
    copy = tmp_path / "sink-then"
    copy.mkdir()
    for n in range(1, number + 1):
        shutil.copy(origin / checkpoint_name(n), copy / checkpoint_name(n))
    return copy


def test_a_backup_is_traced_where_it_was_taken_and_a_refused_one_or_a_refused_restore_writes_nothing(
    platform: Platform, elsewhere: str, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from opendsp.trace.signing import key_id, load_public_key

    source = env_of(platform.settings)
    with platform.transaction() as session:
        deposit_pdf(session, platform, make_record(session, platform))
    assert run(source, "trace", "checkpoint").exit_code == 0
    folder = tmp_path / "backups" / "monday"
    assert run(source, "backup", str(folder)).exit_code == 0

    def platform_chain() -> list[TraceEntry]:
        with platform.sessions() as session:
            return list(session.scalars(
                select(TraceEntry).where(TraceEntry.chain == PLATFORM_CHAIN).order_by(TraceEntry.id)))

    after_backup = platform_chain()
    last = after_backup[-1]
    assert (last.action, last.actor_kind, last.record_id, last.document_id) == ("backup", "system", None, None)
    assert {k: last.context[k] for k in ("folder", "documents", "blobs", "checkpoint")} == {
        "folder": str(folder), "documents": 1, "blobs": 1, "checkpoint": 1}
    manifest = json.loads((folder / "backup.json").read_text())
    assert manifest["master_keys"] == last.context["master_keys"] == [platform.keys.current_key_id]
    assert manifest["documents"] == 1 and manifest["blobs"] == 1 and manifest["revision"]
    assert manifest["checkpoint"]["number"] == 1
    public_key = platform.settings.checkpoint_public_key_file
    assert public_key is not None
    assert manifest["checkpoint"]["key_id"] == key_id(load_public_key(public_key))

    refused = run(source, "backup", str(folder))  # not empty
    assert refused.exit_code == 2
    assert len(platform_chain()) == len(after_backup)

    # A restore checked with another instance's published key is refused, and writes nothing.
    keyring = tmp_path / "kept-apart" / "master-keys.json"
    keyring.parent.mkdir()
    shutil.copy(keyring_path(platform.settings), keyring)  # type: ignore[arg-type]
    other_key = tmp_path / "published" / "other.key.pub"
    other_key.parent.mkdir()
    other_key.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    target = target_env(platform, tmp_path / "elsewhere", elsewhere, keyring, other_key)
    wrong_key = run(target, "restore", str(folder))
    assert wrong_key.exit_code == 2 and "is not the key that signed checkpoint 1" in said(wrong_key), wrong_key.output
    assert not any(path.is_file() for path in (tmp_path / "elsewhere" / "content").rglob("*"))
    copy = make_engine(elsewhere)
    try:
        with copy.connect() as connection:
            assert "alembic_version" not in _tables(connection)
    finally:
        copy.dispose()

    # A backup of the other kind of database is refused before anything is read or written.
    other_kind = (f"sqlite:///{tmp_path / 'other-kind' / 'opendsp.db'}" if elsewhere.startswith("postgresql")
                  else f"postgresql://postgres@127.0.0.1:1/never_{uuid.uuid4().hex[:8]}")
    shutil.copy(platform.settings.checkpoint_public_key_file, other_key)  # type: ignore[arg-type]
    kind = run({**target, "OPENDSP_DATABASE_URL": other_kind}, "restore", str(folder))
    assert kind.exit_code == 2 and "this is a backup of a" in said(kind), kind.output


def _tables(connection) -> set[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    return set(inspect(connection).get_table_names())
