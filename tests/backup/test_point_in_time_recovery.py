"""Point-in-time recovery on PostgreSQL: a base backup and the archived WAL bring the platform back to an instant.

A cluster of Debian's server binaries archives its WAL into a folder (the other site) with ``archive_command``;
``opendsp migrate`` builds the schema and ``pg_basebackup`` copies the cluster. The platform (its content store a
local folder) then takes deposits; after the first ones, a checkpoint of the trace is written and the instant T is
read from the server's clock. Later deposits follow, and two harmful acts: a document withdrawn and a record
closed, and a second checkpoint (the checkpointer runs every minute in production). The WAL is switched and
archived, and the cluster's data folder removed (the site is lost).

The base backup is restored into a new data folder with ``restore_command`` reading the archive,
``recovery_target_time = T`` and ``recovery_target_action = 'promote'``. The test proves, through the platform
pointed at the restored cluster and the same content folder: exactly the deposits acknowledged before T are
there, each reads back with its hash, the harmful acts are undone, and the checks an operator runs after a
restore (docs/operations.md, "Restoring") say what they should: ``opendsp migrate`` has nothing to do,
``opendsp trace verify`` names, record by record, the acts after T that the second checkpoint signed (as for
an older backup) and passes against the first one, and ``opendsp store check --verify`` finds every document's
content and names the later deposits' blobs, and only them, as orphans.

The target is a time, not a named restore point (``pg_create_restore_point``), because a time is what an
operator has after an accident ("just before 14:05"); nobody names a restore point before a harmful act.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.cli import main
from opendsp.clock import SystemRandomness
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import DocumentStatus, DocumentType
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.settings import Settings
from opendsp.trace.checkpoints import checkpoint_name
from tests.clusters import Cluster, free_port, runner_for, server_binaries
from tests.factories import make_record

pytestmark = [pytest.mark.slow]

BEFORE_T = 4  # deposits acknowledged before the instant recovered to
AFTER_T = 3  # and after it: the recovery must not bring them back
DATABASE = "opendsp"


@dataclass
class Site:
    """The primary's cluster, its base backup and its WAL archive, in one temporary folder."""

    primary: Cluster
    folder: Path

    @property
    def archive(self) -> Path:
        return self.folder / "wal-archive"

    @property
    def base_backup(self) -> Path:
        return self.folder / "base-backup"

    def url(self, cluster: Cluster) -> str:
        return f"postgresql://postgres@127.0.0.1:{cluster.port}/{DATABASE}"


def _as_postgres(site_folder: Path, path: Path) -> None:
    """Hand a folder made by the test to the account the servers run as (when the test runs as root)."""
    if os.geteuid() != 0:
        return
    owner = site_folder.stat()
    for root, folders, files in os.walk(path):
        for name in [root, *(os.path.join(root, f) for f in folders + files)]:
            os.chown(name, owner.st_uid, owner.st_gid)


