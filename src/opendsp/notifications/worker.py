"""The outbox worker (``opendsp worker``): claims due messages, sends them, records the outcome.

One message goes through three short transactions, and no transaction is
open while the mail server is spoken to (SQLite has one writer):

1. **claim**: due rows (``pending`` and due, or ``sending`` with an expired
   lease) become ``sending``, with this worker's key, one more attempt and a
   lease. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers never claim the
   same row; SQLite: ``BEGIN IMMEDIATE`` serialises the claims.
   Rows claimed by a worker that has died are first handed back (see
   ``Liveness``), so a restarted worker resumes at once.
2. **send**, outside any transaction, with the row's fixed Message-ID.
3. **finish**: ``sent``, or ``pending`` again at the next time of the retry
   schedule, or ``failed`` after the last attempt (or a permanent refusal).
   The update only applies while this worker still holds that very claim.

The delivery guarantee, and its one residual window, are in
docs/notifications.md ("What is guaranteed").
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from opendsp.access.models import Notification
from opendsp.accounts.mailer import MailNotSent, Transport, without_addresses
from opendsp.accounts.models import Account, AccountState
from opendsp.clock import Randomness
from opendsp.locale import DEFAULT_LANGUAGE
from opendsp.notifications.messages import compose
from opendsp.notifications.models import DeliveryState, OutboxMessage
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.settings import Settings

if TYPE_CHECKING:
    from opendsp.jobs.worker import JobTally

log = logging.getLogger("opendsp.worker")


# -- the retry schedule ----------------------------------------------------------------------


C = TypeVar("C")


def drain_batches(stop: threading.Event, claim: Callable[[], Sequence[C]], release: Callable[[Sequence[C]], None],
                  handle: Callable[[C], None]) -> None:
    """Claim and handle batch after batch until nothing is due or ``stop`` is set: the item at hand is
    finished, the claims not yet handled go back (the outbox's messages and the jobs alike)."""
    while not stop.is_set():
        claims = claim()
        if not claims:
            return
        for position, item in enumerate(claims):
            if stop.is_set():
                release(claims[position:])
                return
            handle(item)


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff: ``first`` after the first failed attempt, doubled each time, never above ``ceiling``."""

    first: timedelta
    ceiling: timedelta
    max_attempts: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrySchedule:
        return cls(
            first=timedelta(seconds=settings.outbox_retry_seconds),
            ceiling=timedelta(seconds=settings.outbox_retry_max_seconds),
            max_attempts=settings.outbox_max_attempts,
        )

    def delay(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts (1, 2, ...)."""
        if attempts < 1:
            raise ValueError("a delay follows a failed attempt: attempts start at 1")
        seconds = self.first.total_seconds() * 2.0 ** min(attempts - 1, 64)
        return timedelta(seconds=min(seconds, self.ceiling.total_seconds()))

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed attempts; None: give up."""
        if attempts >= self.max_attempts:
            return None
        return now + self.delay(attempts)


# -- telling live workers from dead ones -----------------------------------------------------


class Liveness(Protocol):
    """A lock each worker holds while it runs, which its death releases (even SIGKILL).

    A claim by a worker whose lock is free belongs to a dead worker and is
    handed back at once; the lease only matters for a worker that is alive
    but stuck.
    """

    key: int

    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def alive(self, session: Session, key: int) -> bool: ...


def _draw_key(randomness: Randomness) -> int:
    return int.from_bytes(randomness.bytes(4), "big") & 0x7FFFFFFF or 1


class FileLiveness:
    """SQLite (one machine): an exclusive ``flock`` on ``<database>.workers/<key>.lock``.

    The kernel releases the lock when the process ends, however it ends.
    """

    def __init__(self, directory: Path, randomness: Randomness) -> None:
        self.directory = directory
        self.randomness = randomness
        self.key = 0
        self._descriptor: int | None = None

    def _path(self, key: int) -> Path:
        return self.directory / f"{key}.lock"

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            key = _draw_key(self.randomness)
            descriptor = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live worker drew the same key
                os.close(descriptor)
                continue
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
            self.key, self._descriptor = key, descriptor
            return

    def release(self) -> None:
        if self._descriptor is None:
            return
        self._path(self.key).unlink(missing_ok=True)
        os.close(self._descriptor)
        self._descriptor = None

    def alive(self, session: Session, key: int) -> bool:
        if key == self.key and self._descriptor is not None:
            return True
        try:
            descriptor = os.open(self._path(key), os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return True
        try:
            self._path(key).unlink(missing_ok=True)  # the dead worker's file, removed while its lock is ours
        finally:
            os.close(descriptor)
        return False


# A namespace for PostgreSQL's two-key advisory locks: (namespace, worker key).
ADVISORY_NAMESPACE = 0x0D5B0


class PostgresLiveness:
    """PostgreSQL: a session-level advisory lock on a connection the worker keeps open.

    PostgreSQL releases it when that connection ends (the process died, or
    the connection was lost); other workers test it with a transaction-level
    try-lock inside their claim.
    """

    def __init__(self, engine: Engine, randomness: Randomness) -> None:
        self.engine = engine
        self.randomness = randomness
        self.key = 0
        self._connection: Connection | None = None

    def acquire(self) -> None:
        connection = self.engine.connect()
        while True:
            key = _draw_key(self.randomness)
            if connection.execute(select(func.pg_try_advisory_lock(ADVISORY_NAMESPACE, key))).scalar():
                connection.commit()  # the lock is the session's: it outlives this transaction
                self.key, self._connection = key, connection
                return

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(select(func.pg_advisory_unlock(ADVISORY_NAMESPACE, self.key)))
            self._connection.commit()
        finally:
            self._connection.close()
            self._connection = None

    def check(self) -> None:
        """Take the lock again on a new connection if the one holding it was lost."""
        connection = self._connection
        assert connection is not None
        try:
            connection.execute(select(1))
            connection.commit()
        except Exception:  # noqa: BLE001 - any failure: the connection, and with it the lock, is gone
            log.warning("worker %s lost the connection that holds its lock; taking a new one", self.key)
            with suppress(Exception):
                connection.invalidate()
            with suppress(Exception):
                connection.close()
            self._connection = None
            self.acquire()

    def alive(self, session: Session, key: int) -> bool:
        if key == self.key:
            return True
        # Free: nobody holds it, so its worker is dead (we now hold it until our claim commits).
        free = session.execute(select(func.pg_try_advisory_xact_lock(ADVISORY_NAMESPACE, key))).scalar()
        return not free


def liveness_for(platform: Platform) -> FileLiveness | PostgresLiveness:
    engine = platform.engine
    assert engine is not None
    if engine.dialect.name == "postgresql":
        return PostgresLiveness(engine, platform.randomness)
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("the outbox worker needs an SQLite database file, not an in-memory database")
    return FileLiveness(Path(f"{database}.workers"), platform.randomness)


# -- the claim, shared by the outbox and the jobs ------------------------------------------------


R = TypeVar("R")


@dataclass(frozen=True)
class WorkQueue:
    """A table of work that workers claim (the outbox's messages, the acts' jobs): the same columns and steps.

    Its rows have ``state``, ``claimed_by``, ``attempts``, ``lease_until``, ``next_attempt_at`` and
    ``last_error``; ``pending`` rows wait for their time, ``working`` ones are claimed until their lease ends,
    ``failed`` ones wait for an operator. The strings name the work in the workers' log lines.
    """

    model: Any
    pending: enum.Enum
    working: enum.Enum
    failed: enum.Enum
    log: logging.Logger
    name: Callable[[Any], str]  # a row, as a log line names it
    again: str  # what a claim taken over from a stuck worker does, e.g. "doing it again"
    stopped: str  # what the dead worker was doing, e.g. "doing jobs"
    items: str  # e.g. "job(s)"
    note: str  # the row's last_error when a dead worker's claim is handed back

    def claim(self, platform: Platform, liveness: FileLiveness | PostgresLiveness, *, lease: timedelta, limit: int,
              max_attempts: int, then: Callable[[Session, Any], R]) -> list[R]:
        """Claim what is due, in one transaction: pending rows whose time has come, and working rows whose lease
        has ended, each with this worker's key, one more attempt and a lease; ``then`` turns each claimed row into
        what the worker handles. PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``."""
        if isinstance(liveness, PostgresLiveness):
            liveness.check()
        model = self.model
        with platform.transaction() as session:
            now = platform.clock.now()
            self._hand_back_from_dead_workers(session, liveness, now=now, max_attempts=max_attempts)
            rows = session.scalars(
                select(model)
                .where(or_(
                    and_(model.state == self.pending, model.next_attempt_at <= now),
                    and_(model.state == self.working, model.lease_until <= now),
                ))
                .order_by(model.next_attempt_at, model.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            claims = []
            for row in rows:
                if row.state is self.working:
                    self.log.warning("%s: the lease of worker %s expired; %s", self.name(row), row.claimed_by,
                                     self.again)
                row.state, row.claimed_by = self.working, liveness.key
                row.attempts += 1
                row.lease_until = now + lease
                claims.append(then(session, row))
            return claims

    def _hand_back_from_dead_workers(self, session: Session, liveness: FileLiveness | PostgresLiveness, *,
                                     now: datetime, max_attempts: int) -> None:
        """Claims of workers that died (their liveness lock is free) are due again at once."""
        model = self.model
        claimants = set(session.scalars(
            select(model.claimed_by).distinct().where(
                model.state == self.working, model.claimed_by.is_not(None), model.claimed_by != liveness.key)
        ))
        dead = sorted(k for k in claimants if k is not None and not liveness.alive(session, k))
        if not dead:
            return
        claimed = and_(model.state == self.working, model.claimed_by.in_(dead))
        spent = session.execute(
            update(model).where(claimed, model.attempts >= max_attempts)
            .values(state=self.failed, claimed_by=None, lease_until=None, last_error=self.note)
            .execution_options(synchronize_session=False)
        ).rowcount
        back = session.execute(
            update(model).where(claimed)
            .values(state=self.pending, claimed_by=None, lease_until=None, next_attempt_at=now, last_error=self.note)
            .execution_options(synchronize_session=False)
        ).rowcount
        self.log.warning("workers %s stopped while %s: %s %s due again, %s given up", dead, self.stopped, back,
                         self.items, spent)


# -- the worker -------------------------------------------------------------------------------


OUTBOX = WorkQueue(
    model=OutboxMessage, pending=DeliveryState.pending, working=DeliveryState.sending, failed=DeliveryState.failed,
    log=log, name=lambda row: row.message_id, again="sending it again (it may arrive twice)", stopped="sending",
    items="message(s)", note="the worker sending it stopped before it finished",
)


@dataclass
class Claim:
    id: uuid.UUID
    message_id: str
    attempt: int
    message: EmailMessage | None
    # Why it cannot be sent at all (no address any more): given up at once.
    problem: str | None = None


@dataclass
class Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    claims_lost: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxWorker:
    def __init__(
        self,
        platform: Platform,
        transport: Transport,
        *,
        stop: threading.Event | None = None,
        liveness: FileLiveness | PostgresLiveness | None = None,
    ) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.transport = transport
        self.stop = stop or threading.Event()
        self.liveness = liveness or liveness_for(platform)
        self.schedule = RetrySchedule.from_settings(self.settings)
        self.lease = timedelta(seconds=self.settings.outbox_lease_seconds)
        self.job_tally: JobTally | None = None

    @property
    def key(self) -> int:
        return self.liveness.key

    def __enter__(self) -> OutboxWorker:
        self.liveness.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.liveness.release()

    def run(self, *, once: bool = False) -> Tally:
        """Do the acts' jobs and send the e-mails until stopped (``stop`` set, e.g. by SIGTERM); with ``once``, do
        and send what is due now and return.

        Jobs (``opendsp.jobs``: keyword indexing, the e-mails' fan-out) are looked for every
        ``jobs_poll_seconds``; the outbox every ``outbox_poll_seconds``, and at once after a fan-out wrote to it.
        """
        from opendsp.jobs.worker import JobTally, JobWorker

        tally = Tally()
        # What the jobs came to, for the command's summary.
        self.job_tally = job_tally = JobTally()
        with self:
            jobs = JobWorker(self.platform, stop=self.stop, liveness=self.liveness)
            log.info("worker %s started", self.key)
            next_outbox = 0.0
            while not self.stop.is_set():
                before = job_tally.done
                jobs.drain(job_tally)
                if job_tally.done != before or time.monotonic() >= next_outbox:
                    self.drain(tally)
                    next_outbox = time.monotonic() + self.settings.outbox_poll_seconds
                if once:
                    break
                self.stop.wait(min(self.settings.jobs_poll_seconds, self.settings.outbox_poll_seconds))
            log.info("worker %s stopped: %s job(s) done, %s sent, %s to retry, %s given up", self.key,
                     job_tally.done, tally.sent, tally.retried, tally.failed)
        return tally

    def drain(self, tally: Tally) -> None:
        """Claim and send batch after batch until nothing is due (or stop is asked for)."""
        drain_batches(self.stop, self.claim, self.release, lambda claim: self.deliver(claim, tally))

    # -- 1. claim ------------------------------------------------------------------------

    def claim(self) -> list[Claim]:
        return OUTBOX.claim(self.platform, self.liveness, lease=self.lease, limit=self.settings.outbox_batch_size,
                            max_attempts=self.schedule.max_attempts, then=self._prepare)

    def _prepare(self, session: Session, row: OutboxMessage) -> Claim:
        """The e-mail, built from the row, the recipient's account (address) and person (name, language)."""
        claim = Claim(id=row.id, message_id=row.message_id, attempt=row.attempts, message=None)
        if row.account_id is not None:
            return self._prepare_account_notice(session, row, claim)
        if row.invitation_id is not None:
            return self._prepare_invitation(session, row, claim)
        assert row.person_id is not None and row.record_id is not None and row.notification_id is not None
        person = session.get(Person, row.person_id)
        account = session.scalars(select(Account).where(Account.person_id == row.person_id)).first()
        if person is None or account is None or account.state is not AccountState.active or not account.email:
            claim.problem = "the recipient has no active account with an e-mail address any more"
            return claim
        record = session.get(Record, row.record_id)
        notification = session.get(Notification, row.notification_id)
        assert record is not None and notification is not None
        holder = session.get(Person, record.person_id)
        assert holder is not None
        claim.message = compose(
            kind=row.kind,
            language=person.preferred_language.value,
            sender=self.settings.smtp_from,
            to=account.email,
            message_id=row.message_id,
            created_at=notification.shown_from or notification.created_at,
            recipient_name=person.given_name,
            holder_name=None if holder.id == person.id else holder.given_name,
            base_url=self.settings.public_base_url,
        )
        return claim

    def _prepare_account_notice(self, session: Session, row: OutboxMessage, claim: Claim) -> Claim:
        """A notice about the account itself (logins held back), to its owner, with a fresh unlock link.

        The link is made now, in the claim's transaction: the outbox never holds a usable secret.
        """
        from opendsp.accounts import guard
        from opendsp.accounts.notices import compose_held_notice

        account = session.get(Account, row.account_id)
        if account is None or account.state is not AccountState.active or not account.email:
            claim.problem = "the account has no e-mail address any more"
            return claim
        person = session.get(Person, account.person_id) if account.person_id else None
        token = guard.new_unlock_link(session, platform=self.platform, account_id=account.id,
                                      randomness=self.platform.randomness)
        claim.message = compose_held_notice(
            language=person.preferred_language.value if person else account.language or DEFAULT_LANGUAGE,
            sender=self.settings.smtp_from,
            to=account.email, message_id=row.message_id, created_at=row.created_at,
            recipient_name=person.given_name if person else account.display_name,
            base_url=self.settings.public_base_url, token=token,
        )
        return claim

    def _prepare_invitation(self, session: Session, row: OutboxMessage, claim: Claim) -> Claim:
        """An assistant invitation, to the address it was sent to, with a fresh link made now (as for the unlock
        link: the outbox never holds a usable secret; a new attempt makes the previous attempt's link void)."""
        from opendsp.accounts import invitations
        from opendsp.accounts.models import AssistantInvitation

        # By its record too: the statement goes to the record's node on a distributed database.
        invitation = session.scalar(select(AssistantInvitation).where(
            AssistantInvitation.record_id == row.record_id, AssistantInvitation.id == row.invitation_id))
        if invitation is None:
            claim.problem = "the invitation does not exist any more"
            return claim
        try:
            invitations.check(invitation, self.platform.clock.now())
        except invitations.InvitationRefused as refused:  # withdrawn, expired or used before it was sent
            claim.problem = f"the invitation cannot be accepted any more ({refused.code})"
            return claim
        holder = invitations.holder_of(session, invitation)
        token = invitations.new_link(session, self.platform, invitation)
        claim.message = invitations.compose(
            invitation=invitation, holder_given_name=holder.given_name, token=token,
            sender=self.settings.smtp_from, message_id=row.message_id, base_url=self.settings.public_base_url,
        )
        return claim

    # -- 2. send, 3. finish ----------------------------------------------------------------

    def deliver(self, claim: Claim, tally: Tally) -> None:
        if claim.message is None:
            self._finish(claim, tally, error=claim.problem or "nothing to send", permanent=True)
            return
        try:
            self.transport.deliver(claim.message)
        except MailNotSent as error:
            self._finish(claim, tally, error=str(error) or error.__class__.__name__, permanent=error.permanent)
        except Exception as error:  # noqa: BLE001 - a bug must not stop the other messages; retried, then given up
            log.exception("%s: unexpected error while sending", claim.message_id)
            self._finish(claim, tally, error=without_addresses(f"{error.__class__.__name__}: {error}"))
        else:
            self._finish(claim, tally)

    def _finish(self, claim: Claim, tally: Tally, *, error: str | None = None, permanent: bool = False) -> None:
        with self.platform.transaction() as session:
            now = self.platform.clock.now()
            if error is None:
                values = {"state": DeliveryState.sent, "sent_at": now, "last_error": None}
                outcome = "sent"
            else:
                retry_at = None if permanent else self.schedule.next_attempt(claim.attempt, now)
                values = {"last_error": error[:500]}
                if retry_at is None:
                    values.update(state=DeliveryState.failed)
                    outcome = "failed"
                else:
                    values.update(state=DeliveryState.pending, next_attempt_at=retry_at)
                    outcome = "retry"
            values.update(claimed_by=None, lease_until=None)
            done = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == claim.id, OutboxMessage.state == DeliveryState.sending,
                       OutboxMessage.claimed_by == self.key, OutboxMessage.attempts == claim.attempt)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
        if done != 1:
            tally.claims_lost += 1
            log.warning("%s: this worker's claim was taken over meanwhile (outcome %s not recorded)",
                        claim.message_id, outcome)
            return
        if outcome == "sent":
            tally.sent += 1
            log.info("%s: sent (attempt %s)", claim.message_id, claim.attempt)
        elif outcome == "retry":
            tally.retried += 1
            tally.errors.append(error or "")
            log.warning("%s: attempt %s failed (%s); next attempt at %s", claim.message_id, claim.attempt, error,
                        values["next_attempt_at"])
        else:
            tally.failed += 1
            tally.errors.append(error or "")
            log.error("%s: given up after %s attempt(s): %s", claim.message_id, claim.attempt, error)

    def release(self, claims: list[Claim]) -> None:
        """Hand back claims not attempted (on stop): due at once, the attempt not counted."""
        with self.platform.transaction() as session:
            for claim in claims:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == claim.id, OutboxMessage.state == DeliveryState.sending,
                           OutboxMessage.claimed_by == self.key, OutboxMessage.attempts == claim.attempt)
                    .values(state=DeliveryState.pending, claimed_by=None, lease_until=None,
                            attempts=OutboxMessage.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
