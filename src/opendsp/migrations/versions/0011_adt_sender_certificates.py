"""adt sender certificates: each HL7 v2 sender bound to the client certificates it presents over MLLP/TLS

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adt_sender_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("not_after", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["adt_senders.id"], name=op.f("fk_adt_sender_certificates_sender_id_adt_senders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adt_sender_certificates")),
        sa.UniqueConstraint("sender_id", "sha256", name=op.f("uq_adt_sender_certificates_sender_id")),
    )
    op.create_index("ix_adt_sender_certificates_sha256", "adt_sender_certificates", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_adt_sender_certificates_sha256", table_name="adt_sender_certificates")
    op.drop_table("adt_sender_certificates")
