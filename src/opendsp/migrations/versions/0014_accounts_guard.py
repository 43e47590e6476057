"""accounts guard: throttles in the database, e-mailed unlock links, step-up time, account e-mails in the outbox

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttles",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("started_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_throttles_account_id_accounts")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttles")),
    )
    op.create_index(op.f("ix_throttles_account_id"), "throttles", ["account_id"], unique=False)
    op.create_table(
        "unlock_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_unlock_links_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unlock_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_unlock_links_token_hash")),
    )
    op.create_index(op.f("ix_unlock_links_account_id"), "unlock_links", ["account_id"], unique=False)
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("reauthenticated_at", opendsp.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch.alter_column("notification_id", existing_type=sa.Uuid(), nullable=True)
        batch.alter_column("record_id", existing_type=sa.Uuid(), nullable=True)
        batch.alter_column("person_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(op.f("fk_outbox_messages_account_id_accounts"), "accounts", ["account_id"], ["id"])
        batch.create_index(op.f("ix_outbox_messages_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM outbox_messages WHERE account_id IS NOT NULL")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_index(op.f("ix_outbox_messages_account_id"))
        batch.drop_constraint(op.f("fk_outbox_messages_account_id_accounts"), type_="foreignkey")
        batch.alter_column("person_id", existing_type=sa.Uuid(), nullable=False)
        batch.alter_column("record_id", existing_type=sa.Uuid(), nullable=False)
        batch.alter_column("notification_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("account_id")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("reauthenticated_at")
    op.drop_index(op.f("ix_unlock_links_account_id"), table_name="unlock_links")
    op.drop_table("unlock_links")
    op.drop_index(op.f("ix_throttles_account_id"), table_name="throttles")
    op.drop_table("throttles")
