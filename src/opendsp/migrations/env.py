from __future__ import annotations

from alembic import context
from sqlalchemy import text

from opendsp.migrations.citus import distributed
from opendsp.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, drop, rename): with foreign keys enforced, dropping a table that
        # other rows point at fails. SQLite's own procedure for such changes: enforcement off (outside any
        # transaction: a pragma inside one does nothing), the change, then a check of every key before commit.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            if distributed(connection):
                # Citus runs a statement on many shards over several connections to a node unless told otherwise;
                # a later statement of the same transaction that must use one connection per node (creating a
                # distributed table, a key to a reference table) is then refused. One connection per node from
                # the start (docs/adr/0046).
                connection.execute(text("SET LOCAL citus.multi_shard_modify_mode = 'sequential'"))
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:10]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
