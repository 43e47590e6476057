"""Scale-out: the schema distributed over a real Citus cluster, and the platform working on it.

Four PostgreSQL clusters of the machine's server binaries are started here with the citus extension
preloaded, on free ports of the loopback interface in a temporary folder: a coordinator, two workers and a
spare one. ``opendsp migrate`` and ``opendsp db distribute`` run against the coordinator as an operator would; then the
platform, on the coordinator only, creates records, deposits documents (a holder's, a laboratory's over
FHIR ITI-65), reads them back, searches (ITI-67), adds a professional to a circle and verifies the trace.
The test then asks Citus and the workers themselves that:

- every table sits where opendsp.distribution.TABLES places it (reference, distributed by record or chain,
  on the coordinator);
- the rows of the tables distributed by record are on the workers' shards, none on the coordinator, and both
  workers hold some;
- one record's rows (the record, its key, its history, its documents, its index) are on one node, in the
  shards the record's id hashes to, read there directly;
- a third worker added later gets shards from the rebalancer, and the same still holds.

Then, in a database of their own on the same nodes, in production shape (docs/adr/0046): the owner and the
application roles of `opendsp db roles`, with the application refused the trace's forbidden statements on every
node; a record's shards moved online, by logical replication, while holders deposit; and a later release's
migration run on the distributed database.

Skipped, saying why, without the server binaries or without the citus extension (Citus is not packaged by
Debian: docs/operations.md, "Distributing with Citus", says where it comes from).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.cli import main
from opendsp.clock import FrozenClock, SystemRandomness
from opendsp.db import make_engine
from opendsp.distribution import TABLES, Kind, distribution_column
from opendsp.documents.models import Document
from opendsp.migrations.citus import DistributionRefused, create_table, distributed
from opendsp.persons.models import Person
from opendsp.records.models import Record
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.clusters import Cluster, free_port, runner_for, server_binaries
from tests.factories import PDF, as_holder, holder_draft, make_record, run_jobs
from tests.fhir.conftest import LAB_REPORT, Fhir, World, fhir, provide_bundle, world  # noqa: F401 - fixtures
from tests.operations.test_failover import Depositor, _wait_for, _wait_until_each_deposits_again, depositing

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("citus")]

DATABASE = "opendsp"
SHARDS = 4  # per distributed table (Citus's default is 32): enough to spread over two workers, quick to create


@dataclass
class Citus:
    coordinator: Cluster
    workers: tuple[Cluster, Cluster]
    spare: Cluster  # a third worker, started but not in the cluster: added by the test, then rebalanced onto

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.coordinator.port}/{database}"

    def sql(self, statement: str) -> str:
        return self.coordinator.sql(statement, DATABASE)

    def rows(self, statement: str) -> list[list[str]]:
        return [line.split("|") for line in self.sql(statement).splitlines() if line]


def _citus_installed(binaries: Path) -> bool:
    version = binaries.parent.name  # /usr/lib/postgresql/<version>/bin
    return (Path("/usr/share/postgresql") / version / "extension" / "citus.control").exists() and (
        binaries.parent / "lib" / "citus.so").exists()


@pytest.fixture(scope="module")
def citus() -> Iterator[Citus]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: Debian's postgresql package "
                    "provides them")
    if not _citus_installed(binaries):
        pytest.skip(f"the citus extension is not installed for {binaries.parent}: Citus is not packaged by Debian "
                    "(docs/operations.md, \"Scale-out\")")
    folder = Path(tempfile.mkdtemp(prefix="opendsp-citus-"))
    runner = runner_for(folder)
    nodes = [Cluster(binaries, folder, free_port(), runner) for _ in range(4)]
    def make(node: Cluster) -> None:
        node.run("initdb", "-D", str(node.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
                 timeout=120)
        # Two-phase commit across nodes needs prepared transactions; an online shard move, logical WAL on every
        # node; fsync stays off on this shared machine.
        node.configure(port=str(node.port), listen_addresses="127.0.0.1", unix_socket_directories=str(folder),
                       shared_preload_libraries="citus", max_prepared_transactions="40", fsync="off",
                       max_connections="80", shared_buffers="16MB", wal_level="logical",
                       **{"citus.shard_count": str(SHARDS)})
        node.start()
        node.sql(f"CREATE DATABASE {DATABASE}")
        node.sql("CREATE EXTENSION citus", DATABASE)

    def stop(node: Cluster) -> None:
        if node.running():
            try:
                node.stop("immediate")
            except AssertionError:
                pass

    try:
        with ThreadPoolExecutor(len(nodes)) as pool:  # four servers made and started side by side
            list(pool.map(make, nodes))
        coordinator, *workers, spare = nodes
        # As docs/operations.md says: the extension on every node, then the nodes named on the coordinator.
        coordinator.sql(f"SELECT citus_set_coordinator_host('127.0.0.1', {coordinator.port})", DATABASE)
        for worker in workers:
            coordinator.sql(f"SELECT citus_add_node('127.0.0.1', {worker.port})", DATABASE)
        yield Citus(coordinator, (workers[0], workers[1]), spare)
    finally:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(stop, nodes))
        shutil.rmtree(folder, ignore_errors=True)


def said(result: Result) -> str:
    """What the command printed, on one line (the error console wraps long lines)."""
    return " ".join(result.output.split())


def opendsp(monkeypatch: pytest.MonkeyPatch, url: str, var: Path, *args: str) -> Result:
    monkeypatch.setenv("OPENDSP_DATABASE_URL", url)
    monkeypatch.setenv("OPENDSP_MIGRATION_DATABASE_URL", url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(var))
    monkeypatch.setenv("OPENDSP_PASSWORD_HASH_PROFILE", "fast")
    return CliRunner().invoke(main, list(args))


def test_distribute_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = opendsp(monkeypatch, f"sqlite:///{tmp_path / 'opendsp.db'}", tmp_path, "db", "distribute")
    assert result.exit_code == 2
    assert "Citus distributes PostgreSQL databases" in said(result)


def test_distribute_refuses_a_cluster_without_nodes_and_a_key_citus_cannot_keep_placing_nothing(
        citus: Citus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    citus.coordinator.sql("CREATE DATABASE lonely")
    url = citus.url("lonely")
    result = opendsp(monkeypatch, url, tmp_path, "db", "distribute")
    assert result.exit_code == 2, result.output
    assert "citus extension created" in said(result)
    assert "no node can hold shards" in said(result)
    assert citus.coordinator.sql("SELECT count(*) FROM pg_extension WHERE extname = 'citus'", "lonely") == "1"

    # A one-node cluster (the coordinator holds the shards), and a unique key on records without the record's id,
    # which Citus cannot enforce across nodes: refused in Citus's words, and the tables placed before it (the
    # reference tables) are not left placed.
    citus.coordinator.sql(f"SELECT citus_set_coordinator_host('127.0.0.1', {citus.coordinator.port})", "lonely")
    citus.coordinator.sql(f"SELECT citus_set_node_property('127.0.0.1', {citus.coordinator.port}, "
                          "'shouldhaveshards', true)", "lonely")
    assert opendsp(monkeypatch, url, tmp_path, "migrate").exit_code == 0
    citus.coordinator.sql("CREATE UNIQUE INDEX records_person_created ON records (person_id, created_at)", "lonely")
    result = opendsp(monkeypatch, url, tmp_path, "db", "distribute")
    assert result.exit_code == 2, result.output
    assert "records: Citus refused create_distributed_table" in said(result)
    assert "Distributed relations cannot have UNIQUE" in said(result)
    assert "nothing was placed" in said(result)
    assert citus.coordinator.sql("SELECT count(*) FROM pg_dist_partition", "lonely") == "0"


@pytest.fixture
def platform(citus: Citus, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """The platform on the coordinator, once `opendsp migrate` and `opendsp db distribute` have run there."""
    migrated = opendsp(monkeypatch, citus.url(), tmp_path / "var", "migrate")
    assert migrated.exit_code == 0, migrated.output
    distributed = opendsp(monkeypatch, citus.url(), tmp_path / "var", "db", "distribute")
    print(distributed.output)
    assert distributed.exit_code == 0, distributed.output
    assert "records: distributed by id, its own colocation group" in distributed.output
    again = opendsp(monkeypatch, citus.url(), tmp_path / "var", "db", "distribute")
    assert again.exit_code == 0, again.output
    assert "nothing to do: every table is placed" in again.output
    platform = Platform(settings=Settings(var_dir=tmp_path / "var", database_url=citus.url(),
                                          password_hash_profile="fast"),
                        clock=clock, randomness=SystemRandomness())
    yield platform
    assert platform.engine is not None
    platform.engine.dispose()


def test_the_platform_runs_on_a_citus_cluster_with_each_record_on_one_node(
        citus: Citus, platform: Platform, world: World, fhir: Fhir, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        tmp_path: Path) -> None:
    # Every table where the product places it.
    placed = {name: (kind, column) for name, kind, column in citus.rows(
        "SELECT table_name::text, citus_table_type, distribution_column FROM citus_tables")}
    for table, placement in TABLES.items():
        if placement.kind is Kind.reference:
            assert placed[table][0] == "reference", table
        elif placement.kind is Kind.platform:
            assert placed[table][0] == "local", table  # on the coordinator, in Citus's metadata
        else:
            assert placed[table] == ("distributed", distribution_column(table)), table
    record_groups = {citus.sql(f"SELECT colocation_id FROM citus_tables WHERE table_name = '{t}'::regclass")
                     for t, p in TABLES.items() if p.kind is Kind.record}
    assert len(record_groups) == 1, "the tables distributed by record are not all colocated with records"

    # Two patients: the holders deposit, a laboratory deposits over FHIR (ITI-65), the GP searches (ITI-67).
    with platform.transaction() as session:
        other = make_record(session, platform)
        other_id = other.id
        deposited = {}
        for record_id in (world.record.id, other_id):
            record = session.get(type(other), record_id)
            assert record is not None
            access = as_holder(session, platform, record)
            for number in range(3):
                content = PDF + f"% {record_id} {number}\n".encode()
                document = access.deposit(record_id, holder_draft(f"Analyses {number}"), [content])
                deposited[document.id] = (record_id, content)
    lab = fhir.token(world.software["lab"], world.biologist)
    gp = fhir.token(world.software["hospital"], world.gp)
    response = fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT))
    assert response.status_code == 200, response.text
    run_jobs(platform)
    found = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", gp)
    assert found.status_code == 200, found.text
    entries = found.json()["entry"]
    lab_reports = [e for e in entries if e["resource"]["type"]["coding"][0]["code"] == LAB_REPORT["code"]]
    assert len(lab_reports) == 1
    url = lab_reports[0]["resource"]["content"][0]["attachment"]["url"]
    assert fhir.get(url, gp, headers={"Accept": "application/pdf"}).content == PDF
    with platform.transaction() as session:
        for document_id, (record_id, content) in deposited.items():
            record = session.get(type(other), record_id)
            assert record is not None
            assert as_holder(session, platform, record).consult(document_id).read() == content
    verified = opendsp(monkeypatch, citus.url(), tmp_path / "var", "trace", "verify")
    assert verified.exit_code == 0, verified.output
    assert "trace intact" in verified.output

    # The policy-version trigger kept on the tables distributed by record runs on the worker's shard and moves
    # its record's version there (the record's row is on the same node). Reference tables have none since
    # migration 0026: the application moves their counters (reference_tables_move_their_counters, below).
    def version() -> int:
        return int(citus.sql(f"SELECT policy_version FROM records WHERE id = '{world.record.id}'"))

    grants = version()
    with platform.transaction() as session:
        record = session.get(type(other), world.record.id)
        assert record is not None
        as_holder(session, platform, record).add_to_circle(record.id, world.outsider.id)
    assert version() > grants
    reference_tables_move_their_counters(citus, platform, world, fhir)

    # The rows of the documents are on the workers' shards, both workers hold some, the coordinator none.
    workers = {str(worker.port) for worker in citus.workers}
    per_node: dict[str, int] = {}
    for port, count in citus.rows(
            "SELECT s.nodeport, r.result FROM run_command_on_shards('documents', $$SELECT count(*) FROM %s$$) r "
            "JOIN citus_shards s USING (shardid)"):
        per_node[port] = per_node.get(port, 0) + int(count)
    assert set(per_node) == workers, per_node
    assert sum(per_node.values()) == int(citus.sql("SELECT count(*) FROM documents")) == len(deposited) + 1
    assert int(citus.sql("SELECT count(*) FROM documents")) > 0

    # One record's rows on one node: the shard of each table that the record's id hashes to, read on its node.
    for record_id in (world.record.id, other_id):
        nodes = set()
        for table in ("records", "record_keys", "record_state_changes", "documents", "search_terms"):
            column = distribution_column(table)
            shard, port = citus.rows(
                f"SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.shardid = "
                f"get_shard_id_for_distribution_column('{table}', '{record_id}')")[0]
            node = next(w for w in citus.workers if str(w.port) == port)
            there = node.sql(f"SELECT count(*) FROM {table}_{shard} WHERE {column} = '{record_id}'", DATABASE)
            everywhere = citus.sql(f"SELECT count(*) FROM {table} WHERE {column} = '{record_id}'")
            assert there == everywhere and int(there) > 0, (table, there, everywhere)
            nodes.add(port)
        assert len(nodes) == 1, f"record {record_id}'s rows are on several nodes: {nodes}"
    # The trace too: every chain's entries on the workers' shards, the coordinator holding none.
    per_node = {}
    for port, count in citus.rows(
            "SELECT s.nodeport, r.result FROM run_command_on_shards('trace_entries', $$SELECT count(*) FROM %s$$) r "
            "JOIN citus_shards s USING (shardid)"):
        per_node[port] = per_node.get(port, 0) + int(count)
    assert set(per_node) <= workers, per_node
    assert sum(per_node.values()) == int(citus.sql("SELECT count(*) FROM trace_entries")) > 0

    # A worker added later gets its share: the rebalancer moves whole shards, each with its colocated shards,
    # and every document still reads back, the record's rows still on one node.
    citus.sql(f"SELECT citus_add_node('127.0.0.1', {citus.spare.port})")
    citus.sql("SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')")
    citus.sql("SELECT citus_rebalance_wait()")
    spare = str(citus.spare.port)
    assert int(citus.sql(f"SELECT count(*) FROM citus_shards WHERE nodeport = {spare} "
                         "AND table_name = 'documents'::regclass")) > 0
    assert {port for port, in citus.rows("SELECT DISTINCT nodeport FROM citus_shards "
                                         "WHERE table_name = 'records'::regclass")} == workers | {spare}
    with platform.transaction() as session:
        for document_id, (record_id, content) in deposited.items():
            record = session.get(type(other), record_id)
            assert record is not None
            assert as_holder(session, platform, record).consult(document_id).read() == content
    for record_id in (world.record.id, other_id):
        assert len({port for port, in citus.rows(
            f"SELECT DISTINCT s.nodeport FROM citus_shards s WHERE s.shardid IN (SELECT "
            f"get_shard_id_for_distribution_column(t, '{record_id}') FROM unnest(ARRAY['records', 'record_keys', "
            f"'record_state_changes', 'documents', 'search_terms']::regclass[]) AS t)")}) == 1


# Production shape: the two roles of docs/operations.md ("Database roles") on a Citus cluster, a shard moved
# online while holders deposit, and a migration run once the tables are distributed. One database of its own on
# the same nodes, so that the test above and these do not see each other's tables.

PRODUCTION = "production"
OWNER, APPLICATION = "dsp_owner", "dsp_app"  # roles are cluster-wide: made once, on every node, by Citus
MANUAL = "SET citus.enable_manual_changes_to_shards = on;"
SCHEMA_OWNER = "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
SHARDS_SHOWN = "SET citus.override_table_visibility = off;"  # Citus hides the shards from pg_class on a worker


def _as(citus: Citus, role: str, database: str = PRODUCTION) -> str:
    return f"postgresql://{role}@127.0.0.1:{citus.coordinator.port}/{database}"


def _psql(node: Cluster, statement: str, role: str, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*node.runner, str(node.binaries / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-h", "127.0.0.1", "-p", str(node.port), "-U", role, "-d", database, "-c", statement],
                          capture_output=True, text=True, timeout=60, check=False)


def _node_sql(node: Cluster, statement: str, role: str = "postgres", database: str = PRODUCTION) -> str:
    done = _psql(node, statement, role, database)
    assert done.returncode == 0, f"{statement} as {role} on {node.port}: {done.stderr}"
    return done.stdout.strip()


def _refused(node: Cluster, statement: str, role: str) -> str:
    """The node's answer to a statement it must refuse, in its own words (the test fails if it ran)."""
    done = _psql(node, statement, role, PRODUCTION)
    assert done.returncode != 0, f"{statement} ran as {role} on {node.port}: {done.stdout}"
    return done.stderr


