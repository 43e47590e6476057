"""Holding back guessers without locking anyone out: counters per identifier and source, in the database.

A failed login (password, second factor, step-up), and a wrong activation
code (apart, ``activation:``), counts against the
identifier typed *and* the source it came from: the client's address (an
IPv6 client's /64), or, for a browser the account already logged in from, that
browser ("device:<id>", see ``web/devices.py``). After
``login_max_failures`` from one source, that source waits; every further
failure doubles the wait, up to ``login_wait_max_minutes``. A stranger who
types a public licence number wrong again and again therefore only holds back
themself: the owner, from elsewhere, logs in as usual.

Guessing from many addresses at once is caught by the identifier's total
(source ``*``): after ``login_account_max_failures`` every browser the account
never logged in from waits too. The owner still gets in from a known browser,
and is sent (through the outbox) an e-mail with a link that lifts every hold
and makes the browser that opens it a known one. The helpdesk can lift the
holds from the console.

Unknown identifiers are counted and held exactly like known ones, so the
answers tell nothing about which accounts exist.

The same table holds the clients' rate limits (``rate:<secret>:<source>``):
one counter per fixed window, incremented by a single upsert, so it holds
across processes and restarts on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from opendsp.accounts.models import Account, AccountState, Throttle, UnlockLink
from opendsp.clock import Randomness
from opendsp.db import insert_for
from opendsp.platform import Platform
from opendsp.settings import Settings

EVERYWHERE = "*"
# Failures older than this are forgotten: a source starts again from zero.
MEMORY = timedelta(hours=24)
# The owner is sent at most one e-mail about held-back logins in this time.
NOTICE_INTERVAL = timedelta(hours=1)
ACCOUNT_HELD = "account.held"


def network_of(address: str | None) -> str:
    """The source a client address counts as: itself, or its /64 for IPv6 (one subscriber's block)."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class Subject:
    """What failures are counted against: an account, or an identifier that names none; and for what
    (``login``: passwords, second factors, step-ups; ``activation``: codes of the letter)."""

    part: str
    account_id: uuid.UUID | None
    purpose: str = "login"

    @classmethod
    def of(cls, account: Account | None, typed: str, *, purpose: str = "login") -> Subject:
        if account is not None:
            return cls(part=f"a:{account.id}", account_id=account.id, purpose=purpose)
        # Only a digest of what was typed: the table never holds a national number.
        digest = hashlib.sha256(typed.strip().lower().encode()).hexdigest()[:40]
        return cls(part=f"u:{digest}", account_id=None, purpose=purpose)


@dataclass(frozen=True)
class Source:
    """Where an attempt came from: a known browser of this account, or an address."""

    name: str

    @property
    def known_device(self) -> bool:
        return self.name.startswith("device:")

    @classmethod
    def of(cls, *, address: str | None, device: str | None, device_accounts: frozenset[str],
           account_id: uuid.UUID | None) -> Source:
        if device and account_id is not None and str(account_id) in device_accounts:
            return cls(f"device:{device}")
        return cls(network_of(address))


def _key(subject: Subject, source: str) -> str:
    return f"{subject.purpose}:{subject.part}:{source}"


def _counter(session: Session, key: str, *, subject: Subject, source: str, now: datetime) -> Throttle:
    """The counter's row, made if missing (concurrent makers do not collide), locked for this transaction."""
    session.execute(
        insert_for(session)(Throttle)
        .values(key=key, account_id=subject.account_id, source=source, count=0, started_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(Throttle).where(Throttle.key == key).with_for_update().execution_options(populate_existing=True)
    ).one()
    return row


def held_until(session: Session, *, now: datetime, subject: Subject, source: Source) -> datetime | None:
    """Until when attempts for ``subject`` from ``source`` wait (None: they may go ahead now)."""
    keys = [_key(subject, source.name)]
    if not source.known_device:
        keys.append(_key(subject, EVERYWHERE))
    waits = [
        row.blocked_until for row in session.scalars(select(Throttle).where(Throttle.key.in_(keys)))
        if row.blocked_until is not None and row.blocked_until > now
    ]
    return max(waits) if waits else None


def wait_after(settings: Settings, failures: int, threshold: int) -> timedelta | None:
    """The wait earned by ``failures`` in a row: none below the threshold, then doubling up to the ceiling."""
    if failures < threshold:
        return None
    minutes = settings.login_wait_minutes * 2.0 ** min(failures - threshold, 30)
    return timedelta(minutes=min(minutes, settings.login_wait_max_minutes))


def count_failure(session: Session, *, platform: Platform, subject: Subject, source: Source) -> datetime | None:
    """One more failure for ``subject`` from ``source`` (and in total). Returns the start of a new hold, if any.

    When a hold starts on an account, its owner is told by e-mail (at most once an hour).
    """
    settings, now = platform.settings, platform.clock.now()
    started = None
    for name, threshold in ((source.name, settings.login_max_failures),
                            (EVERYWHERE, settings.login_account_max_failures)):
        row = _counter(session, _key(subject, name), subject=subject, source=name, now=now)
        if row.updated_at <= now - MEMORY:  # long ago: start again from zero
            row.count, row.started_at, row.blocked_until = 0, now, None
        row.count += 1
        row.updated_at = now
        wait = wait_after(settings, row.count, threshold)
        if wait is not None:
            if row.blocked_until is None or row.blocked_until <= now:
                started = now
            row.blocked_until = now + wait
    session.flush()
    if started is not None and subject.account_id is not None:
        _tell_owner(session, platform, subject.account_id)
    return started


def forget_source(session: Session, *, subject: Subject, source: Source) -> None:
    """A success from this source: its own failures are forgotten (the total is kept)."""
    session.execute(delete(Throttle).where(Throttle.key == _key(subject, source.name)))


def lift(session: Session, *, account_id: uuid.UUID) -> int:
    """Every hold on the account (the helpdesk, or the owner's e-mailed link). Returns how many were lifted."""
    return session.execute(
        delete(Throttle).where(Throttle.account_id == account_id)
    ).rowcount or 0


@dataclass(frozen=True)
class Hold:
    source: str
    failures: int
    since: datetime
    until: datetime | None


def holds_of(session: Session, *, account_id: uuid.UUID, now: datetime) -> list[Hold]:
    """The failed logins on an account that are still remembered, for its owner and the helpdesk."""
    rows = session.scalars(
        select(Throttle).where(Throttle.account_id == account_id, Throttle.updated_at > now - MEMORY).order_by(Throttle.started_at)
    )
    return [
        Hold(source=row.source, failures=row.count, since=row.started_at,
             until=row.blocked_until if row.blocked_until and row.blocked_until > now else None)
        for row in rows
    ]


# -- telling the owner, and the e-mailed link ----------------------------------------------------


def _tell_owner(session: Session, platform: Platform, account_id: uuid.UUID) -> None:
    """An e-mail through the outbox; the worker puts a fresh unlock link in it when it sends it."""
    account = session.get(Account, account_id)
    if account is None or account.state is not AccountState.active or not account.email:
        return
    from opendsp.notifications.services import notify_account

    notify_account(session, platform, account_id=account_id, kind=ACCOUNT_HELD, once_per=NOTICE_INTERVAL)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_unlock_link(session: Session, *, platform: Platform, account_id: uuid.UUID, randomness: Randomness) -> str:
    """A fresh link's token (256 bits); only its SHA-256 is kept."""
    from opendsp.accounts.codes import new_token

    now = platform.clock.now()
    token = new_token(randomness)
    session.add(UnlockLink(account_id=account_id, token_hash=token_digest(token), created_at=now,
                           expires_at=now + timedelta(hours=platform.settings.unlock_link_hours)))
    session.flush()
    return token


def use_unlock_link(session: Session, *, now: datetime, token: str) -> Account | None:
    """The account whose holds the link lifts, once; None for an unknown, used or expired link."""
    link = session.scalars(select(UnlockLink).where(UnlockLink.token_hash == token_digest(token))).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    link.used_at = now
    lift(session, account_id=link.account_id)
    session.flush()
    return session.get(Account, link.account_id)


# -- forgetting ---------------------------------------------------------------------------------


def purge(session: Session, *, now: datetime) -> int:
    """Delete the counters nobody needs any more; returns how many.

    A counter untouched for ``MEMORY`` would start again from zero anyway, and
    a rate-limit window is far shorter; a hold that has not ended yet is kept.
    Without this, every identifier typed once (a guessed national number, a
    typo) and every address that came once would stay in the table for good.
    """
    stale = Throttle.updated_at <= now - MEMORY
    ended = Throttle.blocked_until.is_(None) | (Throttle.blocked_until <= now)
    deleted = session.execute(delete(Throttle).where(stale, ended).execution_options(synchronize_session=False))
    session.flush()
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


# -- the clients' rate limit -------------------------------------------------------------------


def allow(session: Session, *, key: str, limit: int, window: timedelta, now: datetime) -> bool:
    """One more hit on ``key`` in the current window; False once more than ``limit`` were counted.

    A single INSERT ... ON CONFLICT DO UPDATE ... RETURNING: concurrent
    requests, in one process or many, each get their own count.
    """
    epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo)
    window_start = epoch + window * ((now - epoch) // window)
    statement = insert_for(session)(Throttle).values(key=key, source=key.rsplit(":", 1)[-1][:100], count=1,
                                        started_at=window_start, updated_at=now)
    table = Throttle.__table__.c
    same_window = table.started_at >= window_start
    statement = statement.on_conflict_do_update(
        index_elements=[table.key],
        set_={
            "count": case((same_window, table.count + 1), else_=1),
            "started_at": case((same_window, table.started_at), else_=window_start),
            "updated_at": now,
        },
    ).returning(Throttle.count)
    count = session.execute(statement).scalar_one()
    return count <= limit
