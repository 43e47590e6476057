from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, Integer, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime
from opendsp.trace.vocabulary import Outcome as Outcome

PLATFORM_CHAIN = "platform"
GENESIS_HASH = "0" * 64


class TraceEntry(Base):
    """One act: who, for whom, what, on which record and document, with what result, and why."""

    __tablename__ = "trace_entries"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        # Led by the chain, the trace's distribution column (docs/operations.md, "Scale-out"). On PostgreSQL;
        # SQLite keeps ``id`` alone, the only key it numbers itself (INTEGER PRIMARY KEY): the embedded default
        # is never distributed (migration 0023).
        PrimaryKeyConstraint("chain", "id", name="pk_trace_entries"),
        Index("ix_trace_entries_record_time", "record_id", "recorded_at"),
        # Counting recent wrong presence codes per professional reads the trace itself.
        Index("ix_trace_entries_actor_action_time", "actor_id", "action", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), autoincrement=True)
    # The entry's identity is its serial id alone (jobs and notifications name an entry by it).
    __mapper_args__ = {"primary_key": [id]}
    # Each record has a chain of its own (the record is the unit); other acts go to "platform".
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_display: Mapped[str | None] = mapped_column(String(300))
    on_behalf_of: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[uuid.UUID | None] = mapped_column()
    document_id: Mapped[uuid.UUID | None] = mapped_column()
    outcome: Mapped[Outcome] = mapped_column(Enum(Outcome, native_enum=False, length=16))
    reason: Mapped[str | None] = mapped_column(String(500))
    basis: Mapped[str | None] = mapped_column(String(32))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_software: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class TraceChainHead(Base):
    """The last position and hash of each chain: it reveals entries cut from a chain's end."""

    __tablename__ = "trace_chain_heads"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class TraceCheckpoint(Base):
    """A signed checkpoint written to the sink outside the database, noted here too (append-only).

    The sink's copy is the one that counts: this row only says when each
    checkpoint was made and where it lies, for the operators' convenience.
    """

    __tablename__ = "trace_checkpoints"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
