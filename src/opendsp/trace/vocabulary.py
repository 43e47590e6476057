"""The trace's words, apart from its tables and its writer: what an adapter may name without reaching either.

``opendsp.trace.models`` re-exports ``Outcome`` and ``opendsp.trace.service`` ``RequestContext``; adapters
import them from here (the import contracts forbid them those modules).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(str, enum.Enum):
    permitted = "permitted"
    refused = "refused"
    failed = "failed"


@dataclass(frozen=True)
class RequestContext:
    """What the edge knows about the request that caused an act."""

    request_id: str | None = None
    client_software: str | None = None
