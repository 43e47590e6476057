"""structured: the index of the entries of structured (FHIR document) documents, codes as keyed HMACs

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "structured_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("effective_at", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_structured_entries_document_id_documents")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_structured_entries_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_structured_entries")),
    )
    op.create_index("ix_structured_entries_record_type", "structured_entries",
                    ["record_id", "resource_type", "effective_at"], unique=False)
    op.create_index(op.f("ix_structured_entries_document_id"), "structured_entries", ["document_id"], unique=False)
    op.create_table(
        "structured_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["structured_entries.id"],
                                name=op.f("fk_structured_codes_entry_id_structured_entries")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_structured_codes_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_structured_codes")),
    )
    op.create_index("ix_structured_codes_record_token", "structured_codes", ["record_id", "token"], unique=False)
    op.create_index(op.f("ix_structured_codes_entry_id"), "structured_codes", ["entry_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_structured_codes_entry_id"), table_name="structured_codes")
    op.drop_index("ix_structured_codes_record_token", table_name="structured_codes")
    op.drop_table("structured_codes")
    op.drop_index(op.f("ix_structured_entries_document_id"), table_name="structured_entries")
    op.drop_index("ix_structured_entries_record_type", table_name="structured_entries")
    op.drop_table("structured_entries")
