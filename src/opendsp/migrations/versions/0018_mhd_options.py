"""fhir: MHD options — folders and their entries, relations between documents, the content's SHA-1

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendsp.db import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_submitted_documents") as batch:
        batch.add_column(sa.Column("content_sha1", sa.String(length=28), nullable=True))
    op.create_table(
        "fhir_document_relations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_fhir_document_relations_document_id_documents")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_fhir_document_relations_record_id_records")),
        sa.ForeignKeyConstraint(["target_id"], ["documents.id"],
                                name=op.f("fk_fhir_document_relations_target_id_documents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_document_relations")),
    )
    with op.batch_alter_table("fhir_document_relations") as batch:
        batch.create_index(batch.f("ix_fhir_document_relations_document_id"), ["document_id"], unique=False)
        batch.create_index(batch.f("ix_fhir_document_relations_record_id"), ["record_id"], unique=False)
    op.create_table(
        "fhir_folders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("unique_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_fhir_folders_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_folders")),
        sa.UniqueConstraint("record_id", "unique_id", name=op.f("uq_fhir_folders_record_id")),
    )
    with op.batch_alter_table("fhir_folders") as batch:
        batch.create_index(batch.f("ix_fhir_folders_record_id"), ["record_id"], unique=False)
    op.create_table(
        "fhir_folder_entries",
        sa.Column("folder_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_fhir_folder_entries_document_id_documents")),
        sa.ForeignKeyConstraint(["folder_id"], ["fhir_folders.id"], name=op.f("fk_fhir_folder_entries_folder_id_fhir_folders")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_fhir_folder_entries_record_id_records")),
        sa.PrimaryKeyConstraint("folder_id", "document_id", name=op.f("pk_fhir_folder_entries")),
    )
    with op.batch_alter_table("fhir_folder_entries") as batch:
        batch.create_index(batch.f("ix_fhir_folder_entries_record_id"), ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_table("fhir_folder_entries")
    op.drop_table("fhir_folders")
    op.drop_table("fhir_document_relations")
    with op.batch_alter_table("fhir_submitted_documents") as batch:
        batch.drop_column("content_sha1")
