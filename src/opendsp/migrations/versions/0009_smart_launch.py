"""smart launch: SMART apps (redirect URIs, public clients, apps for persons), authorization codes;
the MHD document context kept for search (practiceSetting, context.event, context.related)

Revision ID: 0009
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0009"
# 0008 is being added in parallel; whoever merges both sets this to "0008".
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("organisation_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column("jwks", existing_type=sa.JSON(), nullable=True)
        batch_op.add_column(sa.Column("redirect_uris", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("users", sa.Enum("professionals", "persons", name="clientusers",
                                                       native_enum=False, length=16),
                                      nullable=False, server_default="professionals"))

    op.create_table(
        "smart_authorization_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=2000), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("professional_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_smart_authorization_codes_account_id_accounts")),
        sa.ForeignKeyConstraint(["professional_id"], ["professionals.id"],
                                name=op.f("fk_smart_authorization_codes_professional_id_professionals")),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_smart_authorization_codes_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_smart_authorization_codes_person_id_persons")),
        sa.ForeignKeyConstraint(["patient_id"], ["persons.id"],
                                name=op.f("fk_smart_authorization_codes_patient_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smart_authorization_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_smart_authorization_codes_code_hash")),
    )
    op.create_index("ix_smart_authorization_codes_expires", "smart_authorization_codes", ["expires_at"],
                    unique=False)

    op.create_table(
        "fhir_document_context",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("element", sa.Enum("setting", "event", "related", name="contextelement", native_enum=False,
                                     length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=500), nullable=True),
        sa.Column("code", sa.String(length=500), nullable=True),
        sa.Column("display", sa.String(length=500), nullable=True),
        sa.Column("reference", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name=op.f("fk_fhir_document_context_document_id_documents")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_fhir_document_context_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_document_context")),
    )
    op.create_index("ix_fhir_document_context_document", "fhir_document_context", ["document_id", "element"],
                    unique=False)
    op.create_index("ix_fhir_document_context_code", "fhir_document_context", ["record_id", "element", "code"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_fhir_document_context_code", table_name="fhir_document_context")
    op.drop_index("ix_fhir_document_context_document", table_name="fhir_document_context")
    op.drop_table("fhir_document_context")
    op.drop_index("ix_smart_authorization_codes_expires", table_name="smart_authorization_codes")
    op.drop_table("smart_authorization_codes")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("users")
        batch_op.drop_column("redirect_uris")
        batch_op.alter_column("jwks", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("organisation_id", existing_type=sa.Uuid(), nullable=False)
