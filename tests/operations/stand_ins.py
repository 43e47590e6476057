"""Writing rows with today's models into a database migrated only part of the way.

Today's models map the tables and columns later migrations add. A test of one migration on a database that
holds rows writes those rows through the services (the models) at the revision before it: the later tables
and columns stand in while the rows are written (columns nullable unless the model gives a default, tables
as the models make them), and are taken away before migrating, with what was written in them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Engine, Table, inspect, text
from sqlalchemy.schema import CreateTable

from opendsp.db import Base


def stand_in_for_later_migrations(engine: Engine) -> Callable[[], None]:
    """Add the models' tables and columns the database lacks; return what takes them away again."""
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    tables: list[Table] = [table for table in Base.metadata.sorted_tables if table.name not in present]
    columns: list[tuple[str, Column]] = []  # type: ignore[type-arg]
    for table in Base.metadata.sorted_tables:
        if table.name in present:
            have = {column["name"] for column in inspector.get_columns(table.name)}
            columns += [(table.name, column) for column in table.columns if column.name not in have]
    with engine.begin() as connection:
        for name, column in columns:
            default = getattr(column.server_default, "arg", None)
            default = getattr(default, "text", default)
            kind = column.type.compile(dialect=engine.dialect)
            constraint = f" DEFAULT {default} NOT NULL" if default is not None and not column.nullable else ""
            connection.execute(text(f"ALTER TABLE {name} ADD COLUMN {column.name} {kind}{constraint}"))
        for table in tables:
            # Without foreign keys: a stand-in points at nothing, so that it goes whatever else is there.
            connection.execute(CreateTable(table, include_foreign_key_constraints=[]))

    def take_away() -> None:
        with engine.begin() as connection:
            for table in reversed(tables):
                connection.execute(text(f"DROP TABLE {table.name}"))
            for name, column in columns:
                connection.execute(text(f"ALTER TABLE {name} DROP COLUMN {column.name}"))

    return take_away
