"""Signed checkpoints of the trace: every chain's head, in a Merkle tree, signed, written outside the database.

Each checkpoint file holds a signed statement and the heads that moved since
the checkpoint before it (all heads in a *full* checkpoint, written first
and then once every ``full_every``). The statement names the tree's size and
root over *all* heads, the digest of the heads the file lists, the digest of
the previous checkpoint, and the full checkpoint it builds on. The state at a
checkpoint (every head) is the full checkpoint's heads, updated by each
later file in turn; its Merkle root must be the one signed.

Storing only what moved keeps the sink small when a minute brings a few
hundred acts among hundreds of thousands of records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from opendsp.clock import Clock
from opendsp.trace import merkle
from opendsp.trace.models import TraceChainHead, TraceCheckpoint, TraceEntry
from opendsp.trace.signing import key_id, signature_valid
from opendsp.trace.sinks import CheckpointSink

FORMAT = "opendsp-trace-checkpoint/1"
NAME_PREFIX, NAME_SUFFIX = "checkpoint-", ".json"
FULL_EVERY = 1440  # a full checkpoint a day at one a minute


class CheckpointInvalid(Exception):
    """A checkpoint that cannot be trusted: the message says why."""


class CheckpointRefused(Exception):
    """The trace went back since the latest checkpoint: signing it would bless the damage."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, order=True)
class Head:
    """One chain's head: its last position and the hash of the entry there (a leaf of the tree)."""

    chain: str
    seq: int
    hash: str

    @property
    def leaf(self) -> bytes:
        # Kept on the head: a head that did not move keeps its leaf from one checkpoint to the next.
        cached = self.__dict__.get("_leaf")
        if cached is None:
            cached = merkle.leaf_hash(leaf_data(self.chain, self.seq, self.hash))
            object.__setattr__(self, "_leaf", cached)
        return cached


def _plain(text: str) -> bool:
    """Nothing canonical JSON would escape (with ensure_ascii off): no quote, no backslash, no control character."""
    return '"' not in text and "\\" not in text and text.isprintable()


def leaf_data(chain: str, seq: int, hash_: str) -> bytes:
    """The canonical JSON of a head, written out directly when nothing needs escaping (every real chain)."""
    if type(seq) is int and _plain(chain) and _plain(hash_):
        return f'{{"chain":"{chain}","hash":"{hash_}","seq":{seq}}}'.encode()
    return canonical({"chain": chain, "hash": hash_, "seq": seq})


def heads_digest(heads: Sequence[Head]) -> str:
    return hashlib.sha256(canonical([[h.chain, h.seq, h.hash] for h in heads])).hexdigest()


def checkpoint_name(number: int) -> str:
    return f"{NAME_PREFIX}{number:012d}{NAME_SUFFIX}"


def statement_problem(statement: dict[str, Any], signature: bytes, public_key: Ed25519PublicKey) -> str | None:
    """None when the statement is signed by that key; else why not."""
    if statement.get("format") != FORMAT:
        return f"not a checkpoint of format {FORMAT}"
    if statement.get("key_id") != key_id(public_key):
        return "it was signed with another key than the public key given"
    if not signature_valid(public_key, signature, canonical(statement)):
        return "its signature does not match its content (altered, or signed by someone else)"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """One file of the sink: a signed statement and the heads that moved since the previous checkpoint."""

    statement: dict[str, Any]
    signature: bytes
    heads: tuple[Head, ...]

    @property
    def number(self) -> int:
        return int(self.statement["number"])

    @property
    def base(self) -> int:
        return int(self.statement["base"])

    @property
    def name(self) -> str:
        return checkpoint_name(self.number)

    @property
    def root_hash(self) -> str:
        return str(self.statement["root_hash"])

    @property
    def made_at(self) -> str:
        return str(self.statement["made_at"])

    @property
    def digest(self) -> str:
        """What the next checkpoint names as its predecessor."""
        return hashlib.sha256(canonical(self.statement)).hexdigest()

    def to_bytes(self) -> bytes:
        return canonical({
            "statement": self.statement,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "heads": [[head.chain, head.seq, head.hash] for head in self.heads],
        }) + b"\n"

    @classmethod
    def parse(cls, data: bytes) -> Checkpoint:
        try:
            document = json.loads(data)
            statement = document["statement"]
            signature = base64.b64decode(document["signature"], validate=True)
            heads = tuple(Head(str(c), int(s), str(h)) for c, s, h in document["heads"])
            int(statement["number"]), int(statement["base"]), str(statement["root_hash"])
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointInvalid(f"unreadable checkpoint: {error.__class__.__name__}: {error}") from None
        return cls(statement=statement, signature=signature, heads=heads)

    def check_signed(self, public_key: Ed25519PublicKey) -> None:
        problem = statement_problem(self.statement, self.signature, public_key)
        if problem:
            raise CheckpointInvalid(f"checkpoint {self.number}: {problem}")
        if self.statement.get("heads_digest") != heads_digest(self.heads):
            raise CheckpointInvalid(f"checkpoint {self.number}: the heads it lists are not those it signed")


