"""outbox: e-mails about notifications, sent by the worker; each person's choice of kinds by e-mail

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendsp.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("shown_from", opendsp.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("state", sa.Enum("pending", "sending", "sent", "failed", name="deliverystate", native_enum=False,
                                   length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", opendsp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"],
                                name=op.f("fk_outbox_messages_notification_id_notifications")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_outbox_messages_person_id_persons")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_outbox_messages_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_messages_message_id")),
        sa.UniqueConstraint("notification_id", "person_id", name=op.f("uq_outbox_messages_notification_id")),
    )
    op.create_index("ix_outbox_messages_state_due", "outbox_messages", ["state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_outbox_messages_record_id"), "outbox_messages", ["record_id"], unique=False)
    op.create_index(op.f("ix_outbox_messages_person_id"), "outbox_messages", ["person_id"], unique=False)
    op.create_table(
        "notification_preferences",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("by_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", opendsp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_notification_preferences_person_id_persons")),
        sa.PrimaryKeyConstraint("person_id", "kind", name=op.f("pk_notification_preferences")),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    op.drop_index(op.f("ix_outbox_messages_person_id"), table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_record_id"), table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_state_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("shown_from")
