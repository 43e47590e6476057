"""jobs: the work an act leaves for the worker (keyword indexing, notification fan-out), written with the act

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendsp.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Enum("index_document", "fan_out", name="jobkind", native_enum=False, length=32),
                  nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("trace_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("state", sa.Enum("pending", "running", "failed", name="jobstate", native_enum=False, length=16),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name=op.f("fk_jobs_document_id_documents")),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"],
                                name=op.f("fk_jobs_notification_id_notifications")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_jobs_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_state_due", "jobs", ["state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_jobs_record_id"), "jobs", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_record_id"), table_name="jobs")
    op.drop_index("ix_jobs_state_due", table_name="jobs")
    op.drop_table("jobs")
