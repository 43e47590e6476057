"""importing: the source identifier of each imported document, and the journal of finished batches

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendsp.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_documents",
        sa.Column("source", sa.String(length=64), primary_key=True),
        sa.Column("source_id", sa.String(length=200), primary_key=True),
        sa.Column("document_id", sa.Uuid(), sa.ForeignKey("documents.id"), nullable=False, unique=True),
        sa.Column("record_id", sa.Uuid(), sa.ForeignKey("records.id"), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
    )
    op.create_index("ix_imported_documents_record_id", "imported_documents", ["record_id"])
    op.create_table(
        "import_batches",
        sa.Column("source", sa.String(length=64), primary_key=True),
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_batches")
    op.drop_index("ix_imported_documents_record_id", table_name="imported_documents")
    op.drop_table("imported_documents")
