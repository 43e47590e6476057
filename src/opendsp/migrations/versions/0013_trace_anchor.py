"""trace anchor: checkpoints noted in the database, chain heads that only move forward

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
HEAD_MESSAGE = "a trace chain head only moves forward, onto the entry appended"


def upgrade() -> None:
    op.create_table(
        "trace_checkpoints",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_trace_checkpoints")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    # A fixed search path (pg_temp last): no one's temporary table can stand in for trace_entries.
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    op.execute(
        f"""
        CREATE FUNCTION opendsp_trace_head_forward() RETURNS trigger LANGUAGE plpgsql
        SET search_path = "{schema}", pg_temp AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND (NEW.chain <> OLD.chain OR NEW.last_seq <= OLD.last_seq) THEN
                RAISE EXCEPTION '{HEAD_MESSAGE}: chain % may not go from position % to %',
                    OLD.chain, OLD.last_seq, NEW.last_seq USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NEW.last_seq = 0 AND NEW.last_hash = '{GENESIS_HASH}' THEN
                RETURN NEW;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM trace_entries
                           WHERE chain = NEW.chain AND seq = NEW.last_seq AND hash = NEW.last_hash) THEN
                RAISE EXCEPTION '{HEAD_MESSAGE}: chain % holds no entry % with that hash', NEW.chain, NEW.last_seq
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER trace_chain_heads_forward BEFORE INSERT OR UPDATE ON trace_chain_heads "
        "FOR EACH ROW EXECUTE FUNCTION opendsp_trace_head_forward()"
    )
    for table in ("trace_chain_heads", "trace_checkpoints"):
        operations = "DELETE" if table == "trace_chain_heads" else "UPDATE OR DELETE"
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE {operations} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION opendsp_trace_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION opendsp_trace_append_only()"
        )


def _sqlite_triggers() -> None:
    on_an_entry = (
        "EXISTS (SELECT 1 FROM trace_entries WHERE chain = NEW.chain AND seq = NEW.last_seq "
        "AND hash = NEW.last_hash)"
    )
    refuse = f"BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}'); END"
    op.execute(
        "CREATE TRIGGER trace_chain_heads_forward BEFORE UPDATE ON trace_chain_heads "
        f"WHEN NEW.chain <> OLD.chain OR NEW.last_seq <= OLD.last_seq OR NOT {on_an_entry} {refuse}"
    )
    op.execute(
        "CREATE TRIGGER trace_chain_heads_start BEFORE INSERT ON trace_chain_heads "
        f"WHEN NOT (NEW.last_seq = 0 AND NEW.last_hash = '{GENESIS_HASH}') AND NOT {on_an_entry} {refuse}"
    )
    op.execute(
        "CREATE TRIGGER trace_chain_heads_no_delete BEFORE DELETE ON trace_chain_heads "
        "BEGIN SELECT RAISE(ABORT, 'the trace is append-only: DELETE on trace_chain_heads is refused'); END"
    )
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER trace_checkpoints_no_{operation.lower()} BEFORE {operation} ON trace_checkpoints "
            f"BEGIN SELECT RAISE(ABORT, 'the trace is append-only: {operation} on trace_checkpoints is refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in (("trace_chain_heads_forward", "trace_chain_heads"),
                               ("trace_chain_heads_append_only", "trace_chain_heads"),
                               ("trace_chain_heads_no_truncate", "trace_chain_heads")):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS opendsp_trace_head_forward()")
    else:
        for trigger in ("trace_chain_heads_forward", "trace_chain_heads_start", "trace_chain_heads_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table("trace_checkpoints")
