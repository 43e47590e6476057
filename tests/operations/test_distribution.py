"""The schema can be distributed by record: every clinical table is keyed by its record, and links stay inside one.

Checked twice: on the models (SQLAlchemy's metadata) and on the database the migrations make (SQLite and
PostgreSQL), so that neither can drift. The rules are Citus's, for tables placed as tests/operations/
distribution.py says:

- a distributed table's distribution column is never NULL, and its primary key holds it (a table whose primary
  key is itself one of GLOBAL_KEYS waits for that key's way out);
- a foreign key between two distributed tables maps the one's distribution column to the other's;
- a distributed table points only at distributed tables of its group and at reference tables; a reference
  table only at reference tables; a platform table never at a distributed one;
- a unique key without the distribution column is either doubled by a record key (the same columns led by
  record_id, which replaces it when the table is distributed) or listed in GLOBAL_KEYS with its way out.

The embedded default (SQLite) keeps the keys EMBEDDED_EXCEPTIONS lists, each with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import Engine, MetaData, inspect

import opendsp.models
from opendsp.platform import Platform
from tests.operations.distribution import EMBEDDED_EXCEPTIONS, GLOBAL_KEYS, TABLES, Kind, distribution_column

Columns = tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    columns: Columns
    parent: str
    parent_columns: Columns


@dataclass(frozen=True)
class Shape:
    nullable: dict[str, bool]
    primary_key: Columns
    unique: list[Columns] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


def from_models(metadata: MetaData) -> dict[str, Shape]:
    shapes = {}
    for table in metadata.tables.values():
        unique = [tuple(c.name for c in constraint.columns) for constraint in table.constraints
                  if constraint.__class__.__name__ == "UniqueConstraint"]
        unique += [tuple(c.name for c in index.columns) for index in table.indexes if index.unique]
        unique += [(column.name,) for column in table.columns if column.unique]
        keys = [ForeignKey(tuple(fk.column_keys), fk.referred_table.name, tuple(e.column.name for e in fk.elements))
                for fk in table.foreign_key_constraints]
        shapes[table.name] = Shape({c.name: bool(c.nullable) for c in table.columns},
                                   tuple(c.name for c in table.primary_key.columns), unique, keys)
    return shapes


def from_database(engine: Engine) -> dict[str, Shape]:
    inspector = inspect(engine)
    shapes = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        unique = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
        unique += [tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]]
        keys = [ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)]
        shapes[table] = Shape({c["name"]: bool(c["nullable"]) for c in inspector.get_columns(table)},
                              tuple(inspector.get_pk_constraint(table)["constrained_columns"]), unique, keys)
    return shapes


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    global_keys: set[tuple[str, Columns]] = field(default_factory=set)


def _distribution_column(table: str) -> str:
    column = distribution_column(table)
    assert column is not None
    return column


DISTRIBUTED = (Kind.record, Kind.chain, Kind.directory)


def examine(shapes: dict[str, Shape]) -> Findings:
    found = Findings()
    unplaced = sorted(set(shapes) - set(TABLES))
    found.problems += [f"{table}: not placed in opendsp/distribution.py" for table in unplaced]
    found.problems += [f"{table}: placed, but no such table" for table in sorted(set(TABLES) - set(shapes))]
    for table, shape in sorted(shapes.items()):
        if table not in TABLES:
            continue
        kind = TABLES[table].kind
        if kind in DISTRIBUTED:
            _examine_distributed(table, shape, found)
        for key in shape.foreign_keys:
            _examine_link(table, kind, key, found)
    return found


def _examine_distributed(table: str, shape: Shape, found: Findings) -> None:
    column = _distribution_column(table)
    if shape.nullable.get(column, True):
        found.problems.append(f"{table}: {column} is missing or may be NULL")
    keys = [shape.primary_key, *shape.unique]
    if column not in shape.primary_key and (table, shape.primary_key) not in GLOBAL_KEYS:
        found.problems.append(f"{table}: its primary key does not hold {column}")
    for key in keys:
        if column in key:
            continue
        # Replaceable: the same columns led by the distribution column form a unique key too.
        if any(set(other) == {column, *key} for other in shape.unique):
            continue
        found.global_keys.add((table, tuple(key)))


def _examine_link(table: str, kind: Kind, key: ForeignKey, found: Findings) -> None:
    parent = TABLES.get(key.parent)
    if parent is None:
        return  # reported as unplaced
    link = f"{table}{list(key.columns)} → {key.parent}{list(key.parent_columns)}"
    if kind is Kind.record and parent.kind is Kind.record:
        pairs = dict(zip(key.parent_columns, key.columns, strict=True))
        if pairs.get(_distribution_column(key.parent)) != _distribution_column(table):
            found.problems.append(f"{link}: does not carry the record id from one to the other")
    elif kind in DISTRIBUTED:
        if parent.kind is not Kind.reference:
            found.problems.append(f"{link}: a distributed table may point only at its group or a reference table")
    elif kind is Kind.reference:
        if parent.kind is not Kind.reference:
            found.problems.append(f"{link}: a reference table may point only at reference tables")
    elif parent.kind in DISTRIBUTED:
        found.problems.append(f"{link}: a platform table may not point at a distributed table")


def _assert_distributable(shapes: dict[str, Shape]) -> None:
    found = examine(shapes)
    assert found.problems == []
    assert found.global_keys == set(GLOBAL_KEYS)


def test_the_models_can_be_distributed_by_record() -> None:
    _assert_distributable(from_models(opendsp.models.Base.metadata))


def _as_distributed(shapes: dict[str, Shape], dialect: str) -> dict[str, Shape]:
    """The shapes with the embedded default's exceptions put back as the rules want them, once each is seen
    to be exactly the key it is said to keep (and PostgreSQL's, the rules' own)."""
    if dialect != "sqlite":
        return shapes
    for table, (kept, _reason) in EMBEDDED_EXCEPTIONS.items():
        assert shapes[table].primary_key == kept, table
        wanted = from_models(opendsp.models.Base.metadata)[table].primary_key
        assert wanted != kept, f"{table}: SQLite keeps the rules' key now, take it off EMBEDDED_EXCEPTIONS"
        shapes = _changed(shapes, table, primary_key=wanted)
    return shapes


def test_the_migrated_database_can_be_distributed_by_record(platform: Platform) -> None:
    assert platform.engine is not None
    _assert_distributable(_as_distributed(from_database(platform.engine), platform.engine.dialect.name))


def _changed(shapes: dict[str, Shape], table: str, **changes: object) -> dict[str, Shape]:
    return {**shapes, table: replace(shapes[table], **changes)}  # type: ignore[arg-type]


def _problems(shapes: dict[str, Shape]) -> list[str]:
    return examine(shapes).problems


def test_the_examination_finds_what_would_stop_a_distribution() -> None:
    shapes = from_models(opendsp.models.Base.metadata)
    assert _problems(shapes) == []
    # A new table nobody placed.
    assert _problems({**shapes, "vaccinations": shapes["wishes"]}) == [
        "vaccinations: not placed in opendsp/distribution.py"]
    # A link from one clinical row to another that does not carry the record id.
    terms = shapes["search_terms"]
    loose = [ForeignKey(("document_id",), "documents", ("id",)) if key.parent == "documents" else key
             for key in terms.foreign_keys]
    assert _problems(_changed(shapes, "search_terms", foreign_keys=loose)) == [
        "search_terms['document_id'] → documents['id']: does not carry the record id from one to the other"]
    # A clinical table keyed without its record, even with a record key beside its primary key (as before 0023).
    wishes = shapes["wishes"]
    assert _problems(_changed(shapes, "wishes", primary_key=("id",), unique=[*wishes.unique, ("record_id", "id")])) == [
        "wishes: its primary key does not hold record_id"]
    # The trace keyed by its serial id alone: a problem, and a global key.
    found = examine(_changed(shapes, "trace_entries", primary_key=("id",)))
    assert found.problems == ["trace_entries: its primary key does not hold chain"]
    assert found.global_keys - set(GLOBAL_KEYS) == {("trace_entries", ("id",))}
    # A record id that may be missing.
    assert _problems(_changed(shapes, "wishes", nullable={**shapes["wishes"].nullable, "record_id": True})) == [
        "wishes: record_id is missing or may be NULL"]
    # A reference table pointing at a platform table, a clinical table at a platform table.
    persons = shapes["persons"]
    pointing = [*persons.foreign_keys, ForeignKey(("session_id",), "web_sessions", ("id",))]
    assert _problems(_changed(shapes, "persons", foreign_keys=pointing)) == [
        "persons['session_id'] → web_sessions['id']: a reference table may point only at reference tables"]
    wishes = shapes["wishes"]
    pointing = [*wishes.foreign_keys, ForeignKey(("client_id",), "clients", ("id",))]
    assert _problems(_changed(shapes, "wishes", foreign_keys=pointing)) == [
        "wishes['client_id'] → clients['id']: a distributed table may point only at its group or a reference table"]
    # A queue's key to a clinical row (the jobs' and the outbox's, before 0023).
    jobs = shapes["jobs"]
    pointing = [*jobs.foreign_keys, ForeignKey(("document_id",), "documents", ("id",))]
    assert _problems(_changed(shapes, "jobs", foreign_keys=pointing)) == [
        "jobs['document_id'] → documents['id']: a platform table may not point at a distributed table"]
    # A new global key is found (and _assert_distributable then fails on it).
    documents = shapes["documents"]
    found = examine(_changed(shapes, "documents", unique=[*documents.unique, ("title",)]))
    assert found.global_keys - set(GLOBAL_KEYS) == {("documents", ("title",))}


def _kinds(kind: Kind) -> Iterable[str]:
    return sorted(table for table, placement in TABLES.items() if placement.kind is kind)


def test_the_operations_guide_lists_the_tables_as_they_are_placed() -> None:
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    section = guide.split("### Distributed and reference tables", 1)[1].split("\n## ", 1)[0]
    for kind in Kind:
        line = next((line for line in section.splitlines() if line.startswith(f"| {kind.value} |")), None)
        assert line is not None, f"no row for {kind.value}"
        listed = sorted(filter(None, (name.strip(" `") for name in line.split("|")[2].split(","))))
        assert listed == list(_kinds(kind)), kind


def _record_tables(shapes: dict[str, Shape]) -> list[str]:
    return [table for table in sorted(shapes) if TABLES[table].kind is Kind.record and table != "records"]


def test_the_clinical_primary_keys_lead_with_the_record_and_the_links_point_at_them(platform: Platform) -> None:
    """The schema as migrated: each clinical table's primary key starts with record_id (so that it is the
    distribution column's and serves every lookup within a record), no record key doubles it any more, and every
    link between clinical tables points at its parent's primary key."""
    assert platform.engine is not None
    shapes = from_database(platform.engine)
    leading = {table: shapes[table].primary_key[0] for table in _record_tables(shapes)
               if (table, shapes[table].primary_key) not in GLOBAL_KEYS}
    assert set(leading.values()) == {"record_id"}, leading
    assert shapes["documents"].primary_key == ("record_id", "id")
    assert shapes["fhir_folder_entries"].primary_key == ("record_id", "folder_id", "document_id")
    doubled = {(table, key) for table in leading for key in shapes[table].unique
               if set(key) == set(shapes[table].primary_key)}
    assert doubled == set()
    links = [(table, key) for table in _record_tables(shapes) for key in shapes[table].foreign_keys
             if key.parent != "records" and TABLES[key.parent].kind is Kind.record]
    assert len(links) > 10
    assert [(table, key) for table, key in links if key.parent_columns != shapes[key.parent].primary_key] == []


def test_on_postgresql_the_links_between_clinical_tables_use_the_primary_keys_indexes(platform: Platform) -> None:
    """PostgreSQL ties a foreign key to the index it found when it was made: made on the record keys (0021), the
    links now use the indexes that became the primary keys in place (0023), and no other index."""
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("an index a foreign key depends on is PostgreSQL's (and Citus runs on PostgreSQL)")
    with platform.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT fk.conname, parent.relname, fk.conindid = pk.conindid FROM pg_constraint fk "
            "JOIN pg_class parent ON parent.oid = fk.confrelid "
            "JOIN pg_constraint pk ON pk.conrelid = fk.confrelid AND pk.contype = 'p' "
            "WHERE fk.contype = 'f' AND parent.relnamespace = to_regnamespace(current_schema())::oid").fetchall()
    clinical = [(name, parent, on_primary_key) for name, parent, on_primary_key in rows
                if TABLES[parent].kind is Kind.record and parent != "records"]
    assert len(clinical) > 10
    assert [(name, parent) for name, parent, on_primary_key in clinical if not on_primary_key] == []
