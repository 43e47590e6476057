"""scale-out: clinical primary keys hold the record id; no key from the queues into clinical tables

Each clinical table's record key (0021: a unique key led by ``record_id``) becomes its primary key, and the
former primary key goes: ``documents`` is keyed by (record_id, id), ``fhir_folder_entries`` by (record_id,
folder_id, document_id), and so on. The foreign keys between clinical tables pointed at the record keys; they
now point at the primary keys. A row named by its id alone (a document in a FHIR URL, a notification in a
job, a stay in an HL7 message) keeps an index on its id (not unique: the primary key says that), so that
``session.get(Document, id)`` is still one index lookup (on a distributed database, one on each node). A
document's content key is unique within its record (it starts with the record's id, so that is unique
everywhere). The trace is keyed by (chain, id) on PostgreSQL. The outbox's and
the jobs' foreign keys to clinical rows go (the columns stay): a platform table cannot point at a table
distributed by record. The tables can then be distributed by record (Citus) as they are.
docs/adr/0033-high-availability-and-distribution.md; tests/operations/test_distribution.py.

PostgreSQL: each record key's index becomes the primary key in place (``PRIMARY KEY USING INDEX``), with no
rebuild, and the foreign keys that used it keep it. The trace's new key is built (an index over the trace).
SQLite: each table is rebuilt (copy, drop, rename), and its triggers (0022) made again. SQLite keeps the
trace's ``id`` alone as its primary key: only an INTEGER PRIMARY KEY alone is numbered by SQLite itself, and
the embedded database is never distributed.

Data: no value changes.

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# table: its former primary key, which now follows record_id in its primary key (0021's record keys)
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
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
    "pending_content": ("content_key",),
}

# (table, column, parent table): the queues' foreign keys to clinical rows, dropped.
CROSSING_KEYS: list[tuple[str, str, str]] = [
    ("outbox_messages", "notification_id", "notifications"),
    ("outbox_messages", "record_id", "records"),
    ("outbox_messages", "invitation_id", "assistant_invitations"),
    ("jobs", "record_id", "records"),
    ("jobs", "document_id", "documents"),
    ("jobs", "notification_id", "notifications"),
]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _foreign_key(table: str, columns: list[str], parent: str) -> str:
    """A foreign key's name, by what it holds (PostgreSQL shortens long names)."""
    (name,) = [fk["name"] for fk in sa.inspect(op.get_bind()).get_foreign_keys(table)
               if fk["constrained_columns"] == columns and fk["referred_table"] == parent]
    return str(name)


def _primary_key(table: str) -> str:
    return str(sa.inspect(op.get_bind()).get_pk_constraint(table)["name"])


def _triggers(table: str) -> list[str]:
    """SQLite: a table's triggers, which its rebuild drops with the table."""
    return list(op.get_bind().execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table ORDER BY name"),
        {"table": table}).scalars())


def _rekey_sqlite(table: str, primary_key: list[str], *, upgrade: bool) -> None:
    """SQLite: the table rebuilt with this primary key (the record key's index dropped, or made again)."""
    record_key = f"uq_{table}_record_key"
    triggers = _triggers(table)
    former = _primary_key(table)
    with op.batch_alter_table(table, recreate="always") as batch:
        if upgrade:
            batch.drop_index(record_key)
        batch.drop_constraint(former, type_="primary")
        batch.create_primary_key(f"pk_{table}", primary_key)
        if table == "documents":
            _content_key(batch, upgrade=upgrade)
    if not upgrade:
        op.create_index(record_key, table, ["record_id", *PRIMARY_KEYS[table]], unique=True)
    for sql in triggers:
        op.execute(sql)


def _content_key(batch: BatchOperations, *, upgrade: bool) -> None:
    """A document's content key: unique within its record (upgrade), or across records (downgrade)."""
    if upgrade:
        batch.drop_constraint("uq_documents_content_key", type_="unique")
        batch.create_unique_constraint("uq_documents_record_content_key", ["record_id", "content_key"])
    else:
        batch.drop_constraint("uq_documents_record_content_key", type_="unique")
        batch.create_unique_constraint("uq_documents_content_key", ["content_key"])


def _by_id(table: str) -> bool:
    """A row named by its id alone (a URL, a form, a job): that lookup keeps an index of its own."""
    return PRIMARY_KEYS[table] == ("id",)


def upgrade() -> None:
    for table, column, parent in CROSSING_KEYS:
        name = _foreign_key(table, [column], parent)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    if _postgresql():
        for table in PRIMARY_KEYS:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_primary_key(table)}, "
                       f"ADD CONSTRAINT pk_{table} PRIMARY KEY USING INDEX uq_{table}_record_key")
        op.drop_constraint("uq_documents_content_key", "documents", type_="unique")
        op.create_unique_constraint("uq_documents_record_content_key", "documents", ["record_id", "content_key"])
        op.execute(f"ALTER TABLE trace_entries DROP CONSTRAINT {_primary_key('trace_entries')}, "
                   "ADD CONSTRAINT pk_trace_entries PRIMARY KEY (chain, id)")
    else:
        for table, columns in PRIMARY_KEYS.items():
            _rekey_sqlite(table, ["record_id", *columns], upgrade=True)
    for table in filter(_by_id, PRIMARY_KEYS):
        op.create_index(f"ix_{table}_id", table, ["id"])


def _links_to(tables: set[str]) -> list[tuple[str, str, list[str], str, list[str]]]:
    """The foreign keys that point at these tables: (table, name, columns, parent, parent's columns)."""
    inspector = sa.inspect(op.get_bind())
    return [(table, fk["name"], fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
            for table in inspector.get_table_names() for fk in inspector.get_foreign_keys(table)
            if fk["referred_table"] in tables]


def downgrade() -> None:
    for table in filter(_by_id, PRIMARY_KEYS):
        op.drop_index(f"ix_{table}_id", table_name=table)
    if _postgresql():
        op.execute(f"ALTER TABLE trace_entries DROP CONSTRAINT {_primary_key('trace_entries')}, "
                   "ADD CONSTRAINT pk_trace_entries PRIMARY KEY (id)")
        op.drop_constraint("uq_documents_record_content_key", "documents", type_="unique")
        op.create_unique_constraint("uq_documents_content_key", "documents", ["content_key"])
        # The foreign keys use the primary keys' indexes: dropped while the keys change, then made again.
        links = _links_to(set(PRIMARY_KEYS))
        for table, name, _columns, _parent, _parent_columns in links:
            op.drop_constraint(name, table, type_="foreignkey")
        for table, columns in PRIMARY_KEYS.items():
            op.create_index(f"uq_{table}_record_key", table, ["record_id", *columns], unique=True)
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
                       f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(columns)})")
        for table, name, columns, parent, parent_columns in links:
            op.create_foreign_key(name, table, parent, columns, parent_columns)
    else:
        for table, columns in PRIMARY_KEYS.items():
            _rekey_sqlite(table, list(columns), upgrade=False)
    for table, column, parent in CROSSING_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"fk_{table}_{column}_{parent}"[:63], parent, [column], ["id"])
