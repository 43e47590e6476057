"""Doing the jobs acts leave (``opendsp worker``, beside the e-mails): claim, do, finish.

A job goes through the outbox's steps (docs/notifications.md, "The worker"),
with the same liveness locks and the same claim:

1. **claim**: due jobs (``pending`` and due, or ``running`` with an expired
   lease) become ``running``, with this worker's key, one more attempt and a
   lease. PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``.
   Claims of a worker that died are handed back at once (its liveness lock is
   free); a stuck worker's claim is taken over when its lease ends.
2. **prepare**, outside any write transaction: what is slow (reading a PDF's
   text) is done here, from a short read of the database and the sealed store.
3. **finish**, one transaction: the job's row is deleted only while this worker
   still holds that very claim (same key, same attempt), and the job's effect
   (the tokens, the outbox rows) is written in that same transaction. A job is
   done exactly when its effect is committed; done twice (a taken-over claim
   whose first worker comes back), its effect is the same.

A failure puts the job back on the backoff schedule; after the last attempt it
stays, visibly, ``failed`` until an operator retries it (`opendsp jobs retry`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from opendsp.accounts.mailer import without_addresses
from opendsp.jobs.models import Job, JobKind, JobState
from opendsp.notifications.worker import (
    FileLiveness,
    PostgresLiveness,
    RetrySchedule,
    WorkQueue,
    drain_batches,
    liveness_for,
)
from opendsp.platform import Platform

log = logging.getLogger("opendsp.worker.jobs")


@dataclass(frozen=True)
class JobClaim:
    id: uuid.UUID
    kind: JobKind
    attempt: int
    record_id: uuid.UUID
    document_id: uuid.UUID | None
    notification_id: uuid.UUID | None
    payload: dict[str, Any]


@dataclass
class JobTally:
    done: int = 0
    retried: int = 0
    failed: int = 0
    claims_lost: int = 0
    errors: list[str] = field(default_factory=list)


JOBS = WorkQueue(
    model=Job, pending=JobState.pending, working=JobState.running, failed=JobState.failed, log=log,
    name=lambda row: f"job {row.id}", again="doing it again", stopped="doing jobs", items="job(s)",
    note="the worker doing it stopped before it finished",
)


def _job_claim(_session: Session, row: Job) -> JobClaim:
    return JobClaim(id=row.id, kind=JobKind(row.kind), attempt=row.attempts, record_id=row.record_id,
                    document_id=row.document_id, notification_id=row.notification_id, payload=dict(row.payload or {}))


class ClaimTakenOver(Exception):
    """This worker's claim on a job was handed to another worker meanwhile: its outcome is not recorded."""


# Something to write in the finish transaction.
Effect = Callable[[Session], None]


