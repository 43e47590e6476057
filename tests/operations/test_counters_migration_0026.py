"""Migration 0026: the triggers of reference and platform tables go (the application moves their counters,
opendsp.counters); downgraded, they come back exactly as 0022 made them; those of the tables distributed by record
stay throughout."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.migrations import alembic_config, upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings

DROPPED = {"accounts", "professionals", "professional_organisations", "clients", "smart_authorization_codes",
           "persons", "legal_representations"}


def _triggers(engine: Engine) -> dict[str, str]:
    """Each trigger of the schema by name, with its definition (and, on PostgreSQL, its function's body)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))
            return {name: f"{table}: {sql}" for name, table, sql in rows}
        rows = connection.execute(text(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"))
        return {name: f"{table}: {definition} {body}" for name, table, definition, body in rows}


def test_the_triggers_of_reference_and_platform_tables_go_and_come_back(tmp_path: Path, database_url: str) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast")
    platform = Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(5))
    engine = platform.engine
    assert engine is not None
    config = alembic_config(engine)
    command.upgrade(config, "0025")
    made = _triggers(engine)
    assert {definition.split(":")[0] for definition in made.values()} >= DROPPED  # 0022's, on every one of them

    upgrade(engine)
    kept = _triggers(engine)
    assert not {name for name, definition in kept.items() if definition.split(":")[0] in DROPPED}
    assert kept == {name: definition for name, definition in made.items() if definition.split(":")[0] not in DROPPED}
    assert "stays" in {definition.split(":")[0] for definition in kept.values()}

    command.downgrade(config, "0025")
    assert _triggers(engine) == made
    upgrade(engine)
    assert _triggers(engine) == kept
    engine.dispose()
