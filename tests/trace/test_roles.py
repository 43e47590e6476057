"""Least privilege on PostgreSQL: the application role cannot change, remove or unprotect the trace.

Roles are cluster-wide: each test makes roles of its own, with unique names, and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from opendsp.cli import main
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.db import make_engine
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.service import verify
from tests.conftest import POSTGRES_URL, _with_search_path, postgres_skip_reason
from tests.trace.test_checkpoints import checkpoint
from tests.trace.test_trace import chain_entries, record_with_history


@dataclass
class Cluster:
    admin_url: str
    owner_url: str
    application_url: str
    owner: str
    application: str


def _as(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    assert POSTGRES_URL
    unique = uuid.uuid4().hex[:10]
    schema, owner, application = f"t_{unique}", f"opendsp_owner_{unique}", f"opendsp_app_{unique}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin_url = _with_search_path(POSTGRES_URL, schema)
    try:
        yield Cluster(admin_url=admin_url, owner_url=_with_search_path(_as(POSTGRES_URL, owner), schema),
                      application_url=_with_search_path(_as(POSTGRES_URL, application), schema),
                      owner=owner, application=application)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            for role in (application, owner):
                if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                    connection.execute(text(f"DROP OWNED BY {role} CASCADE"))
                    connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def run(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def application_platform(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """Roles made by `opendsp db roles`, schema migrated by the owner, the platform running as the application."""
    run(monkeypatch, {"OPENDSP_MIGRATION_DATABASE_URL": cluster.admin_url}, "db", "roles", "--owner", cluster.owner,
        "--application", cluster.application)
    result = run(monkeypatch, {"OPENDSP_MIGRATION_DATABASE_URL": cluster.owner_url,
                               "OPENDSP_DATABASE_URL": cluster.application_url,
                               "OPENDSP_VAR_DIR": str(tmp_path / "var")}, "migrate")
    assert f"{cluster.application} granted" in result.output
    settings = Settings(var_dir=tmp_path / "var", database_url=cluster.application_url)
    platform = Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(7))
    yield platform
    assert platform.engine is not None
    platform.engine.dispose()


def test_the_platform_runs_as_the_application_role(application_platform: Platform) -> None:
    record = record_with_history(application_platform)
    checkpoint(application_platform)  # the checkpointer, too, runs as the application
    with application_platform.sessions() as session:
        assert verify(session).intact and len(chain_entries(session, record)) == 5
        assert session.execute(text("SELECT current_user")).scalar().startswith("opendsp_app_")


def test_the_portals_run_as_the_application_role(application_platform: Platform) -> None:
    """A holder's history built through the services and the web (accounts, sessions, grants, documents,
    the outbox, the search index), then the holder's pages and the signed extract: the grants suffice."""
    from tests.web.holder_world import build, log_in

    clock = application_platform.clock
    assert isinstance(clock, FrozenClock)
    world = build(application_platform, clock)
    holder = log_in(application_platform, clock, world.credentials)
    checkpoint(application_platform)
    for path in ("/record", "/record/trace", "/record/professionals", "/record/trace.signed.json"):
        assert holder.get(path).status_code == 200, path
    with application_platform.sessions() as session:
        assert verify(session).intact


FORBIDDEN = [
    "UPDATE trace_entries SET reason = 'x'",
    "DELETE FROM trace_entries",
    "TRUNCATE trace_entries",
    "ALTER TABLE trace_entries DISABLE TRIGGER trace_entries_append_only",
    "ALTER TABLE trace_entries DISABLE TRIGGER ALL",
    "DROP TRIGGER trace_entries_append_only ON trace_entries",
    "DROP TABLE trace_entries",
    "ALTER TABLE trace_entries OWNER TO CURRENT_USER",
    "UPDATE trace_chain_heads SET last_seq = last_seq - 1 WHERE chain = '{chain}'",
    "UPDATE trace_chain_heads SET last_hash = '{forged}' WHERE chain = '{chain}'",
    "DELETE FROM trace_chain_heads WHERE chain = '{chain}'",
    "TRUNCATE trace_chain_heads",
    "ALTER TABLE trace_chain_heads DISABLE TRIGGER trace_chain_heads_forward",
    "DROP TRIGGER trace_chain_heads_forward ON trace_chain_heads",
    "UPDATE trace_checkpoints SET root_hash = '{forged}'",
    "DELETE FROM trace_checkpoints",
    "TRUNCATE trace_checkpoints",
    "SET session_replication_role = replica",
    "CREATE OR REPLACE FUNCTION opendsp_trace_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN OLD; END $$",
    "CREATE OR REPLACE FUNCTION opendsp_trace_head_forward() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NEW; END $$",
    "CREATE TABLE an_own_table (x int)",
    "DELETE FROM alembic_version",
]


