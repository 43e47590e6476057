"""High availability: a primary and a synchronous hot standby, the primary lost while deposits run.

Two PostgreSQL clusters of Debian's server binaries are started here, on free ports of the loopback
interface, in a temporary folder: the primary, and a standby made with ``pg_basebackup -R`` that streams
its WAL and is named in ``synchronous_standby_names``. Threads deposit documents through the real path
(``RecordAccess.deposit`` in ``Platform.transaction``) on a libpq multi-host URL with
``target_session_attrs=read-write``. Half-way, the primary is stopped in immediate mode (a crash: no
shutdown checkpoint, its clients cut) and the standby promoted. The test then proves that:

- the same platform, untouched, deposits again on the new primary (the pool's pre-ping and libpq's host list);
- every deposit that was acknowledged (its transaction committed and returned) is on the new primary, and its
  content reads back with the hash it was deposited with;
- the trace verifies (``opendsp trace verify``'s chain check), in-flight transactions included.

What "acknowledged" means rests on synchronous replication: with an asynchronous standby the same test
loses the last commits (docs/operations.md, "High availability").
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.clock import SystemRandomness
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import DocumentType
from opendsp.migrations import upgrade
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.service import verify
# Under their former names here too: tests/operations/test_citus.py imports them from this module.
from tests.clusters import Cluster, free_port, runner_for, server_binaries
from tests.factories import make_record

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("failover")]

DEPOSITORS = 3
BEFORE_FAILOVER = 8  # acknowledged deposits before the primary is lost
AFTER_FAILOVER = 8  # and after the standby is promoted, on the same platform
PATIENCE = 60.0  # seconds for each phase; the whole test stays well under two minutes


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster
    database: str = "opendsp"

    @property
    def url(self) -> str:
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/"
                f"{self.database}?target_session_attrs=read-write")

    def only(self, cluster: Cluster) -> str:
        return f"postgresql://postgres@127.0.0.1:{cluster.port}/{self.database}"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    binaries = server_binaries()
    if binaries is None or not (binaries / "pg_basebackup").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed: "
                    "Debian's postgresql package provides them")
    folder = Path(tempfile.mkdtemp(prefix="opendsp-failover-"))
    runner = runner_for(folder)
    primary = Cluster(binaries, folder, free_port(), runner)
    standby = Cluster(binaries, folder, free_port(), runner)
    try:
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync", timeout=120)
        # WAL for a streaming standby, and commits that wait until the standby has flushed them: without
        # synchronous_standby_names, an acknowledged commit may be only on the primary when it is lost.
        # fsync stays off on this shared test machine: what is proved is what the replication protocol
        # guarantees (a crash of the primary's server, not of its disk).
        primary.configure(port=str(primary.port), listen_addresses="127.0.0.1", unix_socket_directories=str(folder),
                          wal_level="replica", max_wal_senders="4", hot_standby="on", fsync="off",
                          synchronous_commit="on", max_connections="40", shared_buffers="16MB")
        primary.start()
        primary.sql(f"CREATE DATABASE {Pair.database}")
        primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(standby.data), "-R", "-X", "stream", "--no-sync", "-c", "fast", timeout=120)
        # The standby names itself as the synchronous one; promoted, it must not wait for a standby of its own.
        standby.configure(port=str(standby.port), synchronous_standby_names="",
                          primary_conninfo=f"host=127.0.0.1 port={primary.port} user=postgres "
                                           "application_name=standby")
        standby.start()
        primary.sql("ALTER SYSTEM SET synchronous_standby_names = 'standby'")
        primary.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 60
        while primary.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'") != "sync":
            assert time.monotonic() < deadline, "the standby never became synchronous"
            time.sleep(0.2)
        yield Pair(primary, standby)
    finally:
        for cluster in (standby, primary):
            if cluster.running():
                try:
                    cluster.stop("immediate")
                except (AssertionError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Depositor:
    """A thread that deposits documents into one record, one transaction each, and keeps what was acknowledged."""

    platform: Platform
    record_id: uuid.UUID
    person_id: uuid.UUID
    acknowledged: dict[uuid.UUID, str] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    surprise: BaseException | None = None

    def run(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            content = b"%PDF-1.4\n% failover " + uuid.uuid4().bytes + b"\n" + b"0123456789" * 50 + b"\n%%EOF\n"
            draft = DocumentDraft(type=DocumentType.personal_document, title=f"Deposit {number}",
                                  care_date=date(2025, 3, 1), media_type="application/pdf")
            try:
                with self.platform.transaction() as session:
                    holder = session.get(Person, self.person_id)
                    access = RecordAccess(session=session, platform=self.platform, actor=actors.holder(holder))
                    document = access.deposit(self.record_id, draft, [content])
                    document_id = document.id
            except DBAPIError as error:
                # The database went away before or during this transaction: it is not acknowledged, and the
                # service's caller is told so. The next transaction must find the new primary by itself.
                self.failures.append(error)
                time.sleep(0.05)
                continue
            except BaseException as error:  # anything else is a bug: stop and report it
                self.surprise = error
                return
            self.acknowledged[document_id] = hashlib.sha256(content).hexdigest()


def _wait_for(depositors: list[Depositor], count: int, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while sum(len(d.acknowledged) for d in depositors) < count:
        surprises = [d.surprise for d in depositors if d.surprise is not None]
        assert not surprises, f"a deposit failed with an unexpected error: {surprises[0]!r}"
        assert time.monotonic() < deadline, (
            f"{what}: only {sum(len(d.acknowledged) for d in depositors)} of {count} deposits acknowledged; "
            f"last failures {[repr(f) for d in depositors for f in d.failures[-1:]]}")
        time.sleep(0.05)


@contextmanager
def depositing(depositors: list[Depositor]) -> Iterator[list[threading.Thread]]:
    """Each depositor depositing in a thread of its own until the block ends; its threads, stopped and joined."""
    threads = [threading.Thread(target=d.run, name=f"depositor-{i}", daemon=True) for i, d in enumerate(depositors)]
    for thread in threads:
        thread.start()
    try:
        yield threads
    finally:
        for depositor in depositors:
            depositor.stop.set()
        for thread in threads:
            thread.join(timeout=30)


def _wait_until_each_deposits_again(depositors: list[Depositor], since: dict[int, int], what: str) -> None:
    """Every depositor, not just one, has an acknowledged deposit past its count in ``since`` (keyed by id())."""
    deadline = time.monotonic() + PATIENCE
    while any(len(d.acknowledged) <= since[id(d)] for d in depositors):
        assert time.monotonic() < deadline, f"a depositor never deposited again {what}"
        time.sleep(0.05)


def test_promoting_the_synchronous_standby_loses_no_acknowledged_deposit(pair: Pair, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=pair.url, password_hash_profile="fast")
    platform = Platform(settings=settings, randomness=SystemRandomness())
    assert platform.engine is not None
    upgrade(platform.engine)
    with platform.transaction() as session:
        records = [make_record(session, platform) for _ in range(DEPOSITORS)]
        owners = [(record.id, record.person_id) for record in records]
    depositors = [Depositor(platform, record_id, person_id) for record_id, person_id in owners]
    with depositing(depositors) as threads:
        _wait_for(depositors, BEFORE_FAILOVER, "before the failover")
        pair.primary.stop("immediate")  # the primary's server dies; its clients' connections are cut
        acknowledged_before = sum(len(d.acknowledged) for d in depositors)
        pair.standby.run("pg_ctl", "-D", str(pair.standby.data), "-w", "promote")
        promoted_at = {id(d): len(d.acknowledged) for d in depositors}
        _wait_for(depositors, acknowledged_before + AFTER_FAILOVER, "after the promotion")
        # Every depositor came back on the new primary without being told where it is.
        _wait_until_each_deposits_again(depositors, promoted_at, "after the promotion")
    acknowledged_after = sum(len(d.acknowledged) for d in depositors)
    print(f"acknowledged: {acknowledged_before} before the failover, {acknowledged_after - acknowledged_before} after; "
          f"{sum(len(d.failures) for d in depositors)} transactions cut")
    assert all(d.surprise is None for d in depositors), [repr(d.surprise) for d in depositors if d.surprise]
    assert not any(thread.is_alive() for thread in threads)
    # Some transactions were cut by the failover and told so (else the test did not fail anything over).
    assert any(d.failures for d in depositors), "no deposit saw the primary go: the failover happened between them"
    platform.engine.dispose()

    # Checked on the new primary alone, by a platform of its own (the one that wrote could hide nothing in a cache).
    assert pair.standby.sql("SELECT pg_is_in_recovery()", pair.database) == "f"
    checker = Platform(settings=Settings(var_dir=tmp_path / "var", database_url=pair.only(pair.standby),
                                         password_hash_profile="fast"))
    acknowledged = {document_id: digest for d in depositors for document_id, digest in d.acknowledged.items()}
    assert len(acknowledged) >= BEFORE_FAILOVER + AFTER_FAILOVER
    with checker.transaction() as session:
        stored = dict(session.execute(select(Document.id, Document.sha256).where(Document.id.in_(acknowledged))).all())
        missing = set(acknowledged) - set(stored)
        assert not missing, f"{len(missing)} acknowledged deposits lost on failover"
        for depositor in depositors:
            holder = session.get(Person, depositor.person_id)
            access = RecordAccess(session=session, platform=checker, actor=actors.holder(holder))
            for document_id, digest in depositor.acknowledged.items():
                assert stored[document_id] == digest
                assert hashlib.sha256(access.consult(document_id).read()).hexdigest() == digest
    with checker.sessions() as session:
        report = verify(session)
        record_chains = session.execute(text("SELECT count(*) FROM records")).scalar_one()
    assert report.intact, report.breaks
    assert report.chains >= record_chains and report.entries >= len(acknowledged)
    assert checker.engine is not None
    checker.engine.dispose()
