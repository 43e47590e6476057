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
    ("records", ("person_id",)):
        "one record per person: a lookup by person, in the persons reference table or a table distributed by person",
    ("documents", ("content_key",)):
        "the content key starts with the record's id: unique within the record is unique everywhere",
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
