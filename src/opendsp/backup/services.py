"""``opendsp backup`` and ``opendsp restore``, with the standard tools.

A backup is a folder: the database (SQLite's online backup API, or ``pg_dump``
in its custom format), a copy of every sealed blob, and a manifest. It never
holds a master key: the content in it is sealed, and the keyring is kept apart,
so a stolen backup alone opens nothing. The manifest names the master keys it
needs, by id only, and ``restore`` refuses to start without them.

The database is copied first and the blobs second: every document in the copy
committed after its blob was written, so its blob is in the copy too. Blobs
written later are extra, and ``store check`` removes them after the grace.
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
from opendsp.platform import Platform
from opendsp.settings import Settings

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
    parsed = make_url(url)
    environment = dict(os.environ)
    for variable, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                            ("PGPASSWORD", parsed.password), ("PGDATABASE", parsed.database)):
        if value is not None:
            environment[variable] = str(value)
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


def backup(platform: Platform, folder: Path) -> BackupReport:
    """Write a backup of the database and the content into ``folder`` (new or empty); never a key."""
    from opendsp.content.models import RecordKey
    from opendsp.documents.models import Document

    settings = platform.settings
    if folder.exists() and any(folder.iterdir()):
        raise BackupRefused(f"{folder} is not empty: a backup goes into a new folder")
    ring = keyring_path(settings)
    if ring is not None and (_inside(ring, folder) or _inside(folder, ring.parent)):
        raise BackupRefused("the backup folder and the master keyring must be kept apart, never one inside the other")
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
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupReport(folder=folder, database=kind, documents=documents, blobs=blobs, master_keys=master_keys)


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
    return BackupReport(folder=folder, database=kind, documents=documents, blobs=blobs, master_keys=master_keys)
