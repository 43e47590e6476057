"""What a process keeps between requests: small bounded caches, and whether a session has written.

Two caches live on the ``Platform`` (docs/adr/0031-request-caches.md): a record's
facts and grants keyed by (record, ``records.policy_version``), and verified callers
keyed by the token's hash and ``credential_epochs.epoch``. Both keys move forward in
the database, in the transaction of the change: by triggers for the tables
distributed by record (migration 0022), by ``opendsp.counters`` for reference and
platform tables (migration 0026, docs/adr/0045-counters-in-the-application.md):
what one process caches, another's change makes unreachable. An entry also carries the
earliest instant it stops being true without any write (a presence code's end, a
stay's period after discharge, a token's expiry).

A session that has written anything is never served from nor stored into these
caches: its own uncommitted changes have moved the counters in the database but not
in the rows it holds, and what it reads may still roll back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction

V = TypeVar("V")

# Session info key: a statement other than a read went through this session's connections.
WROTE = "opendsp.wrote"
_SESSION_INFO = "opendsp.session_info"
_READS = ("SELECT", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "SHOW", "PRAGMA")


class Bounded(Generic[V]):
    """A least-recently-used map of at most ``size`` entries, each valid until its own instant (or forever)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[V, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, now: datetime) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or (found[1] is not None and now >= found[1]):
                if found is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: V, until: datetime | None) -> None:
        with self._lock:
            self._entries[key] = (value, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def earliest(now: datetime, *instants: datetime | None) -> datetime | None:
    """The first of ``instants`` still ahead of ``now`` (those already past change nothing any more)."""
    ahead = [instant for instant in instants if instant is not None and instant > now]
    return min(ahead) if ahead else None


def has_written(session: Session) -> bool:
    """Whether any statement but a read went through this session since it was opened (never reset)."""
    return bool(session.info.get(WROTE))


# Listeners for every session and every engine, installed once: a connection knows which session's transaction
# it serves (the link is replaced by the next session's), and any statement that is not a read marks that session.


@event.listens_for(Session, "after_begin")
def _link(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    connection.info[_SESSION_INFO] = session.info


@event.listens_for(Engine, "before_cursor_execute")
def _mark(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    info = connection.info.get(_SESSION_INFO)
    if info is not None and not info.get(WROTE) and not statement.lstrip()[:9].upper().startswith(_READS):
        info[WROTE] = True
