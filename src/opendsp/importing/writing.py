"""Writing many rows at once: PostgreSQL ``COPY``, or an executemany on SQLite (the embedded default)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from opendsp.counters import FOLLOWED, UncountedChange


def _not_followed(table: Table) -> None:
    # COPY goes to the driver's cursor, past the engine's listeners: it would change the table without moving the
    # caches' counters (opendsp.counters). Refused on every backend, so that SQLite's tests find it too.
    if table.name in FOLLOWED:
        raise UncountedChange(f"{table.name} is not written in bulk: its changes move the caches' counters")


def write_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) in the session's transaction."""
    _not_followed(table)
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    json_columns = [i for i, name in enumerate(columns) if table.c[name].type.__class__.__name__ == "JSON"]
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(
        f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"  # noqa: S608 - names from the table, not input
    ) as copy:
        for row in rows:
            if json_columns:
                row = list(row)
                for i in json_columns:
                    row[i] = json.dumps(row[i], ensure_ascii=False)
            copy.write_row(row)


def copy_binary(session: Session, table: Table, columns: Sequence[str], chunks: Sequence[bytes]) -> None:
    """PostgreSQL only: send ``chunks`` (COPY binary data, header and trailer included) into ``table``."""
    _not_followed(table)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(
        f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"  # noqa: S608 - names from the table
    ) as copy:
        for chunk in chunks:
            copy.write(chunk)
