"""clients: the scopes each client may be granted, and the professionals it may name

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Clients registered before this revision keep what backend software needs (docs/fhir.md, "Scopes"):
# reading and searching, and depositing, replacing and withdrawing documents and reporting stays.
EXISTING_CLIENTS_SCOPES = "system/*.rs system/DocumentReference.cu system/Encounter.cu"


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("allowed_scopes", sa.String(length=2000), nullable=False,
                                   server_default=EXISTING_CLIENTS_SCOPES))
        batch.add_column(sa.Column("professionals", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("professionals")
        batch.drop_column("allowed_scopes")
