"""Pending content: a deposit names its blob before writing it.

The order is what keeps every acknowledged document's content (see
docs/adr/0018-pending-content.md):

1. ``register`` commits a pending row naming the blob, in a short transaction of its own;
2. ``claim`` deletes that row in the deposit's transaction, which locks it until the
   deposit commits or rolls back; only then is the blob written;
3. the deposit commits the document and the row's deletion together, or rolls back,
   which brings the row back, and the blob and the row are then removed.

``store check`` lists the blobs first and only then looks for their documents and
pending rows, so a blob it sees is named by one or the other until its deposit ends.
It takes back old pending rows with ``SKIP LOCKED``, so a deposit still running keeps
its row; a deposit whose row was taken back finds nothing to claim and fails before
writing anything.

SQLite serialises writers (every transaction begins with ``BEGIN IMMEDIATE``): a
second transaction could not commit while the deposit holds the lock, and ``store
check`` holds that same lock while it looks, so no deposit is ever open meanwhile.
There no pending row is needed, and none is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select, tuple_
from sqlalchemy.orm import Session

from opendsp.content.models import PendingContent


class PendingContentLost(Exception):
    """``store check`` took back this deposit's pending content: the deposit must fail."""


def named_by(record_id: ColumnElement[uuid.UUID], content_key: ColumnElement[str],
             keys: Collection[str]) -> ColumnElement[bool]:
    """``content_key IN keys``, each key with its record: a table keyed by record (documents, pending content)
    finds each in its primary or record-led key, on the node holding that record when the tables are distributed.

    A content key starts with its record's id (``records/<record id>/...``, ``service.content_key``); a key
    that does not (none the service makes) is looked for by itself.
    """
    pairs: list[tuple[uuid.UUID, str]] = []
    others: list[str] = []
    for key in keys:
        record = _record_of(key)
        if record is None:
            others.append(key)
        else:
            pairs.append((record, key))
    within = tuple_(record_id, content_key).in_(pairs)
    return or_(within, content_key.in_(others)) if others else within


def _record_of(key: str) -> uuid.UUID | None:
    prefix, _, rest = key.partition("/")
    if prefix != "records":
        return None
    try:
        return uuid.UUID(rest.partition("/")[0])
    except ValueError:
        return None


def writers_serialised(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _own_transaction(session: Session) -> Session:
    return Session(session.get_bind())


def register(session: Session, *, key: str, record_id: uuid.UUID, now: datetime) -> None:
    """Name the blob about to be written, committed at once in a transaction of its own."""
    if writers_serialised(session):
        return
    with _own_transaction(session) as own, own.begin():
        own.add(PendingContent(content_key=key, record_id=record_id, created_at=now))


def claim(session: Session, *, key: str, record_id: uuid.UUID) -> None:
    """In the deposit's transaction: take the pending row, which stays locked until the deposit ends."""
    if writers_serialised(session):
        return
    taken = session.execute(delete(PendingContent).where(PendingContent.record_id == record_id,
                                                         PendingContent.content_key == key))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise PendingContentLost(f"the pending content {key} was taken back by store check; deposit again")


def forget(session: Session, *, key: str, record_id: uuid.UUID) -> None:
    """After a rolled-back deposit removed its blob: remove the pending row it brought back."""
    if writers_serialised(session):
        return
    with _own_transaction(session) as own, own.begin():
        own.execute(delete(PendingContent).where(PendingContent.record_id == record_id,
                                                 PendingContent.content_key == key))


def pending_since(session: Session, keys: Collection[str]) -> dict[str, datetime]:
    """When each of these blobs was named by a deposit that has not ended (or died)."""
    rows = session.execute(
        select(PendingContent.content_key, PendingContent.created_at)
        .where(named_by(PendingContent.record_id, PendingContent.content_key, keys))
    )
    return {key: created_at for key, created_at in rows}


def stale(session: Session, *, before: datetime) -> list[str]:
    """Pending rows named before ``before``: deposits that died, or are still running."""
    return list(session.scalars(select(PendingContent.content_key).where(PendingContent.created_at <= before)))


def take_back(session: Session, keys: Collection[str], *, before: datetime) -> list[str]:
    """Remove the pending rows of these keys named before ``before`` whose deposit is not running.

    A running deposit holds its row locked, so ``SKIP LOCKED`` leaves it alone. Once
    this commits, no deposit can commit a document for the keys returned.
    """
    if not keys or writers_serialised(session):
        return []
    with _own_transaction(session) as own, own.begin():
        free = list(
            own.scalars(
                select(PendingContent.content_key)
                .where(named_by(PendingContent.record_id, PendingContent.content_key, keys),
                       PendingContent.created_at <= before)
                .with_for_update(skip_locked=True)
            )
        )
        if free:
            own.execute(delete(PendingContent).where(named_by(PendingContent.record_id, PendingContent.content_key,
                                                              free)))
    return free
