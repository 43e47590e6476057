"""Distribute a migrated PostgreSQL database over a Citus cluster, table by table, as opendsp.distribution says.

Reference tables first (a copy on every node), then the records, distributed by their id, and every table
distributed by record colocated with them (the rows of one record on one node, their joins and keys local),
then the trace's chains in a colocation group of their own, then each directory by its own key. Platform
tables stay on the coordinator, added to Citus's metadata (``citus_add_local_table_to_metadata``): Citus
needs it for their keys to reference tables, and the workers can then reach them.

Everything is placed in one transaction, parents before children: a refusal leaves the database as it was,
and a second run finds every table placed and changes nothing. Run as the tables' owner on the coordinator,
after ``opendsp migrate``, once the coordinator and the workers are in Citus's metadata
(``citus_set_coordinator_host``, ``citus_add_node``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import SchemaItem

from opendsp.distribution import TABLES, Kind, distribution_column

PHASES = (Kind.reference, Kind.record, Kind.chain, Kind.directory, Kind.platform)
LEADER = "records"  # the record's colocation group is named by the records table (distributed by its id)
# The transaction's settings: Citus's DDL over one connection per node (a table with a key to a reference
# table needs it once a reference table was touched), and the schema's triggers kept on distributed and
# reference tables, where Citus creates them on every shard (docs/operations.md, "Before distributing", says
# which of them work there).
SESSION = (("citus.multi_shard_modify_mode", "'sequential'"), ("citus.enable_unsafe_triggers", "on"))


class DistributionRefused(RuntimeError):
    """The database cannot be distributed as it is; the message says why, in Citus's words where it refused."""


@dataclass(frozen=True)
class Placed:
    """Where Citus holds a table now (a row of pg_dist_partition)."""

    method: str  # h: hash-distributed; n: not distributed (a reference table or a local table in the metadata)
    replication: str  # t: a copy on every node (reference); s: a single copy
    colocation: int
    column: str | None

    @property
    def reference(self) -> bool:
        return self.method == "n" and self.replication == "t"


@dataclass(frozen=True)
class Step:
    table: str
    statement: str
    parameters: dict[str, str]
    says: str


def _placed(connection: Connection) -> dict[str, Placed]:
    rows = connection.execute(text(
        "SELECT c.relname, p.partmethod, p.repmodel, p.colocationid, "
        "CASE WHEN p.partkey IS NULL OR p.partkey = '' THEN NULL "
        "ELSE column_to_column_name(p.logicalrelid, p.partkey) END "
        "FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace"))
    return {name: Placed(method, replication, colocation, column)
            for name, method, replication, colocation, column in rows}


@dataclass
class Plan:
    """The tables in the order they are placed, and the colocation groups already chosen."""

    order: list[str]
    chain_leader: str | None = None

    def step(self, connection: Connection, table: str) -> Step | str:
        """The statement that places the table, or a line saying where it is already (read now: adding a platform
        table to Citus's metadata adds those linked to it by a key)."""
        placed = _placed(connection)
        kind, now, column = TABLES[table].kind, placed.get(table), distribution_column(table)
        if kind is Kind.reference:
            if now is not None and now.reference:
                return f"{table}: already a reference table"
            return Step(table, "SELECT create_reference_table(:t)", {"t": table},
                        f"{table}: reference table (a copy on every node)")
        if kind is Kind.platform:
            if now is not None:
                return f"{table}: stays on the coordinator (already in Citus's metadata)"
            return Step(table, "SELECT citus_add_local_table_to_metadata(:t, cascade_via_foreign_keys => true)",
                        {"t": table},
                        f"{table}: stays on the coordinator, in Citus's metadata (with the platform tables it "
                        "is linked to by a key)")
        assert column is not None
        group: str | None = None  # a colocation group of its own
        if kind is Kind.record and table != LEADER:
            group = LEADER
        elif kind is Kind.chain:
            group = self.chain_leader
            self.chain_leader = self.chain_leader or table
        if now is not None and now.method == "h":
            leader = placed.get(group) if group is not None else None
            if now.column != column or (group is not None and (leader is None or leader.colocation != now.colocation)):
                raise DistributionRefused(
                    f"{table} is distributed by {now.column} (colocation group {now.colocation}), not by {column}"
                    f"{'' if group is None else ' with ' + group}: undistribute_table it first")
            return f"{table}: already distributed by {column}"
        together = "its own colocation group" if group is None else f"colocated with {group}"
        return Step(table, "SELECT create_distributed_table(:t, :c, colocate_with => :w)",
                    {"t": table, "c": column, "w": group or "none"}, f"{table}: distributed by {column}, {together}")


def _plan(connection: Connection) -> Plan:
    """The schema's tables, reference tables first, then by placement; within each, parents before children."""
    inspector = inspect(connection)
    tables = [t for t in inspector.get_table_names() if t != "alembic_version"]
    unplaced = sorted(set(tables) - set(TABLES))
    if unplaced:
        raise DistributionRefused(f"tables not placed in opendsp.distribution.TABLES: {', '.join(unplaced)}")
    missing = sorted(set(TABLES) - set(tables))
    if missing:
        raise DistributionRefused(f"tables missing from the database (run `opendsp migrate` first): "
                                  f"{', '.join(missing)}")
    parents = {t: {fk["referred_table"] for fk in inspector.get_foreign_keys(t)} - {t} for t in tables}
    try:
        topological = list(graphlib.TopologicalSorter(parents).static_order())
    except graphlib.CycleError as error:
        raise DistributionRefused(f"foreign keys make a cycle: {' -> '.join(error.args[1])}") from error
    # The records table leads its colocation group, whatever points at it.
    order = sorted(topological, key=lambda t: (PHASES.index(TABLES[t].kind), t != LEADER, topological.index(t)))
    return Plan(order)


