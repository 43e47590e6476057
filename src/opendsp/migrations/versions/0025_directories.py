"""directories: MHD identifiers, invitation tokens, visit numbers and the import journal, keyed by what callers hold

Four keys the outside world holds without the record were kept unique over all records by the clinical tables
themselves, which a database distributed by record cannot enforce (Citus keeps a unique key only when it holds
the distribution column). Each becomes a directory, a table of its own keyed by that key alone, distributed by
it, mapping it to the record (``Kind.directory`` in opendsp/distribution.py; docs/operations.md, "Scale-out"):

- ``master_identifiers`` (value → record, document): MHD's masterIdentifier, from ``fhir_submitted_documents``,
  which loses its unique key on the identifier;
- ``invitation_tokens`` (token digest → record, invitation): from ``assistant_invitations``, which loses its
  unique key on the digest;
- ``visit_numbers`` ((visit number, hospital) → record, stay): from ``stays``, which loses its unique key on
  (organisation, visit number);
- ``imported_documents`` was already keyed by (source, source identifier): it keeps its rows and loses its
  foreign keys to records and documents and its keys on the document.

Data: each new directory is filled from the rows it names; no value changes. On SQLite, ``stays`` is rebuilt to
lose its key and its triggers (0022) are made again as they were.

Revision ID: 0025
Revises: 0024
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _triggers(table: str) -> list[str]:
    """SQLite: the statements that made ``table``'s triggers (a rebuild of the table drops them)."""
    return list(op.get_bind().execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table ORDER BY name"),
        {"table": table}).scalars())


def _rebuilt(table: str, change: Callable[[BatchOperations], None]) -> None:
    """Alter ``table`` (a rebuild on SQLite), keeping its triggers."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    triggers = _triggers(table) if sqlite else []
    with op.batch_alter_table(table) as batch:
        change(batch)
    if triggers:
        kept = set(_triggers(table))
        for statement in triggers:
            if statement not in kept:
                op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "master_identifiers",
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("value", name=op.f("pk_master_identifiers")),
    )
    op.execute("INSERT INTO master_identifiers (value, record_id, document_id) "
               "SELECT master_identifier, record_id, document_id FROM fhir_submitted_documents")
    _rebuilt("fhir_submitted_documents",
             lambda batch: batch.drop_constraint("uq_fhir_submitted_documents_master_identifier", type_="unique"))

    op.create_table(
        "invitation_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_invitation_tokens")),
    )
    op.execute("INSERT INTO invitation_tokens (token_hash, record_id, invitation_id) "
               "SELECT token_hash, record_id, id FROM assistant_invitations")
    _rebuilt("assistant_invitations",
             lambda batch: batch.drop_constraint("uq_assistant_invitations_token_hash", type_="unique"))

    op.create_table(
        "visit_numbers",
        sa.Column("visit_number", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("stay_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_visit_numbers_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("visit_number", "organisation_id", name=op.f("pk_visit_numbers")),
    )
    op.execute("INSERT INTO visit_numbers (visit_number, organisation_id, record_id, stay_id) "
               "SELECT visit_number, organisation_id, record_id, id FROM stays")
    _rebuilt("stays", lambda batch: batch.drop_constraint("uq_stays_organisation_id", type_="unique"))

    op.drop_index("uq_imported_documents_record_key", table_name="imported_documents")

    def loosen(batch: BatchOperations) -> None:
        batch.drop_constraint("fk_imported_documents_document_id_in_record", type_="foreignkey")
        batch.drop_constraint("fk_imported_documents_record_id_records", type_="foreignkey")
        batch.drop_constraint("uq_imported_documents_document_id", type_="unique")

    _rebuilt("imported_documents", loosen)


def downgrade() -> None:
    def tighten(batch: BatchOperations) -> None:
        batch.create_unique_constraint("uq_imported_documents_document_id", ["document_id"])
        batch.create_foreign_key("fk_imported_documents_record_id_records", "records", ["record_id"], ["id"])
        batch.create_foreign_key("fk_imported_documents_document_id_in_record", "documents",
                                 ["record_id", "document_id"], ["record_id", "id"])

    _rebuilt("imported_documents", tighten)
    op.create_index("uq_imported_documents_record_key", "imported_documents", ["record_id", "document_id"],
                    unique=True)
    _rebuilt("stays", lambda batch: batch.create_unique_constraint("uq_stays_organisation_id",
                                                                   ["organisation_id", "visit_number"]))
    op.drop_table("visit_numbers")
    _rebuilt("assistant_invitations",
             lambda batch: batch.create_unique_constraint("uq_assistant_invitations_token_hash", ["token_hash"]))
    op.drop_table("invitation_tokens")
    _rebuilt("fhir_submitted_documents", lambda batch: batch.create_unique_constraint(
        "uq_fhir_submitted_documents_master_identifier", ["master_identifier"]))
    op.drop_table("master_identifiers")
