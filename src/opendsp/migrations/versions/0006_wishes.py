"""wishes: the holder's recorded wishes (organ donation, ...) with their history

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wishes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("set_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_wishes_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishes")),
    )
    op.create_index("ix_wishes_record_kind_set", "wishes", ["record_id", "kind", "set_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wishes_record_kind_set", table_name="wishes")
    op.drop_table("wishes")
