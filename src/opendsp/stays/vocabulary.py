"""The stays' words, apart from their tables: what an adapter may name to write an Encounter.

``opendsp.stays.models`` re-exports them; adapters import them from here (the import contract forbids them
the models module).
"""

from __future__ import annotations

import enum


class StayState(str, enum.Enum):
    planned = "planned"
    in_progress = "in_progress"
    finished = "finished"
    cancelled = "cancelled"


class PatientClass(str, enum.Enum):
    inpatient = "inpatient"
    outpatient = "outpatient"
    emergency = "emergency"
