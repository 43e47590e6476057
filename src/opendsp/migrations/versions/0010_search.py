"""search: keyword search index, keyed HMAC tokens of normalised stems with a weight

Revision ID: 0010
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name=op.f("fk_search_terms_document_id_documents")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_search_terms_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_terms")),
    )
    op.create_index("ix_search_terms_record_token", "search_terms", ["record_id", "token"], unique=False)
    op.create_index("ix_search_terms_document", "search_terms", ["document_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_search_terms_document", table_name="search_terms")
    op.drop_index("ix_search_terms_record_token", table_name="search_terms")
    op.drop_table("search_terms")