class JobWorker:
    def __init__(
        self,
        platform: Platform,
        *,
        stop: threading.Event | None = None,
        liveness: FileLiveness | PostgresLiveness | None = None,
    ) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.stop = stop or threading.Event()
        # Shared with the outbox worker of the same process (it holds the lock); else this worker's own.
        self._own_liveness = liveness is None
        self.liveness = liveness or liveness_for(platform)
        self.schedule = RetrySchedule(
            first=timedelta(seconds=self.settings.jobs_retry_seconds),
            ceiling=timedelta(seconds=self.settings.jobs_retry_max_seconds),
            max_attempts=self.settings.jobs_max_attempts,
        )
        self.lease = timedelta(seconds=self.settings.jobs_lease_seconds)

    @property
    def key(self) -> int:
        return self.liveness.key

    def __enter__(self) -> JobWorker:
        if self._own_liveness:
            self.liveness.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._own_liveness:
            self.liveness.release()

    def run(self, *, once: bool = False) -> JobTally:
        """Do jobs until stopped; with ``once``, do what is due now and return."""
        tally = JobTally()
        with self:
            while not self.stop.is_set():
                self.drain(tally)
                if once:
                    break
                self.stop.wait(self.settings.jobs_poll_seconds)
        return tally

    def drain(self, tally: JobTally) -> None:
        """Claim and do batch after batch until nothing is due (or stop is asked for)."""
        drain_batches(self.stop, self.claim, self.release, lambda claim: self.do(claim, tally))

    # -- 1. claim ------------------------------------------------------------------------

    def claim(self) -> list[JobClaim]:
        return JOBS.claim(self.platform, self.liveness, lease=self.lease, limit=self.settings.jobs_batch_size,
                          max_attempts=self.schedule.max_attempts, then=_job_claim)

    # -- 2. prepare, 3. finish -------------------------------------------------------------

    def do(self, claim: JobClaim, tally: JobTally) -> None:
        try:
            effect = self.prepare(claim)
            self.finish(claim, effect)
        except ClaimTakenOver:
            tally.claims_lost += 1
            log.warning("job %s: this worker's claim was taken over meanwhile (its outcome is not recorded)",
                        claim.id)
        except Exception as error:  # noqa: BLE001 - one job's failure must not stop the others; retried, then given up
            log.exception("job %s (%s): attempt %s failed", claim.id, claim.kind.value, claim.attempt)
            self._failed(claim, tally, without_addresses(f"{error.__class__.__name__}: {error}"))
        else:
            tally.done += 1

    def prepare(self, claim: JobClaim) -> Effect:
        """The job's slow part, outside any write transaction; returns what to write when finishing."""
        platform = self.platform
        if claim.kind is JobKind.index_document:
            from opendsp.search.services import document_terms, write_document_terms

            assert claim.document_id is not None
            terms = document_terms(platform, claim.document_id, record_id=claim.record_id)
            return lambda session: write_document_terms(session, platform, terms) if terms is not None else None
        if claim.kind is JobKind.fan_out:
            from opendsp.notifications.services import fan_out

            notification_id = claim.notification_id
            assert notification_id is not None
            people = [uuid.UUID(person) for person in claim.payload.get("people", [])]
            return lambda session: fan_out(session, platform, notification_id=notification_id, people=people)
        raise ValueError(f"unknown kind of job: {claim.kind}")

    def finish(self, claim: JobClaim, effect: Effect) -> None:
        """Delete the job while it is still this worker's claim, and write its effect, in one transaction."""
        with self.platform.transaction() as session:
            done = session.execute(
                delete(Job).where(Job.id == claim.id, Job.state == JobState.running, Job.claimed_by == self.key,
                                  Job.attempts == claim.attempt)
                .execution_options(synchronize_session=False)
            ).rowcount
            if done != 1:
                raise ClaimTakenOver(claim.id)
            effect(session)

    def _failed(self, claim: JobClaim, tally: JobTally, error: str) -> None:
        with self.platform.transaction() as session:
            now = self.platform.clock.now()
            retry_at = self.schedule.next_attempt(claim.attempt, now)
            values: dict[str, object] = {"last_error": error[:500], "claimed_by": None, "lease_until": None}
            if retry_at is None:
                values["state"] = JobState.failed
            else:
                values.update(state=JobState.pending, next_attempt_at=retry_at)
            recorded = session.execute(
                update(Job).where(Job.id == claim.id, Job.state == JobState.running, Job.claimed_by == self.key,
                                  Job.attempts == claim.attempt)
                .values(**values).execution_options(synchronize_session=False)
            ).rowcount
        if recorded != 1:
            tally.claims_lost += 1
        elif retry_at is None:
            tally.failed += 1
            tally.errors.append(error)
            log.error("job %s given up after %s attempt(s): %s", claim.id, claim.attempt, error)
        else:
            tally.retried += 1
            tally.errors.append(error)
            log.warning("job %s: next attempt at %s", claim.id, retry_at)

    def release(self, claims: list[JobClaim]) -> None:
        """Hand back claims not attempted (on stop): due at once, the attempt not counted."""
        with self.platform.transaction() as session:
            for claim in claims:
                session.execute(
                    update(Job).where(Job.id == claim.id, Job.state == JobState.running, Job.claimed_by == self.key,
                                      Job.attempts == claim.attempt)
                    .values(state=JobState.pending, claimed_by=None, lease_until=None, attempts=Job.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
