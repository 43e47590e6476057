"""What still stops the schema from being distributed by record, each with its way out.

Where each table lives is the product's own table, opendsp.distribution.TABLES.
"""

from __future__ import annotations

from opendsp.distribution import TABLES, Kind, Placement, distribution_column

__all__ = ["CROSSING_KEYS", "GLOBAL_KEYS", "TABLES", "Kind", "Placement", "distribution_column"]

# Keys the database enforces over all records, that a distributed table cannot keep as they are (Citus
# enforces a unique key only when it holds the distribution column). Each needs its own way before the tables
# are distributed; the test fails when one is added, and when one is resolved without being taken off here.
GLOBAL_KEYS: dict[tuple[str, tuple[str, ...]], str] = {
    ("documents", ("content_key",)):
        "the content key starts with the record's id: unique within the record is unique everywhere",
    ("assistant_invitations", ("token_hash",)):
        "the invitee follows a link that names no record: a token directory distributed by token hash",
    ("stays", ("organisation_id", "visit_number")):
        "a hospital's visit number: a visit directory distributed by organisation",
    ("fhir_submitted_documents", ("master_identifier",)):
        "MHD's masterIdentifier is global: an identifier directory distributed by identifier",
    ("imported_documents", ("source", "source_id")):
        "an import's idempotency key: a directory distributed by source identifier",
    ("trace_entries", ("id",)):
        "the entry's serial id: the primary key becomes (chain, id) when the trace is distributed",
}

# Foreign keys Citus would refuse as they are (from a platform table to a distributed one), with the way out.
CROSSING_KEYS: dict[tuple[str, tuple[str, ...], str], str] = {
    ("outbox_messages", ("notification_id",), "notifications"):
        "the outbox keeps the notification's id without a key (the worker reads the notification by record)",
    ("outbox_messages", ("record_id",), "records"):
        "likewise the record's id: a message about an account has none",
    ("outbox_messages", ("invitation_id",), "assistant_invitations"):
        "likewise the invitation's id: the worker reads the invitation by record",
    ("jobs", ("record_id",), "records"):
        "the job keeps the record's id without a key (a job names its record; the worker reads by record)",
    ("jobs", ("document_id",), "documents"):
        "likewise the document's id, read with the record's",
    ("jobs", ("notification_id",), "notifications"):
        "likewise the notification's id, read with the record's",
}
