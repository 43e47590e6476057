"""A date search value as a half-open period with a comparison prefix, and its SQL condition on any column.

The FHIR adapter parses ``date=ge2025-01-01`` into a ``Period``; ``RecordAccess`` turns it into SQL on its
own tables, so the adapter never names a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, not_


@dataclass(frozen=True)
class Period:
    prefix: str  # eq, ne, gt, lt, ge, le, sa, eb, ap (as eq)
    start: datetime
    end: datetime  # exclusive


def period_condition(column: Any, wanted: Period, *, as_date: bool = False) -> ColumnElement[bool]:
    start: Any = wanted.start.date() if as_date else wanted.start
    end: Any = wanted.end.date() if as_date else wanted.end
    if as_date and wanted.end.time() != datetime.min.time():
        end = wanted.end.date() + timedelta(days=1)
    match wanted.prefix:
        case "eq" | "ap":
            return and_(column >= start, column < end)
        case "ne":
            return not_(and_(column >= start, column < end))
        case "gt" | "sa":
            return column >= end
        case "lt" | "eb":
            return column < start
        case "ge":
            return column >= start
        case "le":
            return column < end
    raise AssertionError(wanted.prefix)