@dataclass(frozen=True)
class State:
    """Every chain's head at a checkpoint, checked against its signed root."""

    checkpoint: Checkpoint
    heads: tuple[Head, ...]  # sorted by chain

    @cached_property
    def leaves(self) -> list[bytes]:
        return [head.leaf for head in self.heads]

    @cached_property
    def index(self) -> dict[str, int]:
        return {head.chain: position for position, head in enumerate(self.heads)}

    def head_of(self, chain: str) -> Head | None:
        position = self.index.get(chain)
        return None if position is None else self.heads[position]

    @property
    def number(self) -> int:
        return self.checkpoint.number


def _fold(heads: dict[str, Head], moved: Sequence[Head]) -> None:
    for head in moved:
        heads[head.chain] = head


def _checked_state(checkpoint: Checkpoint, heads: dict[str, Head]) -> State:
    ordered = tuple(sorted(heads.values()))
    if checkpoint.statement.get("tree_size") != len(ordered):
        raise CheckpointInvalid(f"checkpoint {checkpoint.number}: its heads add up to {len(ordered)} chains, "
                                f"not the {checkpoint.statement.get('tree_size')} it signed")
    state = State(checkpoint=checkpoint, heads=ordered)
    if merkle.root(state.leaves).hex() != checkpoint.root_hash:
        raise CheckpointInvalid(f"checkpoint {checkpoint.number}: its heads do not give the root it signed")
    return state


class CheckpointLog:
    """The checkpoints of one sink, read and checked with one public key (immutable files: cached)."""

    def __init__(self, sink: CheckpointSink, public_key: Ed25519PublicKey) -> None:
        self.sink = sink
        self.public_key = public_key
        self._state: State | None = None
        self._lock = threading.Lock()

    def numbers(self, after: int | None = None) -> list[int]:
        """The numbers of the checkpoints written (only those after ``after``, when given)."""
        found = []
        for name in self.sink.names(after=checkpoint_name(after) if after is not None else None):
            if name.startswith(NAME_PREFIX) and name.endswith(NAME_SUFFIX):
                middle = name.removeprefix(NAME_PREFIX).removesuffix(NAME_SUFFIX)
                if middle.isdigit():
                    found.append(int(middle))
        return sorted(found)

    def read(self, number: int) -> Checkpoint:
        try:
            data = self.sink.read(checkpoint_name(number))
        except (FileNotFoundError, KeyError) as error:
            raise CheckpointInvalid(f"checkpoint {number} is missing from {self.sink.describe()}") from error
        checkpoint = Checkpoint.parse(data)
        if checkpoint.number != number:
            raise CheckpointInvalid(f"{checkpoint_name(number)} holds checkpoint {checkpoint.number}")
        checkpoint.check_signed(self.public_key)
        return checkpoint

    def state(self, number: int | None = None) -> State | None:
        """Every head at checkpoint ``number`` (default: the latest), or None when there is none yet."""
        with self._lock:
            cached = self._state
            if number is None:
                newer = self.numbers(after=cached.number if cached else None)
                if not newer:
                    return cached
                target = newer[-1]
            else:
                target = number
            if cached is not None and cached.number == target:
                return cached
            last = self.read(target)
            start = cached if cached is not None and last.base <= cached.number < target else None
            state = self._replay(last, start)
            if number is None:
                self._state = state
            return state

    def states(self) -> Iterator[State]:
        """Every checkpoint's state in turn, each built on the one before (for checking them all)."""
        previous: State | None = None
        for number in self.numbers():
            last = self.read(number)
            previous = self._replay(last, previous if previous is not None and last.base <= previous.number else None)
            yield previous

    def _replay(self, last: Checkpoint, start: State | None) -> State:
        heads = {head.chain: head for head in start.heads} if start else {}
        previous = start.checkpoint if start else None
        first = start.number + 1 if start else last.base
        for number in range(first, last.number + 1):
            checkpoint = last if number == last.number else self.read(number)
            if previous is None:
                if checkpoint.base != checkpoint.number:
                    raise CheckpointInvalid(f"checkpoint {number} is not a full checkpoint")
            elif checkpoint.statement.get("previous") != previous.digest:
                raise CheckpointInvalid(f"checkpoint {number} does not follow checkpoint {previous.number}")
            if checkpoint.base == checkpoint.number:
                heads = {}
            _fold(heads, checkpoint.heads)
            previous = checkpoint
        return _checked_state(last, heads)


