"""Writing and verifying the trace.

Every entry hashes its own fields together with the hash of the entry before
it in the same chain. Changing, removing or reordering an entry breaks the
chain at that point, and ``verify`` names it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from opendsp.clock import Clock
from opendsp.db import insert_for
from opendsp.metrics import TRACE_APPENDS
from opendsp.trace.models import GENESIS_HASH, PLATFORM_CHAIN, Outcome, TraceChainHead, TraceEntry
from opendsp.trace.vocabulary import RequestContext as RequestContext


@dataclass(frozen=True)
class TraceEvent:
    action: str
    outcome: Outcome
    actor_kind: str
    actor_id: str | None = None
    actor_display: str | None = None
    on_behalf_of: str | None = None
    record_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    reason: str | None = None
    basis: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    request: RequestContext = RequestContext()


def entry_fields(entry: TraceEntry) -> dict[str, Any]:
    """What an entry's hash covers: every field but its id, its position and its own hash."""
    return {
        "chain": entry.chain,
        "recorded_at": entry.recorded_at.isoformat(timespec="microseconds"),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "actor_display": entry.actor_display,
        "on_behalf_of": entry.on_behalf_of,
        "action": entry.action,
        "record_id": str(entry.record_id) if entry.record_id else None,
        "document_id": str(entry.document_id) if entry.document_id else None,
        "outcome": Outcome(entry.outcome).value,
        "reason": entry.reason,
        "basis": entry.basis,
        "context": entry.context or {},
        "client_software": entry.client_software,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
    }


