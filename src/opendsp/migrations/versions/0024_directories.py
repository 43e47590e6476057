"""directories: the record of a person on the person, and the record of a document by the document's id

Two questions the outside world asks without naming a record: "whose record is this person's" (a login, a
patient search, an HL7 message name a person) and "whose document is this" (FHIR's ``DocumentReference/{id}``
and ``Binary/{id}`` name the document alone). Each becomes a lookup by its own key, answered on one node when
the tables are distributed by record (docs/adr/0043-directories.md):

- ``persons.record_id`` (unique, NULL until the record is created): the person's record, written with it. The
  unique key on ``records.person_id`` goes (a distributed table cannot keep it); one record per person is held
  by ``persons.record_id``, written only where it is NULL. ``records.person_id`` stays, indexed: the record
  names its holder, and the policy-version triggers (0022) find a person's record by it.
- ``document_directory(document_id, record_id)``: written with every document, distributed by document id.

Data: both filled from the rows as they are.

Revision ID: 0024
Revises: 0022
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


@contextmanager
def _records_rebuilt() -> Iterator[BatchOperations]:
    """``records`` altered; on SQLite, rebuilt under another name and renamed back. The policy-version triggers
    of other tables (0022) name ``records`` in their bodies: SQLite's rename checks them and refuses while the
    old table is gone, unless told to rename as it did before 3.26 (the triggers then find the new table by
    its name)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = ON")
    try:
        with op.batch_alter_table("records") as batch:
            yield batch
    finally:
        if sqlite:
            op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    op.add_column("persons", sa.Column("record_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE persons SET record_id = (SELECT records.id FROM records WHERE records.person_id = persons.id)")
    op.create_index("uq_persons_record_id", "persons", ["record_id"], unique=True)
    with _records_rebuilt() as batch:
        batch.drop_constraint("uq_records_person_id", type_="unique")
        batch.create_index("ix_records_person_id", ["person_id"], unique=False)
    op.create_table(
        "document_directory",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_directory")),
    )
    op.execute("INSERT INTO document_directory (document_id, record_id) SELECT id, record_id FROM documents")


def downgrade() -> None:
    op.drop_table("document_directory")
    with _records_rebuilt() as batch:
        batch.drop_index("ix_records_person_id")
        batch.create_unique_constraint("uq_records_person_id", ["person_id"])
    op.drop_index("uq_persons_record_id", table_name="persons")
    op.drop_column("persons", "record_id")
