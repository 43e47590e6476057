"""notifications: assistant invitations go through the outbox (the outbox row names its invitation)

Revision ID: 0020
Revises: 0019
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("invitation_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(batch.f("fk_outbox_messages_invitation_id_assistant_invitations"),
                                 "assistant_invitations", ["invitation_id"], ["id"])
        batch.create_index(batch.f("ix_outbox_messages_invitation_id"), ["invitation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_index(batch.f("ix_outbox_messages_invitation_id"))
        batch.drop_constraint(batch.f("fk_outbox_messages_invitation_id_assistant_invitations"), type_="foreignkey")
        batch.drop_column("invitation_id")