@dataclass
class Production:
    citus: Citus
    var: Path

    def cli(self, *args: str, migration_role: str = OWNER) -> Result:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OPENDSP_DATABASE_URL", _as(self.citus, APPLICATION))
            patch.setenv("OPENDSP_MIGRATION_DATABASE_URL", _as(self.citus, migration_role))
            patch.setenv("OPENDSP_VAR_DIR", str(self.var))
            patch.setenv("OPENDSP_PASSWORD_HASH_PROFILE", "fast")
            return CliRunner().invoke(main, list(args))

    def platform(self) -> Platform:
        """The platform as the application role, as the server, the worker and the listeners connect."""
        return Platform(settings=Settings(var_dir=self.var, database_url=_as(self.citus, APPLICATION),
                                          password_hash_profile="fast"), randomness=SystemRandomness())


@pytest.fixture(scope="module")
def production(citus: Citus) -> Iterator[Production]:
    """A database made as docs/operations.md says: the extension on every node, the nodes named on the
    coordinator, the roles made by `opendsp db roles` (as postgres), then `opendsp migrate` and
    `opendsp db distribute` as the owner."""
    for node in (citus.coordinator, *citus.workers):
        node.sql(f"CREATE DATABASE {PRODUCTION}")
        node.sql("CREATE EXTENSION citus", PRODUCTION)
    citus.coordinator.sql(f"SELECT citus_set_coordinator_host('127.0.0.1', {citus.coordinator.port})", PRODUCTION)
    for worker in citus.workers:
        citus.coordinator.sql(f"SELECT citus_add_node('127.0.0.1', {worker.port})", PRODUCTION)
    var = Path(tempfile.mkdtemp(prefix="opendsp-citus-var-"))
    production = Production(citus, var)
    try:
        roles = production.cli("db", "roles", "--owner", OWNER, "--application", APPLICATION,
                               migration_role="postgres")
        assert roles.exit_code == 0, roles.output
        migrated = production.cli("migrate")
        assert migrated.exit_code == 0, migrated.output
        assert f"migrated as {OWNER}; {APPLICATION} granted" in said(migrated)
        distributed = production.cli("db", "distribute")
        assert distributed.exit_code == 0, distributed.output
        assert "records: distributed by id, its own colocation group" in distributed.output
        yield production
    finally:
        shutil.rmtree(var, ignore_errors=True)