def _nodes(connection: Connection) -> int:
    return int(connection.execute(text(
        "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND isactive AND shouldhaveshards"
    )).scalar_one())


def distribute(engine: Engine, say: Callable[[str], None]) -> int:
    """Create the citus extension if needed and place every table; returns how many tables were placed now.

    Says a line for each table as it goes (placed now, or where it is already); raises DistributionRefused,
    with Citus's own words where it refused, when the database cannot be distributed: SQLite, no citus
    extension, no node to hold shards, the coordinator not in the metadata, a table Citus refuses to place
    (then nothing is placed).
    """
    if engine.dialect.name != "postgresql":
        raise DistributionRefused("Citus distributes PostgreSQL databases; the embedded SQLite is one node "
                                  "(set OPENDSP_DATABASE_URL to the Citus coordinator)")
    with engine.begin() as connection:
        if connection.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'citus'")).first() is None:
            raise DistributionRefused("the citus extension is not installed on this PostgreSQL server "
                                      "(docs/operations.md, \"Scale-out\")")
        installed = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    if installed is None:
        try:
            with engine.begin() as connection:
                connection.execute(text("CREATE EXTENSION citus"))
        except DBAPIError as error:
            raise DistributionRefused(f"CREATE EXTENSION citus was refused: {_words(error)}") from error
        say("citus extension created")
    with engine.begin() as connection:
        if _nodes(connection) == 0:
            raise DistributionRefused("no node can hold shards: add the worker nodes first "
                                      "(SELECT citus_add_node('host', port) on the coordinator)")
        if connection.execute(text("SELECT 1 FROM pg_dist_node WHERE groupid = 0")).first() is None:
            raise DistributionRefused("the coordinator is not in Citus's metadata, where the platform's tables stay: "
                                      "SELECT citus_set_coordinator_host('host', port) first")
    placed = 0
    try:
        with engine.begin() as connection:
            for setting, value in SESSION:
                connection.execute(text(f"SET LOCAL {setting} = {value}"))
            plan = _plan(connection)
            for table in plan.order:
                step = plan.step(connection, table)
                if isinstance(step, str):
                    say(step)
                    continue
                # A table that points at a reference table is added to Citus's metadata when it is placed, not
                # before: when Citus adds it by itself, it can no longer be distributed with its children.
                local_keys = "on" if TABLES[table].kind is Kind.platform else "off"
                connection.execute(text(f"SET LOCAL citus.enable_local_reference_table_foreign_keys = {local_keys}"))
                try:
                    connection.execute(text(step.statement), step.parameters)
                except DBAPIError as error:
                    raise DistributionRefused(
                        f"{table}: Citus refused {step.statement.split('(')[0].removeprefix('SELECT ')}: "
                        f"{_words(error)} (nothing was placed: the {placed} placements above are rolled back)"
                    ) from error
                say(step.says)
                placed += 1
    except DBAPIError as error:  # the commit: Citus's two-phase commit over the nodes
        raise DistributionRefused(f"the placements could not be committed: {_words(error)}") from error
    return placed


def _words(error: DBAPIError) -> str:
    """The server's message and its detail or hint, on one line, without the driver's trace."""
    original = error.orig
    diagnostics = getattr(original, "diag", None)
    words = [str(getattr(diagnostics, "message_primary", None) or str(original).splitlines()[0])]
    for part in ("message_detail", "message_hint"):
        if diagnostics is not None and getattr(diagnostics, part, None):
            words.append(str(getattr(diagnostics, part)))
    return " ".join(words)


def distributed(connection: Connection) -> bool:
    """Whether this database was distributed already (Citus holds the records table)."""
    if connection.dialect.name != "postgresql":
        return False
    if connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() is None:
        return False  # and pg_dist_partition does not exist
    return connection.execute(text(
        "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('records')")).first() is not None


def create_table(name: str, *elements: SchemaItem) -> None:
    """``op.create_table`` for a migration, which places the new table as TABLES says on a distributed database.

    Citus refuses a key from a table it does not hold to a distributed table ("foreign keys from reference tables
    and local tables to distributed tables are not supported"), so a table created after ``opendsp db
    distribute`` is created without its foreign keys, placed, then given them (docs/adr/0046). Elsewhere (SQLite,
    PostgreSQL without Citus, before the distribution) it is ``op.create_table`` itself, and ``opendsp db
    distribute`` places the table later with the others.
    """
    from alembic import op
    from sqlalchemy import Column, ForeignKeyConstraint

    connection = op.get_bind()
    if not distributed(connection):
        op.create_table(name, *elements)
        return
    if any(isinstance(e, Column) and e.foreign_keys for e in elements):
        raise DistributionRefused(f"{name}: name its foreign keys as ForeignKeyConstraint, not on a column, so that "
                                  "they can be added once the table is placed")
    keys = [e for e in elements if isinstance(e, ForeignKeyConstraint)]
    op.create_table(name, *[e for e in elements if not isinstance(e, ForeignKeyConstraint)])
    for setting, value in SESSION:
        connection.execute(text(f"SET LOCAL {setting} = {value}"))
    local_keys = "on" if TABLES[name].kind is Kind.platform else "off"
    connection.execute(text(f"SET LOCAL citus.enable_local_reference_table_foreign_keys = {local_keys}"))
    step = Plan([name], chain_leader="trace_entries").step(connection, name)
    if isinstance(step, Step):
        connection.execute(text(step.statement), step.parameters)
    for key in keys:
        targets = [element.target_fullname.split(".") for element in key.elements]
        op.create_foreign_key(key.name, name, targets[0][-2], list(key.column_keys), [t[-1] for t in targets],
                              ondelete=key.ondelete, onupdate=key.onupdate)