@pytest.fixture
def site() -> Iterator[Site]:
    binaries = server_binaries()
    if binaries is None or not (binaries / "pg_basebackup").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed: "
                    "Debian's postgresql package provides them")
    folder = Path(tempfile.mkdtemp(prefix="opendsp-pitr-"))
    runner = runner_for(folder)
    primary = Cluster(binaries, folder, free_port(), runner)
    made = Site(primary, folder)
    try:
        made.archive.mkdir()
        _as_postgres(folder, made.archive)
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync", timeout=120)
        # Each finished WAL segment is copied to the archive, never over one already there (the documented
        # form of archive_command). fsync stays off on this shared machine: a server's loss is what is
        # simulated here, not a disk's.
        primary.configure(port=str(primary.port), listen_addresses="127.0.0.1", unix_socket_directories=str(folder),
                          wal_level="replica", archive_mode="on",
                          archive_command=f"test ! -f {made.archive}/%f && cp %p {made.archive}/%f",
                          fsync="off", max_connections="20", shared_buffers="16MB")
        primary.start()
        primary.sql(f"CREATE DATABASE {DATABASE}")
        yield made
    finally:
        for data in folder.glob("data-*"):
            if (data / "postmaster.pid").exists():
                try:
                    primary.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
                except (AssertionError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(folder, ignore_errors=True)


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _deposit(platform: Platform, record_id: uuid.UUID, person_id: uuid.UUID, number: int) -> tuple[Document, str]:
    """One acknowledged deposit by the holder, in its own transaction; its content is unique."""
    content = b"%PDF-1.4\n% point in time " + uuid.uuid4().bytes + b"\n" + b"0123456789" * 50 + b"\n%%EOF\n"
    draft = DocumentDraft(type=DocumentType.personal_document, title=f"Deposit {number}",
                          care_date=date(2025, 3, 1), media_type="application/pdf")
    with platform.transaction() as session:
        holder = session.get(Person, person_id)
        document = RecordAccess(session=session, platform=platform, actor=actors.holder(holder)).deposit(
            record_id, draft, [content])
    return document, hashlib.sha256(content).hexdigest()


def _archived(cluster: Cluster) -> None:
    """Close the current WAL segment and wait until the archive holds it: what came before is at the other site."""
    segment = cluster.sql("SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 30
    while cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < segment:
        assert time.monotonic() < deadline, f"WAL segment {segment} was never archived"
        time.sleep(0.1)


def _entries_cut(report: str) -> dict[uuid.UUID, int]:
    """From ``trace verify``'s report: for each chain whose tail was cut, how many entries are gone."""
    cut: dict[uuid.UUID, int] = {}
    for line in report.splitlines():
        found = re.fullmatch(r"  chain (\S+) at position \d+: its tail was cut: entries (\d+)\.\.(\d+) are gone.*",
                             line)
        assert found or not line.startswith("  "), f"a problem other than a cut tail: {line}"
        if found:
            cut[uuid.UUID(found[1])] = int(found[3]) - int(found[2]) + 1
    return cut


def test_a_base_backup_and_the_archived_wal_recover_the_platform_as_it_was_at_an_instant(
    site: Site, tmp_path: Path
) -> None:
    primary = site.primary
    var = tmp_path / "var"
    env = {"OPENDSP_DATABASE_URL": site.url(primary), "OPENDSP_VAR_DIR": str(var)}
    migrated = run(env, "migrate")
    assert migrated.exit_code == 0, migrated.output
    head = primary.sql("SELECT version_num FROM alembic_version", DATABASE)
    primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                "-D", str(site.base_backup), "-X", "stream", "--no-sync", "-c", "fast", timeout=120)

    platform = Platform(settings=Settings(var_dir=var, database_url=site.url(primary), password_hash_profile="fast"),
                        randomness=SystemRandomness())
    assert platform.engine is not None
    with platform.transaction() as session:
        records = [make_record(session, platform) for _ in range(2)]
        owners = [(record.id, record.person_id) for record in records]
    before: dict[uuid.UUID, str] = {}
    for number in range(BEFORE_T):
        document, digest = _deposit(platform, *owners[number % 2], number)
        before[document.id] = digest
    anchored = run(env, "trace", "checkpoint")
    assert anchored.exit_code == 0 and "checkpoint 1 written" in anchored.output, anchored.output
    instant = primary.sql("SELECT clock_timestamp()")  # T, read from the clock that stamps the commits

    after: dict[uuid.UUID, str] = {}  # deposit id → its blob's key
    for number in range(BEFORE_T, BEFORE_T + AFTER_T):
        document, _ = _deposit(platform, *owners[number % 2], number)
        after[document.id] = document.content_key
    withdrawn = next(iter(before))
    with platform.transaction() as session:
        first, second = (session.get(Record, record_id) for record_id, _ in owners)
        assert first is not None and second is not None
        holder = session.get(Person, first.person_id)
        RecordAccess(session=session, platform=platform, actor=actors.holder(holder)).withdraw(
            withdrawn, reason="deposited by mistake")
        other = session.get(Person, second.person_id)
        RecordAccess(session=session, platform=platform, actor=actors.holder(other)).close(
            second.id, reason="moved abroad")
    # The checkpointer goes on (every minute in production): a checkpoint after T signs what the recovery undoes.
    signed = run(env, "trace", "checkpoint")
    assert signed.exit_code == 0 and "checkpoint 2 written" in signed.output, signed.output
    _archived(primary)
    platform.engine.dispose()
    # The site is lost: the server dies and its data folder with it. What is left: the base backup, the archive.
    primary.stop("immediate")
    shutil.rmtree(primary.data)

    restored = Cluster(primary.binaries, site.folder, free_port(), primary.runner)
    shutil.copytree(site.base_backup, restored.data)
    _as_postgres(site.folder, restored.data)
    restored.configure(port=str(restored.port), archive_mode="off", restore_command=f"cp {site.archive}/%f %p",
                       recovery_target_time=instant, recovery_target_action="promote")
    (restored.data / "recovery.signal").touch()
    _as_postgres(site.folder, restored.data / "recovery.signal")
    restored.start()
    # pg_ctl returns once the server takes read-only connections; the recovery ends with the promotion.
    deadline = time.monotonic() + 30
    while restored.sql("SELECT pg_is_in_recovery()") != "f":
        assert time.monotonic() < deadline, "the recovery never reached its target"
        time.sleep(0.1)
    assert "recovery stopping before commit of transaction" in restored.log.read_text()

    # The checks after a restore, on the restored cluster, with the same folder (content, keys, checkpoint sink).
    target = {**env, "OPENDSP_DATABASE_URL": site.url(restored)}
    again = run(target, "migrate")  # the base backup was taken after the migration: already at the head
    assert again.exit_code == 0, again.output
    assert restored.sql("SELECT version_num FROM alembic_version", DATABASE) == head
    # Checkpoint 2 signed the acts after T: the restored trace is named as cut, record by record, by as many
    # entries as each record had acts after T (one entry per act), as for an older backup; nothing else is named.
    verified = run(target, "trace", "verify")
    assert verified.exit_code == 1 and "checked against checkpoint 2" in verified.output, verified.output
    # Two deposits and the withdrawal in the first record; a deposit and the closing in the second.
    assert _entries_cut(verified.output) == {owners[0][0]: 3, owners[1][0]: 2}, verified.output
    # Against the checkpoint written before T (the sink as it was then), the restored trace is whole.
    then = tmp_path / "sink-at-t"
    then.mkdir()
    shutil.copy(var / "checkpoints" / checkpoint_name(1), then / checkpoint_name(1))
    whole = run({**target, "OPENDSP_CHECKPOINT_SINK": f"file:{then}"}, "trace", "verify")
    assert whole.exit_code == 0 and "trace intact" in whole.output, whole.output
    assert "checked against checkpoint 1 of" in whole.output, whole.output
    checked = run(target, "store", "check", "--verify", "--dry-run", "--grace-minutes", "0")
    assert checked.exit_code == 0, checked.output
    orphans = {line.split("orphan: ", 1)[1] for line in checked.output.splitlines() if "orphan: " in line}
    assert orphans == set(after.values()), checked.output

    copy = Platform(settings=Settings(var_dir=var, database_url=site.url(restored), password_hash_profile="fast"))
    assert copy.engine is not None
    try:
        with copy.transaction() as session:
            assert set(session.scalars(select(Document.id))) == set(before)
            undone = session.get(Document, withdrawn)
            assert undone is not None and undone.status is DocumentStatus.current
            reopened = session.get(Record, owners[1][0])
            assert reopened is not None and reopened.state is RecordState.active and reopened.closed_at is None
            for record_id, person_id in owners:
                holder = session.get(Person, person_id)
                access = RecordAccess(session=session, platform=copy, actor=actors.holder(holder))
                for document in session.scalars(select(Document).where(Document.record_id == record_id)):
                    assert document.sha256 == before[document.id]
                    assert hashlib.sha256(access.consult(document.id).read()).hexdigest() == before[document.id]
    finally:
        copy.engine.dispose()
