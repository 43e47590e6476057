"""The queue of jobs an act leaves for the worker."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, new_id


class JobKind(str, enum.Enum):
    index_document = "index_document"  # the keyword index of one stored document
    fan_out = "fan_out"  # the e-mails of one notification, one per person of the holder's side who wants it


class JobState(str, enum.Enum):
    pending = "pending"  # waits for ``next_attempt_at``
    running = "running"  # claimed by a worker (``claimed_by``) until ``lease_until``
    failed = "failed"  # given up: stays visible, requeued only by an operator (`opendsp jobs retry`)
    # A job done is deleted in the transaction that does it: its effect (the tokens, the outbox rows) is its record.


class Job(Base):
    """One piece of an act's work left for the worker; written in the act's transaction.

    Holds ids only, never content, words or addresses: the worker reads what it needs when it does the job.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_due", "state", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[JobKind] = mapped_column(Enum(JobKind, native_enum=False, length=32))
    # The record's rows, named by their ids without a foreign key: the queue is the platform's, drained across
    # records, and the clinical tables may be distributed by record (docs/operations.md, "Scale-out").
    record_id: Mapped[uuid.UUID] = mapped_column(index=True)
    document_id: Mapped[uuid.UUID | None] = mapped_column()
    notification_id: Mapped[uuid.UUID | None] = mapped_column()
    # The trace entry of the act that left it.
    trace_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    # What the act decided that the job needs: for a fan-out, the people told (ids, never an address).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[JobState] = mapped_column(Enum(JobState, native_enum=False, length=16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The key of the worker holding the claim (``notifications.worker.Liveness``).
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
