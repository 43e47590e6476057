"""Fixtures shared by the whole suite.

Every database test runs twice: on SQLite and on PostgreSQL. The PostgreSQL
run needs ``OPENDSP_TEST_DATABASE_URL``; without it those tests are skipped,
saying so. Each test gets a fresh, migrated database (a new SQLite file, or a
new PostgreSQL schema) so that tests which commit stay independent: a copy of
the database the migrations made once per test process (tests/migrated.py).
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.db import make_engine
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings
from tests.migrated import Templates, copy_sqlite, replay

# The whole run's server logs are checked for national numbers, search terms and query strings.
pytest_plugins = ("tests.log_watch",)
POSTGRES_URL = os.environ.get("OPENDSP_TEST_DATABASE_URL")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # The command line's messages (rich) wrap at the terminal's width, 80 columns when there is none; a message
    # naming a temporary file wraps where that path's length puts it, and a worker's paths are longer (popen-gwN/).
    # A worker prints to no terminal: its commands, run in-process or as subprocesses, write lines unwrapped.
    os.environ["COLUMNS"] = "1000"
BACKENDS = ["sqlite", "postgresql"]


def _postgres_reachable() -> str | None:
    """None when PostgreSQL can be used, else the reason to skip."""
    if not POSTGRES_URL:
        return "OPENDSP_TEST_DATABASE_URL is not set: PostgreSQL tests skipped (SQLite tests still run)"
    try:
        engine = make_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means: skip, and say why
        return f"PostgreSQL at OPENDSP_TEST_DATABASE_URL is not reachable: {error.__class__.__name__}"
    return None


_POSTGRES_SKIP: list[str | None] = []


def postgres_skip_reason() -> str | None:
    if not _POSTGRES_SKIP:
        _POSTGRES_SKIP.append(_postgres_reachable())
    return _POSTGRES_SKIP[0]


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'opendsp.db'}"
        return
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    assert POSTGRES_URL
    schemas: SchemaDropper = request.getfixturevalue("schema_dropper")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with schemas.admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _with_search_path(POSTGRES_URL, schema)
    finally:
        schemas.drop(schema)


class SchemaDropper:
    """Drops the tests' PostgreSQL schemas in a thread of its own, while the next tests run."""

    def __init__(self, url: str) -> None:
        self.admin = make_engine(url)
        self.failures: list[str] = []
        self.waiting: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._drop_each, name="schema-dropper", daemon=True)
        self.thread.start()

    def drop(self, schema: str) -> None:
        self.waiting.put(schema)

    def _drop_each(self) -> None:
        while (schema := self.waiting.get()) is not None:
            try:
                with self.admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            except Exception as error:  # noqa: BLE001 - reported when the run ends
                self.failures.append(f"{schema}: {error}")

    def finish(self) -> list[str]:
        self.waiting.put(None)
        self.thread.join()
        self.admin.dispose()
        return self.failures


@pytest.fixture(scope="session")
def schema_dropper() -> Iterator[SchemaDropper]:
    assert POSTGRES_URL
    dropper = SchemaDropper(POSTGRES_URL)
    yield dropper
    failures = dropper.finish()
    assert not failures, f"test schemas that could not be dropped: {failures}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # Cheap argon2 for passwords and account codes (the "fast" profile, refused in production), as the portals'
    # tests already use: no test here is about the cost of a hash, and each standard one costs 64 MiB and 3 passes.
    return Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast")


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("migrated"))


def migrate(templates: Templates, platform: Platform) -> None:
    """The platform's database migrated: a copy of this process's template where it is ours, else the migrations.

    Called before the platform's engine first connects (a new SQLite file is not yet made).
    """
    assert platform.engine is not None
    url = platform.settings.database_url
    if POSTGRES_URL and url.startswith(_with_search_path(POSTGRES_URL, "t_")):
        copied = replay(platform.engine, templates.postgres(POSTGRES_URL, _with_search_path))
    else:
        copied = platform.engine.dialect.name == "sqlite" and copy_sqlite(templates, url)
    if not copied:  # a database the test made itself: its own migrations, as before
        upgrade(platform.engine)


@pytest.fixture
def platform(settings: Settings, clock: FrozenClock, migrated_templates: Templates) -> Iterator[Platform]:
    platform = Platform(settings=settings, clock=clock, randomness=SeededRandomness(7))
    assert platform.engine is not None
    migrate(migrated_templates, platform)
    yield platform
    platform.engine.dispose()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marker into the test's id
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, a module's tests that share a module-scoped fixture (a server process, a loaded demo)
    run in one worker (--dist loadgroup), which then starts it once instead of once per worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        if any(defs and defs[-1].scope in ("module", "class", "package") for defs in definitions):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