def last_checkpoint_made_at(session: Session) -> datetime | None:
    """When the newest checkpoint was made; None before the first."""
    return session.scalar(select(func.max(TraceCheckpoint.made_at)))


def current_heads(session: Session) -> list[Head]:
    rows = session.execute(select(TraceChainHead.chain, TraceChainHead.last_seq, TraceChainHead.last_hash))
    return sorted(Head(chain, seq, hash_) for chain, seq, hash_ in rows)


def regressions(session: Session, previous: State, heads: Sequence[Head]) -> list[str]:
    """What no longer extends the previous checkpoint: chains gone, heads gone back, signed entries replaced."""
    now = {head.chain: head for head in heads}
    problems, moved = [], []
    for old in previous.heads:
        new = now.get(old.chain)
        if new is None:
            problems.append(f"chain {old.chain} is gone")
        elif new.seq < old.seq:
            problems.append(f"chain {old.chain} went back from position {old.seq} to {new.seq}")
        elif new != old and old.seq > 0:
            moved.append(old)
    for start in range(0, len(moved), 1000):
        batch = moved[start:start + 1000]
        found = {(chain, seq): hash_ for chain, seq, hash_ in session.execute(
            select(TraceEntry.chain, TraceEntry.seq, TraceEntry.hash)
            .where(tuple_(TraceEntry.chain, TraceEntry.seq).in_([(h.chain, h.seq) for h in batch]))
        )}
        problems.extend(f"chain {old.chain}: the entry at position {old.seq} is not the one signed"
                        for old in batch if found.get((old.chain, old.seq)) != old.hash)
    return problems


def make_checkpoint(*, heads: Sequence[Head], previous: State | None, made_at: datetime,
                    signer: Ed25519PrivateKey, full_every: int = FULL_EVERY, first_number: int = 1) -> Checkpoint:
    if previous is not None:  # the heads that did not move bring their leaves along
        heads = [same if (same := previous.head_of(head.chain)) == head else head for head in heads]
    ordered = tuple(sorted(heads))
    number = previous.number + 1 if previous else first_number
    if previous is None or number - previous.checkpoint.base >= full_every:
        base, listed = number, ordered
    else:
        base, listed = previous.checkpoint.base, tuple(h for h in ordered if previous.head_of(h.chain) != h)
    statement = {
        "format": FORMAT,
        "number": number,
        "base": base,
        "made_at": made_at.isoformat(timespec="microseconds"),
        "tree_size": len(ordered),
        "root_hash": merkle.root([head.leaf for head in ordered]).hex(),
        "heads_digest": heads_digest(listed),
        "key_id": key_id(signer.public_key()),
        "previous": previous.checkpoint.digest if previous else None,
    }
    return Checkpoint(statement=statement, signature=signer.sign(canonical(statement)), heads=listed)


def write_checkpoint(*, session: Session, log: CheckpointLog, signer: Ed25519PrivateKey, clock: Clock,
                     only_if_changed: bool = False, full_every: int = FULL_EVERY) -> Checkpoint | None:
    """Sign the heads as they are now and write them to the sink (and note it in the database).

    The heads are read in one statement, so they are one consistent picture:
    each head moves in the transaction that appends its entry. With
    ``only_if_changed``, nothing is written when no head moved since the latest checkpoint.
    """
    heads = current_heads(session)
    previous = log.state()
    if previous is not None:
        problems = regressions(session, previous, heads)
        if problems:
            raise CheckpointRefused(f"not signed: since checkpoint {previous.number}, " + "; ".join(problems[:20])
                                    + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
                                    + " (run `opendsp trace verify`)")
    # A first checkpoint in a sink continues the numbers the database noted: after a restore of an older
    # backup the operator starts a new sink, and the notes of the old one stay (append-only).
    first_number = 1 if previous else (session.scalar(select(func.max(TraceCheckpoint.number))) or 0) + 1
    checkpoint = make_checkpoint(heads=heads, previous=previous, made_at=clock.now(), signer=signer,
                                 full_every=full_every, first_number=first_number)
    if only_if_changed and previous and previous.checkpoint.root_hash == checkpoint.root_hash:
        return None
    log.sink.write(checkpoint.name, checkpoint.to_bytes())
    session.add(TraceCheckpoint(number=checkpoint.number, made_at=clock.now(), tree_size=len(heads),
                                root_hash=checkpoint.root_hash, key_id=checkpoint.statement["key_id"],
                                name=checkpoint.name))
    session.flush()
    return checkpoint
