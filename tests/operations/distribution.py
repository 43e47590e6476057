"""What still stops the schema from being distributed by record, each with its way out.

Where each table lives is the product's own table, opendsp.distribution.TABLES.
"""

from __future__ import annotations

from opendsp.distribution import TABLES, Kind, Placement, distribution_column

__all__ = ["EMBEDDED_EXCEPTIONS", "GLOBAL_KEYS", "TABLES", "Kind", "Placement", "distribution_column"]

# Keys the database enforces over all records, that a distributed table cannot keep as they are (Citus
# enforces a unique key only when it holds the distribution column). Each needs its own way before the tables
# are distributed; the test fails when one is added, and when one is resolved without being taken off here.
# None is left: each key the outside world holds without the record has its directory (opendsp.distribution).
GLOBAL_KEYS: dict[tuple[str, tuple[str, ...]], str] = {}

# Where the embedded default (SQLite, never distributed) keeps a key other than the one the rules ask for, with
# the key it keeps and why. The test fails when the key it finds is another, or the rules' own.
EMBEDDED_EXCEPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "trace_entries": (("id",), "SQLite numbers only a lone INTEGER PRIMARY KEY itself (the trace's serial id, on the "
                               "append's hot path); PostgreSQL's key is (chain, id)"),
}