def test_the_application_role_is_refused_each_forbidden_statement(application_platform: Platform) -> None:
    record = record_with_history(application_platform)
    checkpoint(application_platform)
    engine = application_platform.engine
    assert engine is not None
    before = _snapshot(engine)
    refused = []
    for statement in FORBIDDEN:
        sql = statement.format(chain=record.id, forged="f" * 64)
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.execute(text(sql))
        message = str(caught.value.orig)
        assert any(reason in message for reason in ("permission denied", "must be owner", "append-only",
                                                    "only moves forward")), (sql, message)
        refused.append(sql)
    assert len(refused) == len(FORBIDDEN)
    assert _snapshot(engine) == before  # nothing changed


def test_db_roles_run_again_changes_nothing_and_the_application_stays_refused(
        application_platform: Platform, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    record = record_with_history(application_platform)
    run(monkeypatch, {"OPENDSP_MIGRATION_DATABASE_URL": cluster.admin_url}, "db", "roles", "--owner", cluster.owner,
        "--application", cluster.application)
    record_with_history(application_platform)  # the grants are still there
    engine = application_platform.engine
    assert engine is not None
    with pytest.raises(DBAPIError, match="permission denied|append-only"), engine.begin() as connection:
        connection.execute(text(f"DELETE FROM trace_entries WHERE chain = '{record.id}'"))
    with pytest.raises(DBAPIError, match="must be owner"), engine.begin() as connection:
        connection.execute(text("ALTER TABLE trace_entries DISABLE TRIGGER trace_entries_append_only"))
    with application_platform.sessions() as session:
        assert verify(session).intact


def _snapshot(engine) -> tuple:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return (connection.execute(text("SELECT count(*), max(id) FROM trace_entries")).one(),
                tuple(connection.execute(text("SELECT * FROM trace_chain_heads ORDER BY chain")).all()),
                connection.execute(text("SELECT count(*) FROM trace_checkpoints")).scalar())


def test_an_older_install_owned_by_the_application_is_handed_to_the_owner(cluster: Cluster, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Before two roles, `opendsp migrate` made the application the owner of everything: `db roles` fixes it."""
    admin = make_engine(cluster.admin_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {cluster.application} LOGIN"))
        schema = connection.execute(text("SELECT current_schema()")).scalar()
        connection.execute(text(f"ALTER SCHEMA {schema} OWNER TO {cluster.application}"))
    admin.dispose()
    run(monkeypatch, {"OPENDSP_DATABASE_URL": cluster.application_url, "OPENDSP_VAR_DIR": str(tmp_path / "var"),
                      "OPENDSP_MIGRATION_DATABASE_URL": cluster.application_url}, "migrate")
    engine = make_engine(cluster.application_url)
    with engine.begin() as connection:  # the old weakness: the owner switches the trigger off
        connection.execute(text("ALTER TABLE trace_entries DISABLE TRIGGER trace_entries_append_only"))
        connection.execute(text("ALTER TABLE trace_entries ENABLE TRIGGER trace_entries_append_only"))
    run(monkeypatch, {"OPENDSP_MIGRATION_DATABASE_URL": cluster.admin_url}, "db", "roles", "--owner", cluster.owner,
        "--application", cluster.application)
    with pytest.raises(DBAPIError, match="must be owner"), engine.begin() as connection:
        connection.execute(text("ALTER TABLE trace_entries DISABLE TRIGGER trace_entries_append_only"))
    with pytest.raises(DBAPIError, match="must be owner|permission denied"), engine.begin() as connection:
        connection.execute(text("CREATE OR REPLACE FUNCTION opendsp_trace_append_only() RETURNS trigger "
                                "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"))
    engine.dispose()


def test_roles_are_refused_on_sqlite_and_for_odd_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENDSP_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(main, ["db", "roles", "--owner", "a", "--application", "b"])
    assert result.exit_code == 2 and "only on PostgreSQL" in result.output
    if not postgres_skip_reason():
        monkeypatch.setenv("OPENDSP_MIGRATION_DATABASE_URL", POSTGRES_URL or "")
        result = CliRunner().invoke(main, ["db", "roles", "--owner", 'x"; DROP', "--application", "b"])
        assert result.exit_code == 2 and "not a plain role name" in result.output
