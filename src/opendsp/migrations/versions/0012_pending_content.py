"""pending content: the blobs deposits are writing, so that store check leaves them alone

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_content",
        sa.Column("content_key", sa.String(length=200), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("content_key", name=op.f("pk_pending_content")),
    )


def downgrade() -> None:
    op.drop_table("pending_content")
