"""libpq's multi-host URLs, which SQLAlchemy's URL parser refuses, reach libpq whole (docs/operations.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url

from opendsp.backup.services import _libpq_environment
from opendsp.db import libpq_hosts, make_engine
from opendsp.migrations.roles import user_of

URL = "postgresql://opendsp:s%40cret@db1:5432,db2:5433,10.0.0.3:5434/dsp?target_session_attrs=read-write"


def test_a_multi_host_url_is_given_to_libpq_as_a_list_of_hosts() -> None:
    with pytest.raises(ValueError):
        make_url(URL)  # why the rewrite exists
    engine = make_engine(URL)
    arguments = engine.dialect.create_connect_args(engine.url)[1]
    assert arguments["host"] == "db1,db2,10.0.0.3" and arguments["port"] == "5432,5433,5434"
    assert arguments["target_session_attrs"] == "read-write" and arguments["dbname"] == "dsp"
    assert arguments["user"] == "opendsp" and arguments["password"] == "s@cret"
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()


def test_single_host_and_sqlite_urls_are_left_as_they_are() -> None:
    for url in ["postgresql://u@db1:5432/dsp", "postgresql+psycopg://u@db1/dsp?sslmode=require",
                "sqlite:///var/opendsp.db"]:
        assert libpq_hosts(url) == url
    assert libpq_hosts("postgresql://u@h1,h2/dsp") == "postgresql://u@/dsp?host=h1&host=h2"


def test_the_roles_and_backup_commands_read_a_multi_host_url() -> None:
    assert user_of(URL) == "opendsp"
    environment = _libpq_environment(URL)
    assert environment["PGHOST"] == "db1,db2,10.0.0.3" and environment["PGPORT"] == "5432,5433,5434"
    assert environment["PGTARGETSESSIONATTRS"] == "read-write" and environment["PGDATABASE"] == "dsp"
    assert environment["PGUSER"] == "opendsp" and environment["PGPASSWORD"] == "s@cret"