def hash_fields(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of an entry's fields (also used offline, on a signed extract)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def entry_hash(entry: TraceEntry) -> str:
    return hash_fields(entry_fields(entry))


def chain_for(record_id: uuid.UUID | None) -> str:
    return str(record_id) if record_id else PLATFORM_CHAIN


def lock_heads(session: Session, chains: Iterable[str]) -> dict[str, TraceChainHead]:
    """Lock the chains' heads for the rest of the transaction, starting at the genesis any chain that has none.

    Locking a head serialises the appends to its chain (SQLite serialises all writers). A chain may have no head
    yet (a record loaded in bulk): two transactions starting it at once both land on one row, since the second's
    insert waits for the first and then does nothing, and its lock waits for the first's commit. Heads are locked
    in the chains' order, and read afresh: a head this session read earlier may have moved since.
    """
    ordered = sorted(set(chains))
    locking = (
        select(TraceChainHead).order_by(TraceChainHead.chain).with_for_update()
        .execution_options(populate_existing=True)
    )
    heads = {head.chain: head for head in session.scalars(locking.where(TraceChainHead.chain.in_(ordered)))}
    missing = [chain for chain in ordered if chain not in heads]
    if missing:
        session.execute(
            insert_for(session)(TraceChainHead)
            .values([{"chain": chain, "last_seq": 0, "last_hash": GENESIS_HASH} for chain in missing])
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        heads.update({head.chain: head for head in session.scalars(locking.where(TraceChainHead.chain.in_(missing)))})
    return heads


_HEADS = TraceChainHead.__table__
_ENTRIES = TraceEntry.__table__
# The entry's columns, the id apart (the database numbers it).
_ENTRY_COLUMNS = tuple(column.name for column in _ENTRIES.columns if column.name != "id")
# Built once: building statements and flushing ORM objects were most of an append's Python time (issue 15).
_LOCK_HEAD = (select(_HEADS.c.last_seq, _HEADS.c.last_hash).where(_HEADS.c.chain == bindparam("chain"))
              .with_for_update())
_INSERT = insert(_ENTRIES).values({name: bindparam(f"v_{name}") for name in _ENTRY_COLUMNS})
_INSERT_ENTRY = _INSERT.returning(_ENTRIES.c.id)
_MOVE_HEAD = (update(_HEADS).where(_HEADS.c.chain == bindparam("v_chain"))
              .values(last_seq=bindparam("v_seq"), last_hash=bindparam("v_hash")))


@functools.cache
def _append_in_one() -> Any:
    """PostgreSQL: the entry inserted and the head moved onto it in one statement (one round trip).

    The head's update reads the inserted entry from the CTE, so the entry is in before the head moves and the
    head's trigger (migration 0013) finds it, as when they were two statements."""
    entry = _INSERT.returning(_ENTRIES.c.id, _ENTRIES.c.chain, _ENTRIES.c.seq, _ENTRIES.c.hash).cte("appended")
    # The head named by its chain's value too, not only through the CTE: on a database distributed by chain the
    # statement then goes to the one node holding that chain (tests/operations/test_record_scoped_sql.py).
    return (update(_HEADS).where(_HEADS.c.chain == bindparam("v_chain"), _HEADS.c.chain == entry.c.chain)
            .values(last_seq=entry.c.seq, last_hash=entry.c.hash).returning(entry.c.id))


class TraceWriter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def start_chain(self, session: Session, record_id: uuid.UUID) -> None:
        """Called in the transaction that creates a record."""
        session.add(TraceChainHead(chain=chain_for(record_id), last_seq=0, last_hash=GENESIS_HASH))

    def append(self, session: Session, event: TraceEvent) -> TraceEntry:
        """Append the event to its chain: the head locked and read, the entry hashed onto it, inserted, and the
        head moved onto it, in the session's transaction.

        Two statements on PostgreSQL (the head locked; the entry inserted and the head moved in one), three on
        SQLite; no ORM unit of work. The entry returned is persistent in the session, as if loaded."""
        chain = chain_for(event.record_id)
        session.flush()  # a head this transaction started (a record created) must be in before it is locked
        connection = session.connection()
        found = connection.execute(_LOCK_HEAD, {"chain": chain}).first()
        if found is None:  # a chain with no head yet (a record loaded in bulk): started, then locked
            head = lock_heads(session, [chain])[chain]
            last_seq, last_hash = head.last_seq, head.last_hash
        else:
            last_seq, last_hash = found
        entry = TraceEntry(
            chain=chain,
            seq=last_seq + 1,
            recorded_at=self.clock.now(),
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            actor_display=event.actor_display,
            on_behalf_of=event.on_behalf_of,
            action=event.action,
            record_id=event.record_id,
            document_id=event.document_id,
            outcome=event.outcome,
            reason=event.reason,
            basis=event.basis,
            context=dict(event.context),
            client_software=event.request.client_software,
            request_id=event.request.request_id,
            prev_hash=last_hash,
        )
        entry.hash = entry_hash(entry)
        values = {f"v_{name}": getattr(entry, name) for name in _ENTRY_COLUMNS}
        if connection.dialect.name == "postgresql":
            entry.id = connection.execute(_append_in_one(), values).scalar_one()
        else:
            # The entry goes in first: the database moves a head only onto an entry it already holds.
            entry.id = connection.execute(_INSERT_ENTRY, values).scalar_one()
            connection.execute(_MOVE_HEAD, values)
        # The session holds the entry as if it had loaded it, and no stale copy of the head.
        make_transient_to_detached(entry)
        session.add(entry)
        held = session.identity_map.get(identity_key(TraceChainHead, chain))
        if held is not None:
            set_committed_value(held, "last_seq", entry.seq)
            set_committed_value(held, "last_hash", entry.hash)
        TRACE_APPENDS.labels(Outcome(event.outcome).value).inc()  # written: an entry of a rolled-back act counts too
        return entry


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    entry_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"entry {self.entry_id} (chain {self.chain}, position {self.seq})"
        if self.entry_id is None:
            where = f"chain {self.chain} at position {self.seq}"
        return f"{where}: {self.problem}"


@dataclass
class VerifyReport:
    entries: int = 0
    chains: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    # The latest signed checkpoint the trace was checked against (opendsp.trace.anchoring), if any.
    checkpoint: int | None = None
    checkpoint_made_at: str | None = None

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return min(self.breaks, key=lambda b: (b.entry_id is None, b.entry_id or 0)) if self.breaks else None


def _entries(session: Session, chain: str) -> Iterator[TraceEntry]:
    yield from session.scalars(
        select(TraceEntry).where(TraceEntry.chain == chain).order_by(TraceEntry.seq).execution_options(yield_per=1000)
    )


def _diagnose_link(session: Session, entry: TraceEntry) -> str:
    pointed = session.scalars(
        select(TraceEntry.seq).where(TraceEntry.chain == entry.chain, TraceEntry.hash == entry.prev_hash)
    ).first()
    if pointed is None:
        return "the entry before it was removed (it links to an entry that no longer exists)"
    return f"entries were reordered (it links to the entry now at position {pointed})"


def verify_chain(session: Session, head: TraceChainHead) -> tuple[int, ChainBreak | None]:
    """Walk one chain; return how many entries it holds and its first break, if any."""
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    for entry in _entries(session, head.chain):
        count += 1
        if entry_hash(entry) != entry.hash:
            return count, ChainBreak(head.chain, entry.seq, entry.id, "its content was altered")
        if entry.seq != expected_seq:
            problem = f"entries at positions {expected_seq}..{entry.seq - 1} were removed"
            if entry.prev_hash == expected_prev:
                problem = f"it was renumbered (expected position {expected_seq})"
            return count, ChainBreak(head.chain, entry.seq, entry.id, problem)
        if entry.prev_hash != expected_prev:
            return count, ChainBreak(head.chain, entry.seq, entry.id, _diagnose_link(session, entry))
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    if head.last_seq != expected_seq - 1 or head.last_hash != expected_prev:
        return count, ChainBreak(
            head.chain,
            expected_seq,
            None,
            f"the chain ends at position {expected_seq - 1} but its head records {head.last_seq}: "
            "its last entries were removed or the head was altered",
        )
    return count, None


def verify(session: Session, *, progress: Callable[[int], None] | None = None) -> VerifyReport:
    report = VerifyReport()
    heads = {h.chain: h for h in session.scalars(select(TraceChainHead).order_by(TraceChainHead.chain))}
    orphan_chains = set(session.scalars(select(TraceEntry.chain).distinct())) - set(heads)
    for chain in sorted(orphan_chains):
        first = session.scalars(select(TraceEntry).where(TraceEntry.chain == chain).order_by(TraceEntry.seq)).first()
        report.breaks.append(ChainBreak(chain, first.seq if first else 0, first.id if first else None,
                                        "the chain's head was removed"))
    for head in heads.values():
        count, problem = verify_chain(session, head)
        report.chains += 1
        report.entries += count
        if problem:
            report.breaks.append(problem)
        if progress:
            progress(1)
    return report

