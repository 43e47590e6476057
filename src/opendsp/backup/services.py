"""``opendsp backup`` and ``opendsp restore``, with the standard tools.

A backup is a folder: the database (SQLite's online backup API, or ``pg_dump``
in its custom format), a copy of every sealed blob, and a manifest. It never
holds a master key: the content in it is sealed, and the keyring is kept apart,
so a stolen backup alone opens nothing. The manifest names the master keys it
needs, by id only, and ``restore`` refuses to start without them.

The database is copied first and the blobs second: every document in the copy
committed after its blob was written, so its blob is in the copy too. Blobs
written later are extra, and ``store check`` removes them after the grace.

The trace's checkpoints are not in it either, nor their keys. The sink is what
vouches for the trace from outside the database: a copy of it beside the copy
of the database would vouch for nothing, and a restore keeps using the one
sink (an older backup then shows, against it, the acts lost since). The
manifest names the latest checkpoint the backup follows and the fingerprint
of the key that signed it, and ``restore`` refuses a sink without that
checkpoint or a public key that is not that one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from opendsp import __version__
from opendsp.content.keys import MasterKeyError, key_provider_from_settings, keyring_path
from opendsp.content.stores import BlobStore
from opendsp.db import libpq_hosts
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.checkpointer import checkpoint_log
from opendsp.trace.checkpoints import CheckpointInvalid, checkpoint_name
from opendsp.trace.signing import SigningKeyError, key_id
from opendsp.trace.sinks import sink_from_settings

MANIFEST = "backup.json"
SQLITE_FILE = "opendsp.db"
POSTGRES_FILE = "database.dump"
CONTENT_FOLDER = "content"
FORMAT = 1


class BackupRefused(Exception):
    """The backup or the restore cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    database: str
    documents: int
    blobs: int
    master_keys: list[str]
    # The latest checkpoint the backup's trace extends (None: none written yet), and for a restore the latest
    # the sink holds now: when it is newer, `trace verify` names the acts the backup does not hold.
    checkpoint: int | None = None
    latest_checkpoint: int | None = None


# -- the database ---------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupRefused("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while the platform keeps writing."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def _libpq_environment(url: str) -> dict[str, str]:
    """Where the PostgreSQL tools connect, passed by environment so that no password shows in a process list."""
    parsed = make_url(libpq_hosts(url))
    environment = dict(os.environ)
    for variable, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                            ("PGPASSWORD", parsed.password), ("PGDATABASE", parsed.database)):
        if value is not None:
            environment[variable] = str(value)
    hosts = parsed.query.get("host")  # several servers (libpq_hosts): the tools take them as lists, as libpq does
    if hosts:
        listed = [hosts] if isinstance(hosts, str) else list(hosts)
        environment["PGHOST"] = ",".join(host.rsplit(":", 1)[0] if ":" in host else host for host in listed)
        environment["PGPORT"] = ",".join(host.rsplit(":", 1)[1] if ":" in host else "5432" for host in listed)
    attributes = parsed.query.get("target_session_attrs")
    if isinstance(attributes, str):
        environment["PGTARGETSESSIONATTRS"] = attributes
    options = parsed.query.get("options")
    if options:
        environment["PGOPTIONS"] = options if isinstance(options, str) else " ".join(options)
    return environment


def _schema(url: str) -> str | None:
    """The schema named by a ``search_path`` option (the test suite's), else the whole database."""
    options = make_url(url).query.get("options")
    if isinstance(options, str) and options.startswith("-csearch_path="):
        return options.removeprefix("-csearch_path=").split(",")[0]
    return None


def _run(command: list[str], environment: dict[str, str]) -> None:
    try:
        finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupRefused(f"{command[0]} is not installed (Debian: apt-get install postgresql-client)") from None
    if finished.returncode != 0:
        raise BackupRefused(f"{command[0]} failed: {finished.stderr.strip()}")


def _dump_postgres(url: str, target: Path) -> None:
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    if schema := _schema(url):
        command.append(f"--schema={schema}")
    _run(command, _libpq_environment(url))


