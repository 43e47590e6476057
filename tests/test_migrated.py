"""The database each test gets (a copy of a migrated template, tests/migrated.py) is the migrated database itself."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

from opendsp.db import make_engine
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from tests.conftest import POSTGRES_URL, _with_search_path

# Everything PostgreSQL knows about a schema's objects, written without the schema's name (it is the search_path).
POSTGRES_CATALOGUE = {
    "columns": """select table_name, column_name, data_type, udt_name, is_nullable, column_default,
                         character_maximum_length from information_schema.columns
                  where table_schema = current_schema() order by 1, 2""",
    "constraints": """select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) from pg_constraint c
                      join pg_namespace n on n.oid = c.connamespace where n.nspname = current_schema() order by 1, 2""",
    "indexes": """select tablename, indexname, indexdef from pg_indexes where schemaname = current_schema()
                  order by 1, 2""",
    "triggers": """select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) from pg_trigger t
                   join pg_class r on r.oid = t.tgrelid join pg_namespace n on n.oid = r.relnamespace
                   where n.nspname = current_schema() and not t.tgisinternal order by 1, 2""",
    "functions": """select p.proname, pg_get_functiondef(p.oid) from pg_proc p join pg_namespace n
                    on n.oid = p.pronamespace where n.nspname = current_schema() order by 1""",
    "types": """select t.typname, t.typtype, array(select e.enumlabel from pg_enum e where e.enumtypid = t.oid
                order by e.enumsortorder)::text from pg_type t join pg_namespace n on n.oid = t.typnamespace
                where n.nspname = current_schema() and t.typtype in ('e', 'd') order by 1""",
    "sequences": """select sequence_name, data_type, start_value, increment from information_schema.sequences
                    where sequence_schema = current_schema() order by 1""",
}


def described(engine: Engine) -> dict[str, Any]:
    """The database's whole definition and every row of every table."""
    with engine.connect() as connection:
        tables = sorted(inspect(connection).get_table_names())
        rows = {table: sorted(map(tuple, connection.execute(text(f'select * from "{table}"'))), key=repr)
                for table in tables}
        if engine.dialect.name == "sqlite":
            # Alembic's batch mode rebuilds a table with its constraints in no fixed order (two runs of the
            # migrations differ there): each definition is compared as the set of its clauses.
            catalogue = {"sqlite_master": [
                (kind, name, table, sorted((sql or "").removesuffix("\n)").split(", \n")))
                for kind, name, table, sql in connection.execute(text(
                    "select type, name, tbl_name, sql from sqlite_master order by type, name"))
            ]}
        else:
            schema = connection.execute(text("select current_schema()")).scalar_one()
            catalogue = {name: [tuple(_unqualified(value, schema) for value in row)
                                for row in connection.execute(text(query))]
                         for name, query in POSTGRES_CATALOGUE.items()}
    return {"tables": tables, "rows": rows, **catalogue}


def _unqualified(value: Any, schema: str) -> Any:
    """Some of PostgreSQL's definitions name the schema (a function's fixed search_path, a qualified name): the two
    schemas compared have different (random, unique) names, each is written as ``<schema>``."""
    return value.replace(f"{schema}.", "").replace(schema, "<schema>") if isinstance(value, str) else value


def test_each_test_s_database_is_the_migrated_database(platform: Platform, tmp_path: Path) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name == "sqlite":
        fresh_url, schema = f"sqlite:///{tmp_path / 'fresh.db'}", None
    else:
        assert POSTGRES_URL
        schema = f"t_{uuid.uuid4().hex[:12]}"
        fresh_url = _with_search_path(POSTGRES_URL, schema)
        with make_engine(POSTGRES_URL).begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    fresh = make_engine(fresh_url)
    try:
        upgrade(fresh)
        copy = described(platform.engine)
        assert copy["tables"] and "alembic_version" in copy["tables"]
        assert copy == described(fresh)
    finally:
        fresh.dispose()
        if schema:
            with make_engine(str(POSTGRES_URL)).begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
