"""The trace's words, apart from its tables: what an adapter may name without reaching trace rows.

``opendsp.trace.models`` re-exports them; adapters import them from here (the import contract forbids them
the models module).
"""

from __future__ import annotations

import enum


class Outcome(str, enum.Enum):
    permitted = "permitted"
    refused = "refused"
    failed = "failed"
