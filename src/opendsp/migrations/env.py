from __future__ import annotations

from alembic import context

from opendsp.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # SQLAlchemy's engine-level BEGIN is already open; Alembic must not nest another.
    context.run_migrations()