def _restore_postgres(url: str, source: Path) -> None:
    environment = _libpq_environment(url)
    # The dump creates its own schema; PGOPTIONS' search_path would only hide it while restoring.
    environment.pop("PGOPTIONS", None)
    _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
          f"--dbname={environment['PGDATABASE']}", str(source)], environment)


# -- the content ------------------------------------------------------------------------------


def _content_files(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path


def _copy_out(blobs: BlobStore, folder: Path) -> int:
    copied = 0
    for blob in blobs.list("records/"):
        if blob.key.rsplit("/", 1)[-1].startswith(".partial-"):
            continue
        target = folder / blob.key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            for chunk in blobs.open(blob.key):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        copied += 1
    return copied


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


# -- backup -------------------------------------------------------------------------------------


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _kept_apart(settings: Settings) -> list[tuple[str, Path]]:
    """What a backup must never hold nor sit in: the keys, and the checkpoints that vouch for the trace."""
    apart: list[tuple[str, Path]] = []
    if (ring := keyring_path(settings)) is not None:
        apart.append(("the master keyring", ring.parent))
    for name, path in (("the checkpoint signing key", settings.checkpoint_key_file),
                       ("the checkpoint public key", settings.checkpoint_public_key_file)):
        if path is not None:
            apart.append((name, path.parent))
    if settings.checkpoint_sink.startswith("file:"):
        apart.append(("the checkpoint sink", Path(settings.checkpoint_sink.removeprefix("file:"))))
    return apart


def _latest_checkpoint(platform: Platform) -> dict[str, object] | None:
    """The latest checkpoint, read and checked before the database is copied, so the copy extends it."""
    sink = sink_from_settings(platform.settings, platform.clock)
    if not sink.names():
        return None
    try:
        log = checkpoint_log(platform.settings, platform.clock)
        state = log.state()
    except (SigningKeyError, CheckpointInvalid) as error:
        raise BackupRefused(f"the trace's checkpoints cannot be read: {error}") from None
    if state is None:
        return None
    return {"number": state.number, "made_at": state.checkpoint.made_at, "key_id": key_id(log.public_key),
            "sink": sink.describe()}


def backup(platform: Platform, folder: Path) -> BackupReport:
    """Write a backup of the database and the content into ``folder`` (new or empty); never a key."""
    from opendsp.content.models import RecordKey
    from opendsp.documents.models import Document

    settings = platform.settings
    if folder.exists() and any(folder.iterdir()):
        raise BackupRefused(f"{folder} is not empty: a backup goes into a new folder")
    for name, place in _kept_apart(settings):
        if _inside(place, folder) or _inside(folder, place):
            raise BackupRefused(f"the backup folder and {name} ({place}) must be kept apart, "
                                "never one inside the other")
    checkpoint = _latest_checkpoint(platform)
    folder.mkdir(parents=True, exist_ok=True)
    kind = settings.database_kind
    with platform.sessions() as session:
        documents = session.scalar(select(func.count()).select_from(Document)) or 0
        revision = session.scalar(text("SELECT version_num FROM alembic_version"))
        master_keys = sorted(set(session.scalars(
            select(RecordKey.master_key_id).where(RecordKey.master_key_id.is_not(None)))))
    if kind == "sqlite":
        _sqlite_copy(_sqlite_path(settings.database_url), folder / SQLITE_FILE)
    elif kind == "postgresql":
        _dump_postgres(settings.database_url, folder / POSTGRES_FILE)
    else:
        raise BackupRefused(f"no backup for a {kind} database")
    assert platform.blob_store is not None
    blobs = _copy_out(platform.blob_store, folder / CONTENT_FOLDER)
    manifest = {
        "format": FORMAT, "opendsp": __version__, "created_at": platform.clock.now().isoformat(),
        "database": kind, "revision": revision, "documents": documents, "blobs": blobs,
        # Ids only: the keys themselves are restored from where the keyring is kept.
        "master_keys": master_keys,
        # Which checkpoint the trace in this backup extends, and the fingerprint of the key that signed it:
        # the checkpoints themselves stay in their sink, and the public key where it is published.
        "checkpoint": checkpoint,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupReport(folder=folder, database=kind, documents=documents, blobs=blobs, master_keys=master_keys,
                        checkpoint=int(checkpoint["number"]) if checkpoint else None)  # type: ignore[call-overload]


# -- restore ------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, object]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupRefused(f"{folder} is not an OpenDSP backup ({MANIFEST}: {error})") from None
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"{folder} is a backup of format {manifest.get('format')}, this version reads {FORMAT}")
    return manifest


def _target_is_empty(platform: Platform) -> None:
    assert platform.engine is not None and platform.blob_store is not None
    if inspect(platform.engine).get_table_names():
        raise BackupRefused("the target database is not empty: restore into a new database")
    if next(iter(platform.blob_store.list("records/")), None) is not None:
        raise BackupRefused("the target content store is not empty: restore into a new folder or bucket")


def _keys_present(settings: Settings, needed: list[str]) -> None:
    try:
        held = set(key_provider_from_settings(settings).key_ids())
    except MasterKeyError as error:
        raise BackupRefused(f"the master keyring is not in place: {error}") from None
    missing = sorted(set(needed) - held)
    if missing:
        raise BackupRefused(
            f"the master keyring does not hold {', '.join(missing)}: put the keyring kept apart from the "
            "backups in place (OPENDSP_MASTER_KEY_SOURCE) before restoring"
        )


def _checkpoints_in_place(platform: Platform, expected: dict[str, object] | None) -> int | None:
    """The sink the backup's trace was checkpointed in, and its public key, are in place; the latest number there."""
    if not expected:
        return None
    settings = platform.settings
    sink = sink_from_settings(settings, platform.clock)
    number = int(expected["number"])  # type: ignore[call-overload]
    if checkpoint_name(number) not in sink.names(after=checkpoint_name(number - 1)):
        raise BackupRefused(
            f"the checkpoint sink {sink.describe()} does not hold checkpoint {number}, which the backup follows: "
            "point OPENDSP_CHECKPOINT_SINK at the instance's sink (it is never in a backup)"
        )
    try:
        log = checkpoint_log(settings, platform.clock)
    except SigningKeyError as error:
        raise BackupRefused(f"the checkpoint public key is not in place: {error}; put the published key "
                            "(kept apart from the backups) there before restoring") from None
    if key_id(log.public_key) != expected.get("key_id"):
        raise BackupRefused(f"the checkpoint public key {settings.checkpoint_public_key_file} is not the key that "
                            f"signed checkpoint {number} (fingerprint {expected.get('key_id')})")
    try:
        state = log.state()
    except CheckpointInvalid as error:
        raise BackupRefused(f"the checkpoints in {sink.describe()} cannot be trusted: {error}") from None
    return state.number if state else None


def restore(platform: Platform, folder: Path) -> BackupReport:
    """Restore a backup into the (new, empty) database and content store the settings name."""
    from opendsp.documents.models import Document

    settings = platform.settings
    manifest = read_manifest(folder)
    kind = settings.database_kind
    if manifest["database"] != kind:
        raise BackupRefused(f"this is a backup of a {manifest['database']} database, the target is {kind}")
    _target_is_empty(platform)
    master_keys = [str(key) for key in manifest.get("master_keys", [])]  # type: ignore[union-attr]
    _keys_present(settings, master_keys)
    checkpoint = manifest.get("checkpoint")
    latest = _checkpoints_in_place(platform, checkpoint if isinstance(checkpoint, dict) else None)
    assert platform.engine is not None and platform.blob_store is not None
    platform.engine.dispose()
    if kind == "sqlite":
        _sqlite_copy(folder / SQLITE_FILE, _sqlite_path(settings.database_url))
    else:
        _restore_postgres(settings.database_url, folder / POSTGRES_FILE)
    blobs = 0
    for key, path in _content_files(folder / CONTENT_FOLDER):
        platform.blob_store.put(key, _read_chunks(path))
        blobs += 1
    with platform.sessions() as session:
        documents = session.scalar(select(func.count()).select_from(Document)) or 0
    return BackupReport(folder=folder, database=kind, documents=documents, blobs=blobs, master_keys=master_keys,
                        checkpoint=int(checkpoint["number"]) if isinstance(checkpoint, dict) else None,
                        latest_checkpoint=latest)
