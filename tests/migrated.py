"""A migrated database for every test, without running the migrations for every test.

Running the Alembic migrations costs about 0.3 s on SQLite and 1 s on PostgreSQL; most tests need a fresh,
migrated database. So each test process (each pytest-xdist worker) runs the real migrations once per backend,
into a template, and every test then gets a copy of it:

- SQLite: the migrated template file, copied to the test's own file before its engine first connects;
- PostgreSQL: every statement the migrations sent, recorded while they ran into a template schema, replayed in
  the test's own schema (the schema is the connection's search_path; where a migration wrote the schema's name
  into a statement, as a function's fixed search_path, the template's name is replaced by the test's).

The copy is the migrated database itself: ``tests/test_migrated.py`` proves that a copy and a freshly migrated
database have the same tables, columns, indexes, constraints, triggers and rows.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url, text

from opendsp.db import make_engine
from opendsp.migrations import upgrade

# (SQL, DBAPI parameters, how it was sent: "execute", "executemany", or "plain" without any parameters at all)
Statement = tuple[str, Any, str]
Recording = tuple[str, list[Statement]]  # the template schema's name, the statements sent while migrating it


@dataclass
class Templates:
    """This process's migrated templates, each made the first time it is asked for."""

    folder: Path
    sqlite_file: Path | None = None
    postgres_statements: dict[str, Recording] = field(default_factory=dict)

    def sqlite(self) -> Path:
        if self.sqlite_file is None:
            path = self.folder / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
            self.sqlite_file = path
        return self.sqlite_file

    def postgres(self, server_url: str, schema_url: Any) -> Recording:
        """The migrations' statements, recorded once per server while they migrate a template schema."""
        if server_url not in self.postgres_statements:
            self.postgres_statements[server_url] = record_migrations(server_url, schema_url)
        return self.postgres_statements[server_url]


def record_migrations(server_url: str, schema_url: Any) -> Recording:
    schema = f"template_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(schema_url(server_url, schema))
    try:
        engine.connect().close()  # the dialect's own first queries are not the migrations'
        recorded: list[Statement] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            style = "executemany" if executemany else "plain" if context.no_parameters and not parameters else "execute"
            # Only the SQL text is rewritten for the test's schema: a parameter naming the template would not be.
            assert schema not in repr(parameters), f"a migration passed the schema's name as a parameter: {statement}"
            recorded.append((statement, parameters, style))

        event.listen(engine, "before_cursor_execute", record)
        upgrade(engine)
        event.remove(engine, "before_cursor_execute", record)
        return schema, recorded
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def copy_sqlite(templates: Templates, database_url: str) -> bool:
    """The template copied to the URL's file; False (nothing done) when that file already exists."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return False
    target = Path(database)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(templates.sqlite(), target)
    return True


def replay(engine: Engine, recording: Recording) -> bool:
    """The migrations' statements, sent again in one transaction on the engine's schema; False (nothing done)
    when that schema already holds a table."""
    template, statements = recording
    with engine.begin() as connection:
        schema = connection.execute(text("select current_schema()")).scalar_one()
        if connection.execute(text("select count(*) from pg_tables where schemaname = current_schema()")).scalar():
            return False
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for statement, parameters, style in batched(statements):
            statement = statement.replace(template, schema)
            if style == "executemany":
                cursor.executemany(statement, parameters)
            elif style == "plain":
                cursor.execute(statement)
            else:
                cursor.execute(statement, parameters)
        cursor.close()
    return True


def batched(statements: list[Statement]) -> list[Statement]:
    """Runs of statements without parameters joined into one (one round trip to the server, not one each).

    psycopg sends a statement without parameters as it is, several at once if need be; one sent with an empty
    set of parameters it reads for placeholders first, which only turns ``%%`` into ``%`` (any other placeholder
    would have failed with no parameters), so that is done here before joining it.
    """
    batches: list[Statement] = []
    run: list[str] = []
    for statement, parameters, style in statements:
        if style == "plain" or (style == "execute" and not parameters):
            run.append(statement if style == "plain" else statement.replace("%%", "%"))
            continue
        if run:
            batches.append(("\n;\n".join(run), None, "plain"))
            run = []
        batches.append((statement, parameters, style))
    if run:
        batches.append(("\n;\n".join(run), None, "plain"))
    return batches
