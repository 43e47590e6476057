"""What still stops the schema from being distributed by record, each with its way out.

Where each table lives is the product's own table, opendsp.distribution.TABLES.
"""

from __future__ import annotations

from opendsp.distribution import TABLES, Kind, Placement, distribution_column

__all__ = ["EMBEDDED_EXCEPTIONS", "GLOBAL_KEYS", "TABLES", "Kind", "Placement", "distribution_column"]

# Keys the database enforces over all records, that a distributed table cannot keep as they are (Citus
# enforces a unique key only when it holds the distribution column). Each needs its own way before the tables
# are distributed; the test fails when one is added, and when one is resolved without being taken off here.
GLOBAL_KEYS: dict[tuple[str, tuple[str, ...]], str] = {
    ("assistant_invitations", ("token_hash",)):
        "the invitee follows a link that names no record: a token directory distributed by token hash",
    ("stays", ("organisation_id", "visit_number")):
        "a hospital's visit number: a visit directory distributed by organisation",
    ("fhir_submitted_documents", ("master_identifier",)):
        "MHD's masterIdentifier is global: an identifier directory distributed by identifier",
    ("imported_documents", ("source", "source_id")):
        "an import's idempotency key: a directory distributed by source identifier",
}

# Where the embedded default (SQLite, never distributed) keeps a key other than the one the rules ask for, with
# the key it keeps and why. The test fails when the key it finds is another, or the rules' own.
EMBEDDED_EXCEPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "trace_entries": (("id",), "SQLite numbers only a lone INTEGER PRIMARY KEY itself (the trace's serial id, on the "
                               "append's hot path); PostgreSQL's key is (chain, id)"),
}
