"""Database engine, sessions and the shared declarative base.

No engine is created at import time: the app factory, the CLI and the tests
each build one from their settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

import opendsp.counters  # noqa: F401 - every engine moves the caches' counters with the changes it runs

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record_primary_key(table: str, *columns: str) -> PrimaryKeyConstraint:
    """A clinical table's primary key: its record id, then the columns that name the row within the record.

    The record id is the distribution column when the tables are spread over several database nodes by
    record (Citus): the primary key must hold it, and a foreign key between two clinical tables points at it
    (docs/operations.md, "Scale-out"; tests/operations/test_distribution.py). The mapper keeps the row's
    identity without it (``identified_within_record``), so that ``session.get(Model, id)`` still works.
    """
    return PrimaryKeyConstraint("record_id", *columns, name=f"pk_{table}")


def within_record(table: str, column: str, parent: str) -> ForeignKeyConstraint:
    """A foreign key from one clinical table to another of the same record: (record_id, column) → (record_id, id).

    The database then refuses a row that points at another record's row, and the two rows stay on one node.
    """
    return ForeignKeyConstraint(["record_id", column], [f"{parent}.record_id", f"{parent}.id"],
                                name=f"fk_{table}_{column}_in_record")


def identified_within_record(*identity: object) -> dict[str, object]:
    """Mapper arguments for a clinical table keyed by ``record_primary_key``: the ORM's identity is ``identity``, the
    row's own id, unique on its own, so that ``session.get(Document, id)`` needs no record id.

    The ORM's own UPDATE and DELETE still name the record: SQLAlchemy writes a row by its table's primary key,
    (record_id, id), whatever the mapper's identity (``WHERE record_id = ? AND id = ?``), so that a database
    distributed by record sends the statement to the one node holding that record instead of to every node
    (docs/operations.md, "Scale-out"). A row whose record id is not the one the object holds is not written
    (StaleDataError).
    """
    return {"primary_key": list(identity)}


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def insert_for(session: Session):  # type: ignore[no-untyped-def]
    """The session's dialect's INSERT, which knows ON CONFLICT (both databases speak it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgresql"):
        url = libpq_hosts(url)
        # A pooled connection may point at a server that is gone (a failover, a restart): test it when it is
        # taken from the pool, so that the next transaction runs on a new connection to the current primary
        # instead of failing (docs/adr/0033-high-availability-and-distribution.md).
        kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def libpq_hosts(url: str) -> str:
    """A libpq multi-host URL (``postgresql://u@h1:p1,h2:p2/db?target_session_attrs=read-write``) in the form
    SQLAlchemy parses (``postgresql+psycopg://u@/db?host=h1:p1&host=h2:p2&...``); other URLs unchanged.

    SQLAlchemy's URL parser takes one host and port only; libpq, given several, tries them in order and, with
    ``target_session_attrs=read-write``, keeps the first that accepts writes: the primary, wherever it is now.
    """
    scheme, separator, rest = url.partition("://")
    authority, _, tail = rest.partition("/")
    user, at, hosts = authority.rpartition("@")
    if not separator or "," not in hosts:
        return url
    path, _, query = tail.partition("?")
    host_params = "&".join(f"host={quote(host.strip(), safe=':[]')}" for host in hosts.split(",") if host.strip())
    query = f"{host_params}&{query}" if query else host_params
    return f"{scheme}://{user}{at}/{path}?{query}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not pysqlite, issue BEGIN (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
    # Take the write lock at the start of each transaction, so that two writers
    # serialise instead of failing half-way (the trace chain reads, then writes).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
