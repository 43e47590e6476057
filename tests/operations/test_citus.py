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

Skipped, saying why, without the server binaries or without the citus extension (Citus is not packaged by
Debian: docs/operations.md, "Distributing with Citus", says where it comes from).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opendsp.cli import main
from opendsp.clock import FrozenClock, SystemRandomness
from opendsp.distribution import TABLES, Kind, distribution_column
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.factories import PDF, as_holder, holder_draft, make_record, run_jobs
from tests.fhir.conftest import LAB_REPORT, Fhir, World, fhir, provide_bundle, world  # noqa: F401 - fixtures
from tests.operations.test_failover import Cluster, _free_port, _runner, _server_binaries

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
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: Debian's postgresql package "
                    "provides them")
    if not _citus_installed(binaries):
        pytest.skip(f"the citus extension is not installed for {binaries.parent}: Citus is not packaged by Debian "
                    "(docs/operations.md, \"Scale-out\")")
    folder = Path(tempfile.mkdtemp(prefix="opendsp-citus-"))
    runner = _runner(folder)
    nodes = [Cluster(binaries, folder, _free_port(), runner) for _ in range(4)]
    def make(node: Cluster) -> None:
        node.run("initdb", "-D", str(node.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
                 timeout=120)
        # Two-phase commit across nodes needs prepared transactions; fsync stays off on this shared machine.
        node.configure(port=str(node.port), listen_addresses="127.0.0.1", unix_socket_directories=str(folder),
                       shared_preload_libraries="citus", max_prepared_transactions="40", fsync="off",
                       max_connections="80", shared_buffers="16MB", **{"citus.shard_count": str(SHARDS)})
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