def _shard_of(citus: Citus, table: str, value: object) -> tuple[str, Cluster]:
    """The shard of a table that holds a value of its distribution column, and the worker that holds the shard."""
    shard, port = _node_sql(citus.coordinator, f"SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.shardid = "
                            f"get_shard_id_for_distribution_column('{table}', '{value}')").split("|")
    return shard, next(w for w in citus.workers if str(w.port) == port)


def test_the_two_roles_on_a_citus_cluster_the_application_cannot_touch_the_trace_on_any_node(
        production: Production) -> None:
    from tests.trace.test_roles import FORBIDDEN

    citus = production.citus
    # Citus made the roles on every node (CREATE ROLE is propagated from the coordinator), and the shards on the
    # workers belong to the owner, not to the application nor to postgres.
    for node in citus.workers:
        roles = _node_sql(node, f"SELECT count(*) FROM pg_roles WHERE rolname IN ('{OWNER}', '{APPLICATION}')")
        assert roles == "2", node.port
        owners = _node_sql(node, f"{SHARDS_SHOWN} SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                                 "WHERE relkind = 'r' AND relname ~ '^(trace_entries|documents|records)_[0-9]+$'")
        assert owners == OWNER, (node.port, owners)
    # A migration after the distribution grants again: Citus sends GRANT ... ON ALL TABLES IN SCHEMA to the shards.
    again = production.cli("migrate")
    assert again.exit_code == 0, again.output

    platform = production.platform()
    try:
        with platform.transaction() as session:
            record = make_record(session, platform)
            record_id = record.id
            contents = {}
            for number in range(3):
                content = PDF + f"% roles {number}\n".encode()
                contents[as_holder(session, platform, record).deposit(
                    record_id, holder_draft(f"Analyses {number}"), [content]).id] = content
        with platform.transaction() as session:
            record = session.get(type(record), record_id)
            assert record is not None
            access = as_holder(session, platform, record)
            for document_id, content in contents.items():
                assert access.consult(document_id).read() == content
            assert session.execute(text("SELECT current_user")).scalar() == APPLICATION
    finally:
        assert platform.engine is not None
        platform.engine.dispose()
    verified = production.cli("trace", "verify")
    assert verified.exit_code == 0 and "trace intact" in verified.output, verified.output

    # The application is refused on the coordinator what "Database roles" says it is refused...
    snapshot = ("SELECT (SELECT count(*) FROM trace_entries), (SELECT max(id) FROM trace_entries), "
                "(SELECT string_agg(chain || last_seq || last_hash, ',' ORDER BY chain) FROM trace_chain_heads)")
    before = _node_sql(citus.coordinator, snapshot)
    for statement in FORBIDDEN:
        answer = _refused(citus.coordinator, statement.format(chain=record_id, forged="f" * 64), APPLICATION)
        assert any(reason in answer for reason in ("permission denied", "must be owner", "append-only",
                                                   "only moves forward")), (statement, answer)
    # ... and on each worker, where it could connect directly: the shell tables Citus keeps there and the shards
    # themselves, whose rights Citus copied from the coordinator's tables. Citus's own guard on shards is a
    # setting any role may switch off, so it is switched off here: the rights alone must refuse.
    for node in citus.workers:
        shards = _node_sql(node, f"{SHARDS_SHOWN} SELECT string_agg(relname, ' ') FROM pg_class WHERE relkind = 'r' "
                                 "AND relname ~ '^(trace_entries|trace_chain_heads)_[0-9]+$'").split()
        assert shards, f"no shard of the trace on {node.port}"
        for table in ("trace_entries", *[s for s in shards if s.startswith("trace_entries_")]):
            for statement in (f"UPDATE {table} SET reason = 'x'", f"DELETE FROM {table}", f"TRUNCATE {table}",
                              f"ALTER TABLE {table} DISABLE TRIGGER ALL", f"DROP TABLE {table}"):
                answer = _refused(node, f"{MANUAL} {statement}", APPLICATION)
                assert "permission denied" in answer or "must be owner" in answer, (node.port, statement, answer)
        for table in ("trace_chain_heads", *[s for s in shards if s.startswith("trace_chain_heads_")]):
            for statement in (f"DELETE FROM {table}", f"ALTER TABLE {table} DISABLE TRIGGER ALL"):
                answer = _refused(node, f"{MANUAL} {statement}", APPLICATION)
                assert "permission denied" in answer or "must be owner" in answer, (node.port, statement, answer)
    # The record's chain head, on the shard and the node that hold it: moved back or onto a forged entry, refused
    # by the trigger Citus made on the shard (the application may move a head forward, so only the trigger stands).
    shard, node = _shard_of(citus, "trace_chain_heads", record_id)
    for change in ("last_seq = last_seq - 1", f"last_hash = '{'f' * 64}'"):
        answer = _refused(node, f"{MANUAL} UPDATE trace_chain_heads_{shard} SET {change} WHERE chain = '{record_id}'",
                          APPLICATION)
        assert "only moves forward" in answer, (change, answer)
    for node in citus.workers:
        assert "permission denied" in _refused(node, "SET session_replication_role = replica", APPLICATION)
    assert _node_sql(citus.coordinator, snapshot) == before  # nothing changed

    # A worker added later: Citus makes the roles there and the shell tables, owned by the owner; the schema is
    # the owner's once `opendsp db roles` has run again, as docs/operations.md says to do after adding a worker.
    citus.spare.sql(f"CREATE DATABASE {PRODUCTION}")
    citus.spare.sql("CREATE EXTENSION citus", PRODUCTION)
    _node_sql(citus.coordinator, f"SELECT citus_add_node('127.0.0.1', {citus.spare.port})")
    assert _node_sql(citus.spare, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'trace_entries'"
                     ) == OWNER
    roles = production.cli("db", "roles", "--owner", OWNER, "--application", APPLICATION, migration_role="postgres")
    assert roles.exit_code == 0, roles.output
    for node in (citus.coordinator, *citus.workers, citus.spare):
        assert _node_sql(node, SCHEMA_OWNER) == OWNER, node.port
        assert "permission denied" in _refused(node, "CREATE TABLE an_own_table (x int)", APPLICATION)
    # Then the reference tables can be copied there (before, "permission denied for schema public" on the new
    # worker); without them, no shard may move anywhere.
    _node_sql(citus.coordinator, "SELECT replicate_reference_tables()")
    assert _node_sql(citus.spare, f"{SHARDS_SHOWN} SELECT count(*) FROM pg_class WHERE relname ~ '^persons_[0-9]+$'"
                     ) == "1"


def test_shards_moved_online_while_holders_deposit_lose_no_acknowledged_deposit(production: Production) -> None:
    """Two holders deposit without pause, as the application role, while a record's shards (its colocation group,
    every table distributed by record) and its chain's shard move to the other worker by logical replication
    (`wal_level = logical`, shard_transfer_mode 'force_logical'): no deposit fails, every acknowledged one reads
    back with its hash from the new node, and the trace is intact."""
    citus = production.citus
    platform = production.platform()
    with platform.transaction() as session:
        owners = [(record.id, record.person_id) for record in (make_record(session, platform) for _ in range(2))]
    moved = owners[0][0]
    depositors = [Depositor(platform, record_id, person_id) for record_id, person_id in owners]

    def acknowledged() -> int:
        return sum(len(d.acknowledged) for d in depositors)

    moves = []
    with depositing(depositors):
        _wait_for(depositors, 4, "before the moves")
        for table in ("records", "trace_entries"):
            shard, source = _shard_of(citus, table, moved)
            target = next(w for w in citus.workers if w is not source)
            before = acknowledged()
            _node_sql(citus.coordinator, f"SELECT citus_move_shard_placement({shard}, '127.0.0.1', {source.port}, "
                                         f"'127.0.0.1', {target.port}, shard_transfer_mode => 'force_logical')")
            moves.append((table, shard, target, acknowledged() - before))
        after = {id(d): len(d.acknowledged) for d in depositors}
        _wait_for(depositors, acknowledged() + 4, "after the moves")
        _wait_until_each_deposits_again(depositors, after, "after the moves")
    assert platform.engine is not None
    platform.engine.dispose()
    print(f"moves (table, shard, deposits acknowledged while it ran): {[(t, s, n) for t, s, _, n in moves]}; "
          f"{acknowledged()} acknowledged in all")
    assert all(d.surprise is None for d in depositors), [repr(d.surprise) for d in depositors if d.surprise]
    assert not [f for d in depositors for f in d.failures], [repr(f) for d in depositors for f in d.failures][:3]
    # The moves happened under writes: deposits were acknowledged while each one ran.
    assert all(during > 0 for *_, during in moves), moves

    # The shards are on the other worker now, and the moved record's rows are there, read on that node directly.
    for table, shard, target, _ in moves:
        assert _node_sql(citus.coordinator, f"SELECT nodeport FROM citus_shards WHERE shardid = {shard}") == str(
            target.port), table
        column = distribution_column(table)
        assert _node_sql(target, f"SELECT count(*) FROM {table}_{shard} WHERE {column} = '{moved}'") == _node_sql(
            citus.coordinator, f"SELECT count(*) FROM {table} WHERE {column} = '{moved}'") != "0"
    shard, target = _shard_of(citus, "documents", moved)
    assert target is moves[0][2]  # the documents moved with their record (one colocation group)
    assert int(_node_sql(target, f"SELECT count(*) FROM documents_{shard} WHERE record_id = '{moved}'")) == len(
        depositors[0].acknowledged)

    # Every acknowledged deposit, read back by a platform of its own: its row, its hash and its content.
    every = {i: h for d in depositors for i, h in d.acknowledged.items()}
    _every_document_reads_back_and_the_trace_is_intact(production, every)
    # Logical replication left nothing behind: no slot on the old nodes, no subscription on the new ones.
    for node in citus.workers:
        assert _node_sql(node, "SELECT count(*) FROM pg_replication_slots") == "0", node.port
        assert _node_sql(node, "SELECT count(*) FROM pg_subscription") == "0", node.port


def _every_document_reads_back_and_the_trace_is_intact(production: Production,
                                                      expected: dict[uuid.UUID, str] | None = None) -> None:
    """Read by a platform of its own: each document (those of ``expected``, which must all be stored with their
    hash, or every one) through its holder, its content hashing to its digest; then `trace verify`."""
    checker = production.platform()
    try:
        with checker.transaction() as session:
            query = select(Document.id, Document.sha256, Record.person_id).join(
                Record, Record.id == Document.record_id)
            if expected is not None:
                query = query.where(Document.id.in_(expected))
            rows = session.execute(query).all()
            if expected is not None:
                stored = {document_id: digest for document_id, digest, _ in rows}
                assert stored == expected, f"{len(set(expected) - set(stored))} acknowledged deposits lost"
            for document_id, digest, person_id in rows:
                access = RecordAccess(session=session, platform=checker,
                                      actor=actors.holder(session.get(Person, person_id)))
                assert hashlib.sha256(access.consult(document_id).read()).hexdigest() == digest
    finally:
        assert checker.engine is not None
        checker.engine.dispose()
    verified = production.cli("trace", "verify")
    assert verified.exit_code == 0 and "trace intact" in verified.output, verified.output


# A migration of a later release, as it would be written (opendsp.migrations.citus.create_table for its new
# table), chained on the head: it changes a distributed table (a column filled for every row, an index) and
# makes a table distributed by record with a key to the documents.
LATER_MIGRATION = '''"""a later release: pages of documents

Revision ID: later
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

from opendsp.migrations.citus import create_table

revision = "later"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("page_count", sa.Integer(), nullable=True))
    op.execute("UPDATE documents SET page_count = 1")
    op.alter_column("documents", "page_count", nullable=False)
    op.create_index("ix_documents_page_count", "documents", ["record_id", "page_count"])
    create_table(
        "document_pages",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "document_id", "number", name="pk_document_pages"),
        sa.ForeignKeyConstraint(["record_id", "document_id"], ["documents.record_id", "documents.id"],
                                name="fk_document_pages_document_id_in_record"),
    )
    op.execute("INSERT INTO document_pages (record_id, document_id, number) SELECT record_id, id, 1 FROM documents")


def downgrade() -> None:
    op.drop_table("document_pages")
    op.drop_index("ix_documents_page_count", table_name="documents")
    op.drop_column("documents", "page_count")
'''


def test_a_migration_after_the_distribution_reaches_every_shard_and_places_its_new_table(
        production: Production, tmp_path: Path) -> None:
    """`opendsp migrate` on the distributed database, as the owner, with a later release's migration: Citus sends
    its DDL to every shard, the UPDATE that fills the new column reaches every row, the new table is distributed
    with the record as it is created, the application is granted it; every document is still there, read back
    with its hash, and `db distribute` then finds every table placed."""
    from alembic import command
    from alembic.script import ScriptDirectory

    import opendsp.distribution
    import opendsp.migrations

    citus = production.citus
    platform = production.platform()
    try:
        with platform.transaction() as session:
            records = [make_record(session, platform) for _ in range(2)]
            for record in records:
                for number in range(2):
                    as_holder(session, platform, record).deposit(record.id, holder_draft(f"Before {number}"),
                                                                 [PDF + f"% later {record.id} {number}\n".encode()])
            record_id, other_id = (record.id for record in records)
        assert platform.engine is not None
        head = ScriptDirectory.from_config(opendsp.migrations.alembic_config(platform.engine)).get_current_head()
    finally:
        assert platform.engine is not None
        platform.engine.dispose()
    documents = "SELECT count(*), md5(string_agg(id::text || sha256, ',' ORDER BY id)) FROM documents"
    before = _node_sql(citus.coordinator, documents)
    assert int(before.split("|")[0]) >= 4

    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "later.py").write_text(LATER_MIGRATION.format(head=head))
    released = opendsp.migrations.alembic_config

    def with_the_later_release(engine):  # type: ignore[no-untyped-def]
        config = released(engine)
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join((str(opendsp.migrations.HERE / "versions"),
                                                                     str(folder))))
        return config

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opendsp.migrations, "alembic_config", with_the_later_release)
        patch.setitem(opendsp.distribution.TABLES, "document_pages",
                      opendsp.distribution.record("a later release's table: a document's pages"))
        migrated = production.cli("migrate")
        assert migrated.exit_code == 0, migrated.output
        assert f"{APPLICATION} granted" in said(migrated)
        assert _node_sql(citus.coordinator, "SELECT version_num FROM alembic_version") == "later"
        again = production.cli("db", "distribute")
        assert again.exit_code == 0, again.output
        assert "document_pages: already distributed by record_id" in again.output
        assert "nothing to do: every table is placed" in again.output

        # The new table is distributed by record, with the records; its shards on the workers.
        assert _node_sql(citus.coordinator, "SELECT citus_table_type, distribution_column FROM citus_tables "
                                            "WHERE table_name = 'document_pages'::regclass") == "distributed|record_id"
        assert _node_sql(citus.coordinator, "SELECT count(DISTINCT colocation_id) FROM citus_tables WHERE "
                                            "table_name IN ('records'::regclass, 'document_pages'::regclass)") == "1"
        # Every shard of documents has the column, filled, and the index; the column is NOT NULL there too.
        for shard, answer in (line.split("|") for line in _node_sql(citus.coordinator, (
                "SELECT shardid, result FROM run_command_on_shards('documents', $$SELECT (SELECT count(*) FROM %1$s "
                "WHERE page_count IS NULL) || ' ' || (SELECT count(*) FROM pg_indexes WHERE indexname LIKE "
                "'ix_documents_page_count%%' AND tablename = '%1$s') || ' ' || (SELECT attnotnull FROM pg_attribute "
                "WHERE attrelid = '%1$s'::regclass AND attname = 'page_count')$$)")).splitlines()):
            assert answer == "0 1 true", (shard, answer)
        # The application writes and reads the new table; a page naming another record's document is refused
        # on the shard by the key.
        other = _node_sql(citus.coordinator, f"SELECT id FROM documents WHERE record_id = '{other_id}' LIMIT 1")
        answer = _refused(citus.coordinator, "INSERT INTO document_pages (record_id, document_id, number) "
                                             f"VALUES ('{record_id}', '{other}', 2)", APPLICATION)
        assert "violates foreign key constraint" in answer, answer
        mine = _node_sql(citus.coordinator, f"SELECT id FROM documents WHERE record_id = '{record_id}' LIMIT 1")
        _node_sql(citus.coordinator, "INSERT INTO document_pages (record_id, document_id, number) "
                                     f"VALUES ('{record_id}', '{mine}', 2)", APPLICATION)
        assert _node_sql(citus.coordinator, f"SELECT count(*) FROM document_pages WHERE record_id = '{record_id}'",
                         APPLICATION) == "3"

        # The data is as it was: every document with its hash, each read back; the trace intact.
        assert _node_sql(citus.coordinator, documents) == before
        assert _node_sql(citus.coordinator, "SELECT count(*) FROM documents") == _node_sql(
            citus.coordinator, "SELECT count(*) FROM document_pages WHERE number = 1")
        _every_document_reads_back_and_the_trace_is_intact(production)

        # A key written on a column cannot be held back until the table is placed: refused, nothing created.
        owner = make_engine(_as(citus, OWNER))
        try:
            with owner.connect() as connection, pytest.raises(DistributionRefused, match="ForeignKeyConstraint"):
                with Operations.context(MigrationContext.configure(connection)):
                    create_table("document_pages_again",
                                 sa.Column("record_id", sa.Uuid(), sa.ForeignKey("records.id"), nullable=False))
        finally:
            owner.dispose()
        assert _node_sql(citus.coordinator, "SELECT to_regclass('document_pages_again') IS NULL") == "t"

        # And back: the later release's downgrade drops the distributed table and the column on every shard.
        owner = make_engine(_as(citus, OWNER))
        try:
            command.downgrade(opendsp.migrations.alembic_config(owner), head)
        finally:
            owner.dispose()
    assert _node_sql(citus.coordinator, "SELECT to_regclass('document_pages') IS NULL") == "t"
    assert _node_sql(citus.coordinator, "SELECT DISTINCT result FROM run_command_on_shards('documents', $$SELECT "
                                        "count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = "
                                        "'page_count'$$)") == "0"
    assert _node_sql(citus.coordinator, documents) == before


