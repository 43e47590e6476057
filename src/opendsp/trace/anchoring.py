"""The database checked against a signed checkpoint: what the chain walk alone cannot see.

Walking a chain finds entries altered, removed or reordered inside it, but
not a chain deleted together with its head, nor a tail cut with its head
rewound, nor a chain rewritten and re-hashed from start to end. A checkpoint
signed outside the database remembers every head; each chain must still hold
the checkpointed entry at the checkpointed position, and its head must not
have gone back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from opendsp.trace.checkpoints import Head, State
from opendsp.trace.models import TraceChainHead, TraceEntry
from opendsp.trace.service import ChainBreak, VerifyReport, verify

BATCH = 1000


def _batches(heads: Sequence[Head]) -> Iterator[Sequence[Head]]:
    for start in range(0, len(heads), BATCH):
        yield heads[start:start + BATCH]


def verify_anchored(session: Session, states: Iterable[State], *,
                    progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Every chain walked, every record's chain present, then the trace checked against each checkpoint state given.

    Given several states in order (``--all-checkpoints``), each is checked
    only on the heads that moved since the one before: the others were
    checked already, against the same head.
    """
    report = verify(session, progress=progress)
    report.breaks.extend(records_without_chain(session))
    seen = {(b.chain, b.seq, b.problem) for b in report.breaks}
    previous: State | None = None
    for state in states:
        heads = state.heads if previous is None else [h for h in state.heads if previous.head_of(h.chain) != h]
        for problem in verify_against(session, state, heads):
            if (problem.chain, problem.seq, problem.problem) not in seen:
                seen.add((problem.chain, problem.seq, problem.problem))
                report.breaks.append(problem)
        report.checkpoint, report.checkpoint_made_at = state.number, state.checkpoint.made_at
        previous = state
    return report


def records_without_chain(session: Session) -> Iterator[ChainBreak]:
    """Every record starts its chain when it is created: one without a head lost its chain, checkpoint or not."""
    from opendsp.records.models import Record  # the trace sits below the records; only this check looks up

    batch: list[str] = []
    for record_id in session.scalars(select(Record.id).execution_options(yield_per=BATCH)):
        batch.append(str(record_id))
        if len(batch) == BATCH:
            yield from _headless(session, batch)
            batch = []
    yield from _headless(session, batch)


def _headless(session: Session, chains: list[str]) -> Iterator[ChainBreak]:
    if not chains:
        return
    present = set(session.scalars(select(TraceChainHead.chain).where(TraceChainHead.chain.in_(chains))))
    for chain in chains:
        if chain not in present:
            yield ChainBreak(chain, 0, None, "the record has no trace chain: its chain and its head were removed")


def verify_against(session: Session, state: State, heads: Sequence[Head] | None = None) -> list[ChainBreak]:
    """Every chain the checkpoint holds (or those ``heads`` of it), checked against it; one problem per chain."""
    problems: list[ChainBreak] = []
    named = f"checkpoint {state.number} of {state.checkpoint.made_at}"
    for batch in _batches(state.heads if heads is None else heads):
        chains = [head.chain for head in batch]
        heads = dict(session.execute(
            select(TraceChainHead.chain, TraceChainHead.last_seq).where(TraceChainHead.chain.in_(chains))
        ).all())
        last_positions = dict(session.execute(
            select(TraceEntry.chain, func.max(TraceEntry.seq)).where(TraceEntry.chain.in_(chains))
            .group_by(TraceEntry.chain)
        ).all())
        anchored = {(chain, seq): hash_ for chain, seq, hash_ in session.execute(
            select(TraceEntry.chain, TraceEntry.seq, TraceEntry.hash)
            .where(tuple_(TraceEntry.chain, TraceEntry.seq).in_([(h.chain, h.seq) for h in batch]))
        )}
        for head in batch:
            problem = _diagnose(head, heads.get(head.chain), last_positions.get(head.chain),
                                anchored.get((head.chain, head.seq)), named)
            if problem:
                problems.append(problem)
    return problems


def _diagnose(head: Head, head_seq: int | None, last_seq: int | None, hash_there: str | None,
              named: str) -> ChainBreak | None:
    if head.seq == 0:  # an empty chain anchors nothing but its existence
        if head_seq is None and last_seq is None:
            return ChainBreak(head.chain, 0, None, f"the whole chain was removed with its head ({named} holds it)")
        return None
    if head_seq is None and last_seq is None:
        return ChainBreak(head.chain, head.seq, None,
                          f"the whole chain was removed with its head ({named} holds {head.seq} entries)")
    if last_seq is None or last_seq < head.seq:
        kept = last_seq or 0
        rewound = f"; its head was rewound to position {head_seq}" if head_seq is not None else ""
        return ChainBreak(head.chain, kept + 1, None,
                          f"its tail was cut: entries {kept + 1}..{head.seq} are gone, which {named} "
                          f"holds{rewound}")
    if head_seq is not None and head_seq < head.seq:
        return ChainBreak(head.chain, head.seq, None,
                          f"its head was rewound to position {head_seq}, behind position {head.seq} of {named}")
    if hash_there is None:
        return ChainBreak(head.chain, head.seq, None, f"the entry at position {head.seq}, anchored by {named}, "
                                                      "is missing")
    if hash_there != head.hash:
        return ChainBreak(head.chain, head.seq, None,
                          f"its entries up to position {head.seq} are not those {named} signed: "
                          "altered, reordered or rewritten since")
    return None
