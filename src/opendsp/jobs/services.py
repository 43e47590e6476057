"""Writing a job in the act's transaction, and what operators see of the queue (`opendsp jobs status|retry`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.jobs.models import Job, JobKind, JobState
from opendsp.platform import Platform
from opendsp.records.services import trace_event


def enqueue(
    session: Session,
    platform: Platform,
    *,
    kind: JobKind,
    record_id: uuid.UUID,
    document_id: uuid.UUID | None = None,
    notification_id: uuid.UUID | None = None,
    trace_entry_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Job:
    """A job due now, added to the caller's transaction: it commits or rolls back with the act."""
    now = platform.clock.now()
    job = Job(id=uuid.uuid4(), kind=kind, record_id=record_id, document_id=document_id,
              notification_id=notification_id, trace_entry_id=trace_entry_id, payload=payload, state=JobState.pending, attempts=0,
              created_at=now, next_attempt_at=now)
    session.add(job)
    return job


def job_counts(session: Session) -> dict[str, dict[str, int]]:
    """How many jobs wait, run or were given up, by kind (done jobs are gone)."""
    counts = {kind.value: dict.fromkeys((state.value for state in JobState), 0) for kind in JobKind}
    for kind, state, count in session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)):
        counts[JobKind(kind).value][JobState(state).value] = count
    return counts


def oldest_waiting(session: Session) -> datetime | None:
    """When the oldest job not yet done (and not given up) was written; None when none waits."""
    return session.scalar(select(func.min(Job.created_at)).where(Job.state.in_([JobState.pending, JobState.running])))


def given_up(session: Session, *, limit: int = 50) -> list[Job]:
    """Jobs in the visible ``failed`` state, newest first."""
    return list(session.scalars(
        select(Job).where(Job.state == JobState.failed).order_by(Job.created_at.desc(), Job.id).limit(limit)
    ))


def retry_given_up(session: Session, platform: Platform, *, actor: Actor, ids: Iterable[uuid.UUID] = ()) -> int:
    """Due again at once, with a fresh count of attempts: the named jobs, or every given-up one. Traced."""
    wanted = list(ids)
    query = update(Job).where(Job.state == JobState.failed)
    if wanted:
        query = query.where(Job.id.in_(wanted))
    requeued = session.execute(
        query.values(state=JobState.pending, attempts=0, next_attempt_at=platform.clock.now(), claimed_by=None,
                     lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    platform.trace.append(session, trace_event(
        actor, "jobs.retry", record_id=None, context={"jobs": [str(i) for i in wanted] or "all", "requeued": requeued},
    ))
    return requeued
