"""Least privilege in PostgreSQL: an owner role for the schema, an application role for the running platform.

The owner runs the migrations and owns every table, sequence and trigger
function. The server, the worker, the listeners and the checkpointer
connect as the application role, which reads and writes the clinical tables
but may only read and insert the trace and its checkpoints, and read, insert
and move forward the chain heads (a trigger refuses a head that goes back or
does not land on the entry just appended). Not owning the tables, it cannot
alter them, disable or drop their triggers, or truncate them.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
INSERT_ONLY = ("trace_entries", "trace_checkpoints")
FORWARD_ONLY = ("trace_chain_heads",)
READ_ONLY = ("alembic_version",)


class RolesRefused(ValueError):
    """A role name or a connection that cannot be used; the message says why."""


def _quoted(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise RolesRefused(f"{name!r} is not a plain role name (lower-case letters, digits, _)")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _schema(connection: Connection) -> str:
    return f'"{connection.execute(text("SELECT current_schema()")).scalar()}"'


def create_roles(connection: Connection, *, owner: str, application: str, owner_password: str | None = None,
                 application_password: str | None = None) -> list[str]:
    """Create both roles if absent, give the schema and everything in it to the owner, grant the application.

    Run as a role that may create roles (a superuser, or CREATEROLE and
    membership of the current owners). Idempotent. Returns what it did.
    """
    if connection.dialect.name != "postgresql":
        raise RolesRefused("database roles exist only on PostgreSQL; the embedded SQLite needs none")
    if owner == application:
        raise RolesRefused("the owner and the application must be two roles")
    done = []
    for name, password in ((owner, owner_password), (application, application_password)):
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
        secret = f" PASSWORD {_literal(password)}" if password else ""
        verb = "ALTER" if exists else "CREATE"
        connection.execute(text(
            f"{verb} ROLE {_quoted(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            f"{secret}"
        ))
        done.append(f"role {name} {'updated' if exists else 'created'}")
    schema = _schema(connection)
    connection.execute(text(f"ALTER SCHEMA {schema} OWNER TO {_quoted(owner)}"))
    done.extend(_give_to_owner(connection, owner))
    connection.execute(text(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {_quoted(application)}"))
    grant_application(connection, application)
    done.append(f"schema {schema} owned by {owner}; {application} granted what the platform needs")
    return done


def schema_on_workers(connection: Connection, *, owner: str, application: str) -> list[str]:
    """On a Citus coordinator, give the schema to the owner on every worker too; nothing elsewhere.

    Citus makes the roles on every node (it propagates CREATE ROLE), but not ``ALTER SCHEMA public OWNER``
    while no distributed table is in the schema: the owner's migration would then be refused on the workers the
    trigger functions and types Citus sends there ("permission denied for schema public"). Run after the roles
    are committed (the workers are reached over connections of their own). Once tables are distributed, Citus
    holds the schema and sends create_roles' ALTER SCHEMA to every worker itself, a worker added later included
    (which starts with the schema of ``pg_database_owner``: hence `opendsp db roles` again after adding one).
    """
    if connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first() is None:
        return []
    if connection.execute(text(
            "SELECT 1 FROM pg_dist_object WHERE classid = 'pg_namespace'::regclass "
            "AND objid = current_schema()::regnamespace")).first() is not None:
        # Once it holds distributed tables, the schema is Citus's: the coordinator's ALTER and REVOKE reached every
        # worker, and Citus refuses them run on a worker.
        return []
    schema = _schema(connection)
    statements = (f"ALTER SCHEMA {schema} OWNER TO {_quoted(owner)}",
                  f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {_quoted(application)}")
    workers = 0
    for statement in statements:
        answers = connection.execute(text(
            "SELECT nodename, nodeport, success, result FROM run_command_on_workers(:statement)"
        ), {"statement": statement}).all()
        refused = [f"{name}:{port}: {result}" for name, port, success, result in answers if not success]
        if refused:
            raise RolesRefused(f"{statement} was refused on {'; '.join(refused)}")
        workers = len(answers)
    return [f"schema {schema} owned by {owner} on {workers} Citus workers"]


def _give_to_owner(connection: Connection, owner: str) -> list[str]:
    """Tables, sequences and functions made by someone else (an older install migrated as the application)."""
    rows = connection.execute(text(
        """
        SELECT 'TABLE', format('%I', c.relname) FROM pg_class c
          WHERE c.relnamespace = current_schema()::text::regnamespace AND c.relkind IN ('r', 'p', 'v')
          AND pg_get_userbyid(c.relowner) <> :owner
        UNION ALL
        SELECT 'SEQUENCE', format('%I', c.relname) FROM pg_class c
          WHERE c.relnamespace = current_schema()::text::regnamespace AND c.relkind = 'S'
          AND pg_get_userbyid(c.relowner) <> :owner
        UNION ALL
        SELECT 'FUNCTION', format('%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) FROM pg_proc p
          WHERE p.pronamespace = current_schema()::text::regnamespace AND pg_get_userbyid(p.proowner) <> :owner
        """
    ), {"owner": owner}).all()
    for kind, name in rows:
        connection.execute(text(f"ALTER {kind} {name} OWNER TO {_quoted(owner)}"))
    return [f"{len(rows)} objects given to {owner}"] if rows else []


def grant_application(connection: Connection, application: str) -> None:
    """What the application role may do on every table of the schema; run again after each migration."""
    role, schema = _quoted(application), _schema(connection)
    tables = set(connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )).scalars())
    connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
    connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    connection.execute(text(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {role}"))
    for table in sorted(tables & set(INSERT_ONLY)):
        connection.execute(text(f'REVOKE UPDATE, DELETE ON "{table}" FROM {role}'))
    for table in sorted(tables & set(FORWARD_ONLY)):
        connection.execute(text(f'REVOKE DELETE ON "{table}" FROM {role}'))
    for table in sorted(tables & set(READ_ONLY)):
        connection.execute(text(f'REVOKE INSERT, UPDATE, DELETE ON "{table}" FROM {role}'))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))


def user_of(url: str) -> str | None:
    """The role a database URL connects as."""
    from sqlalchemy.engine import make_url

    from opendsp.db import libpq_hosts

    return make_url(libpq_hosts(url)).username