def test_create_table_is_alembics_own_where_the_database_is_not_distributed(tmp_path: Path) -> None:
    """On SQLite (and on PostgreSQL before `db distribute`) a migration's new table is made with its keys."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE documents (record_id CHAR(32), id CHAR(32), "
                                    "PRIMARY KEY (record_id, id))"))
            assert not distributed(connection)
            with Operations.context(MigrationContext.configure(connection)):
                create_table("document_pages",
                             sa.Column("record_id", sa.Uuid(), nullable=False),
                             sa.Column("document_id", sa.Uuid(), nullable=False),
                             sa.PrimaryKeyConstraint("record_id", "document_id", name="pk_document_pages"),
                             sa.ForeignKeyConstraint(["record_id", "document_id"],
                                                     ["documents.record_id", "documents.id"],
                                                     name="fk_document_pages_document_id_in_record"))
            keys = sa.inspect(connection).get_foreign_keys("document_pages")
        assert [(k["referred_table"], k["constrained_columns"], k["referred_columns"]) for k in keys] == [
            ("documents", ["record_id", "document_id"], ["record_id", "id"])]
    finally:
        engine.dispose()


def reference_tables_move_their_counters(citus: Citus, platform: Platform, world: World,
                                         fhir: Fhir) -> None:  # noqa: F811
    """A step of the test above, on its distributed database (its fixture distributes once per cluster).

    Accounts, professionals, their organisations, persons and legal representations are reference tables: a
    change of theirs works on the cluster and moves its counter (opendsp.counters, migration 0026), so the next
    request sees it. Before 0026 their triggers failed here: "cannot execute a distributed query from a query on a
    shard"."""
    from sqlalchemy import delete, update

    from opendsp.accounts.models import Account, AccountKind, AccountState
    from opendsp.persons.models import LegalRepresentation, Person
    from opendsp.professionals.models import Professional, membership
    from tests.factories import make_person

    def epoch() -> int:
        return int(citus.sql("SELECT epoch FROM credential_epochs WHERE id = 1"))

    def version() -> int:
        return int(citus.sql(f"SELECT policy_version FROM records WHERE id = '{world.record.id}'"))

    def search(token: str) -> int:
        return int(fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", token).status_code)

    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    assert search(gp) == search(gp) == 200  # the second served from the cache
    assert search(outsider) != 401  # a verified caller, cached too

    # The GP's account, created active then closed: the next request with the GP's token is refused.
    before = epoch()
    with platform.transaction() as session:
        session.add(Account(kind=AccountKind.professional, login=world.gp.licence_number, professional_id=world.gp.id,
                            display_name="Dr Hoffmann", state=AccountState.active, created_at=platform.clock.now()))
        session.flush()
        session.execute(update(Account).where(Account.professional_id == world.gp.id)
                        .values(state=AccountState.closed))
    assert epoch() > before
    assert search(gp) == 401

    # A professional changed, then gone from the organisation: the outsider's token no longer verifies.
    before = epoch()
    with platform.transaction() as session:
        professional = session.get(Professional, world.outsider.id)
        assert professional is not None
        professional.family_name = "Reuter-Schmit"
    assert epoch() > before
    before = epoch()
    with platform.transaction() as session:
        session.execute(delete(membership).where(membership.c.professional_id == world.outsider.id))
    assert epoch() > before
    assert search(outsider) == 401

    # The holder's birth date corrected, then a legal representative added: the record's version moves each time,
    # on the worker that holds the record.
    grants = version()
    with platform.transaction() as session:
        holder = session.get(Person, world.person_id)
        assert holder is not None
        holder.birth_date = holder.birth_date.replace(day=2 if holder.birth_date.day != 2 else 3)
    assert version() > grants
    grants = version()
    with platform.transaction() as session:
        parent = make_person(session, platform, given_name="Paul")
        session.add(LegalRepresentation(minor_id=world.person_id, representative_id=parent.id,
                                        created_at=platform.clock.now()))
    assert version() > grants
