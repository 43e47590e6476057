"""scale-out: every clinical table keyed within its record, and clinical foreign keys that carry the record id

Each clinical table gets a unique key led by ``record_id`` (where its primary key or another unique key did
not hold the record id already); where the table had an index on ``record_id`` alone, the new key replaces it
(it serves the same lookups). Every foreign key from one clinical table to another becomes
``(record_id, column) → parent (record_id, id)``: a row can no longer point at another record's row, and the
tables can be distributed by record (Citus) with both rows on one node. docs/adr/0033-high-availability-and-
distribution.md; tests/operations/test_distribution.py.

Data: no value changes. Before the keys are made, every existing link is checked to join two rows of the
same record; a database where one does not is refused with the counts, and nothing is changed.

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# table: the columns after record_id in its record key
RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "assistant_delegations": ("id",),
    "assistant_invitations": ("id",),
    "blocked_professionals": ("id",),
    "circle_members": ("id",),
    "documents": ("id",),
    "emergency_accesses": ("id",),
    "fhir_folders": ("id",),
    "fhir_submission_sets": ("id",),
    "institutional_refusals": ("id",),
    "notifications": ("id",),
    "presence_grants": ("id",),
    "record_state_changes": ("id",),
    "stays": ("id",),
    "wishes": ("id",),
    "fhir_document_context": ("id",),
    "fhir_document_relations": ("id",),
    "search_terms": ("id",),
    "stay_movements": ("id",),
    "structured_entries": ("id",),
    "structured_codes": ("id",),
    "document_named_professionals": ("document_id", "professional_id"),
    "fhir_folder_entries": ("folder_id", "document_id"),
    "fhir_submitted_documents": ("document_id",),
    "imported_documents": ("document_id",),
    "pending_content": ("content_key",),
}

# The indexes on record_id alone that the record keys replace.
REPLACED_INDEXES: dict[str, str] = {
    "documents": "ix_documents_record_id",
    "assistant_invitations": "ix_assistant_invitations_record_id",
    "fhir_folders": "ix_fhir_folders_record_id",
    "fhir_submission_sets": "ix_fhir_submission_sets_record_id",
    "institutional_refusals": "ix_institutional_refusals_record",
    "record_state_changes": "ix_record_state_changes_record_id",
    "document_named_professionals": "ix_document_named_professionals_record_id",
    "fhir_document_relations": "ix_fhir_document_relations_record_id",
    "fhir_folder_entries": "ix_fhir_folder_entries_record_id",
    "fhir_submitted_documents": "ix_fhir_submitted_documents_record_id",
    "imported_documents": "ix_imported_documents_record_id",
    "stay_movements": "ix_stay_movements_record_id",
}

# (table, column, parent table): a link from one clinical row to another of the same record.
LINKS: list[tuple[str, str, str]] = [
    ("documents", "replaces_id", "documents"),
    ("document_named_professionals", "document_id", "documents"),
    ("fhir_document_context", "document_id", "documents"),
    ("fhir_document_relations", "document_id", "documents"),
    ("fhir_document_relations", "target_id", "documents"),
    ("fhir_folder_entries", "document_id", "documents"),
    ("fhir_folder_entries", "folder_id", "fhir_folders"),
    ("fhir_submitted_documents", "document_id", "documents"),
    ("fhir_submitted_documents", "submission_set_id", "fhir_submission_sets"),
    ("imported_documents", "document_id", "documents"),
    ("search_terms", "document_id", "documents"),
    ("stay_movements", "stay_id", "stays"),
    ("structured_entries", "document_id", "documents"),
    ("structured_codes", "entry_id", "structured_entries"),
]


def _check_links() -> None:
    """Refuse, changing nothing, a database where a link joins two records (the new keys could not hold)."""
    bind = op.get_bind()
    crossing = []
    for table, column, parent in LINKS:
        count = bind.execute(sa.text(
            f"SELECT count(*) FROM {table} child JOIN {parent} target ON target.id = child.{column} "
            "WHERE target.record_id <> child.record_id")).scalar_one()
        if count:
            crossing.append(f"{table}.{column}: {count}")
    if crossing:
        raise RuntimeError("rows that point at another record's rows (fix them, then migrate again): "
                           + ", ".join(crossing))


def _tables_with_links() -> dict[str, list[tuple[str, str]]]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for table, column, parent in LINKS:
        grouped.setdefault(table, []).append((column, parent))
    return grouped


def upgrade() -> None:
    _check_links()
    for table, columns in RECORD_KEYS.items():
        op.create_index(f"uq_{table}_record_key", table, ["record_id", *columns], unique=True)
    for table, index in REPLACED_INDEXES.items():
        op.drop_index(index, table_name=table)
    inspector = sa.inspect(op.get_bind())
    for table, links in _tables_with_links().items():
        # The old single-column keys, by what they hold (their names differ: PostgreSQL shortens long ones).
        names = {tuple(fk["constrained_columns"]): fk["name"] for fk in inspector.get_foreign_keys(table)}
        with op.batch_alter_table(table) as batch:
            for column, parent in links:
                batch.drop_constraint(names[(column,)], type_="foreignkey")
                batch.create_foreign_key(f"fk_{table}_{column}_in_record", parent, ["record_id", column],
                                         ["record_id", "id"])


def downgrade() -> None:
    for table, links in _tables_with_links().items():
        with op.batch_alter_table(table) as batch:
            for column, parent in links:
                batch.drop_constraint(f"fk_{table}_{column}_in_record", type_="foreignkey")
                batch.create_foreign_key(f"fk_{table}_{column}_{parent}"[:63], parent, [column], ["id"])
    for table, index in REPLACED_INDEXES.items():
        op.create_index(index, table, ["record_id"])
    for table in RECORD_KEYS:
        op.drop_index(f"uq_{table}_record_key", table_name=table)
