"""Notifications and their e-mails, written in the caller's transaction; each person's choice of kinds.

``notify`` is called by the gate only (``opendsp.access.gate``), with the
session of the act: the notification, its trace entry and the job that will
write its e-mails commit or roll back together. The worker does the job
(``fan_out``: one outbox row per recipient) within seconds, then sends
(``worker.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from opendsp.access.models import AssistantDelegation, Notification
from opendsp.accounts.mailer import sender_domain
from opendsp.accounts.models import Account, AccountState
from opendsp.actors import Actor
from opendsp.notifications.models import DeliveryState, EmailPreference, NotificationKind, OutboxMessage
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.policy.facts import RecordFacts
from opendsp.records.models import Record
from opendsp.records.services import trace_event

KINDS: tuple[str, ...] = tuple(kind.value for kind in NotificationKind)


def notify(
    session: Session,
    platform: Platform,
    *,
    record: Record,
    kind: str,
    trace_entry_id: int | None,
    details: dict[str, Any],
    people: list[uuid.UUID],
    shown_from: datetime | None = None,
) -> Notification:
    """The notification, and the job that will write its e-mails (``fan_out``), in the act's transaction.

    ``people``: who is told, as the gate decided with the act (``holder_side``); the job carries them, and the
    worker writes an e-mail to each of them who wants this kind by e-mail and can receive it.
    ``shown_from``: the holder's side learns of it only from then (the portal
    hides it, the e-mails wait); used for documents the holder sees later.
    """
    from opendsp.jobs.models import JobKind
    from opendsp.jobs.services import enqueue

    now = platform.clock.now()
    shown_from = shown_from if shown_from is not None and shown_from > now else None
    notification = Notification(
        id=uuid.uuid4(), record_id=record.id, kind=kind, created_at=now, trace_entry_id=trace_entry_id,
        details=details, shown_from=shown_from,
    )
    session.add(notification)
    enqueue(session, platform, kind=JobKind.fan_out, record_id=record.id, notification_id=notification.id,
            trace_entry_id=trace_entry_id, payload={"people": [str(person) for person in people]})
    session.flush()
    return notification


def fan_out(session: Session, platform: Platform, *, notification_id: uuid.UUID, people: list[uuid.UUID]) -> int:
    """One outbox row per person told (``people``, decided with the act) who wants this kind by e-mail and has an
    active account with an address; return how many were written. Done again, it writes none twice (one row per
    notification and person)."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        return 0
    record = session.get(Record, notification.record_id)
    assert record is not None
    already = set(session.scalars(
        select(OutboxMessage.person_id).where(OutboxMessage.notification_id == notification.id)
    ))
    now = platform.clock.now()
    domain = sender_domain(platform.settings.smtp_from)
    written = 0
    for person_id in reachable(session, people, kind=notification.kind):
        if person_id in already:
            continue
        outbox_id = uuid.uuid4()
        session.add(OutboxMessage(
            id=outbox_id, message_id=f"<{outbox_id.hex}.notification@{domain}>", notification_id=notification.id,
            record_id=record.id, person_id=person_id, kind=notification.kind, state=DeliveryState.pending,
            attempts=0, created_at=now, next_attempt_at=notification.shown_from or now,
        ))
        written += 1
    session.flush()
    return written


def holder_side(session: Session, record: Record, now: datetime) -> list[uuid.UUID]:
    """Who is told: the holder, the assistants whose delegation runs now, and a minor's legal representatives.

    Asked by the gate in the act's transaction (the people are decided with the act); the worker only works out
    which of them get an e-mail (``fan_out``)."""
    holder = session.get(Person, record.person_id)
    assert holder is not None
    people = [holder.id]
    people += session.scalars(
        select(AssistantDelegation.assistant_id)
        .where(AssistantDelegation.record_id == record.id, AssistantDelegation.ended_at.is_(None),
               or_(AssistantDelegation.until.is_(None), AssistantDelegation.until > now))
        .order_by(AssistantDelegation.since)
    )
    facts = RecordFacts(id=record.id, state=record.state, holder_id=holder.id, holder_birth_date=holder.birth_date)
    if facts.holder_is_minor(now.date()):
        people += session.scalars(
            select(LegalRepresentation.representative_id)
            .where(LegalRepresentation.minor_id == holder.id)
            .order_by(LegalRepresentation.created_at)
        )
    return list(dict.fromkeys(people))


def reachable(session: Session, people: list[uuid.UUID], *, kind: str) -> list[uuid.UUID]:
    """``people`` less those without an active account and an address, less those who said no to ``kind``.

    An active account is asked for: the e-mail only says "log in to see", and
    its address is the one the person gave (or confirmed) when activating.
    """
    reachable = set(session.scalars(
        select(Account.person_id).where(
            Account.person_id.in_(people), Account.state == AccountState.active, Account.email.is_not(None),
            Account.email != "",
        )
    ))
    refused = set(session.scalars(
        select(EmailPreference.person_id).where(
            EmailPreference.person_id.in_(people), EmailPreference.kind == kind, EmailPreference.by_email.is_(False)
        )
    ))
    return [p for p in people if p in reachable and p not in refused]


def email_choices(session: Session, person_id: uuid.UUID) -> dict[str, bool]:
    """Every kind, and whether it reaches this person by e-mail (yes unless they said no)."""
    stored = {
        p.kind: p.by_email
        for p in session.scalars(select(EmailPreference).where(EmailPreference.person_id == person_id))
    }
    return {kind: stored.get(kind, True) for kind in KINDS}


def set_email_choices(
    session: Session, platform: Platform, *, person_id: uuid.UUID, by_email: Iterable[str]
) -> dict[str, bool]:
    """Store the kinds chosen by e-mail (every other known kind: no); returns the new choices."""
    wanted = set(by_email)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds of notification: {', '.join(sorted(unknown))}")
    now = platform.clock.now()
    stored = {p.kind: p for p in session.scalars(select(EmailPreference).where(EmailPreference.person_id == person_id))}
    for kind in KINDS:
        row = stored.get(kind)
        if row is None:
            session.add(EmailPreference(person_id=person_id, kind=kind, by_email=kind in wanted, updated_at=now))
        elif row.by_email != (kind in wanted):
            row.by_email, row.updated_at = kind in wanted, now
    session.flush()
    return {kind: kind in wanted for kind in KINDS}


# -- notices about an account, not about a record --------------------------------------------


def notify_account(session: Session, platform: Platform, *, account_id: uuid.UUID, kind: str,
                   once_per: timedelta) -> bool:
    """An e-mail to an account's owner about the account itself (e.g. logins held back): one outbox row, unless
    one of the same kind was queued for the account within ``once_per``. The worker writes its text when it
    sends it. Whether one was queued."""
    now = platform.clock.now()
    recent = session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.account_id == account_id, OutboxMessage.kind == kind,
                                       OutboxMessage.created_at > now - once_per)
    ).first()
    if recent is not None:
        return False
    outbox_id = uuid.uuid4()
    session.add(OutboxMessage(
        id=outbox_id, message_id=f"<{outbox_id.hex}.account@{sender_domain(platform.settings.smtp_from)}>",
        account_id=account_id, kind=kind, state=DeliveryState.pending, attempts=0, created_at=now,
        next_attempt_at=now,
    ))
    session.flush()
    return True


def queue_invitation(session: Session, platform: Platform, *, invitation_id: uuid.UUID, record_id: uuid.UUID,
                     kind: str) -> None:
    """The e-mail of an assistant invitation (``accounts/invitations.py``): one outbox row, in the invitation's
    transaction. The worker reads the address and makes the link when it sends it."""
    now = platform.clock.now()
    outbox_id = uuid.uuid4()
    session.add(OutboxMessage(
        id=outbox_id, message_id=f"<{outbox_id.hex}.invitation@{sender_domain(platform.settings.smtp_from)}>",
        invitation_id=invitation_id, record_id=record_id, kind=kind, state=DeliveryState.pending, attempts=0,
        created_at=now, next_attempt_at=now,
    ))
    session.flush()


# -- the outbox, for operators (`opendsp outbox status` / `retry`) ----------------------------


def outbox_counts(session: Session) -> dict[str, int]:
    """How many messages are in each state."""
    counts = dict.fromkeys((state.value for state in DeliveryState), 0)
    for state, count in session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ):
        counts[DeliveryState(state).value] = count
    return counts


def oldest_unsent(session: Session) -> datetime | None:
    """When the oldest message still waiting to be sent (pending or sending) was written; None when none waits."""
    return session.scalar(select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.state.in_([DeliveryState.pending, DeliveryState.sending])))


def given_up(session: Session, *, limit: int = 50) -> list[OutboxMessage]:
    """Messages in the visible ``failed`` state, newest first (no address, no text: ids, kind, error)."""
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.state == DeliveryState.failed)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id).limit(limit)
    ))


def retry_given_up(
    session: Session, platform: Platform, *, actor: Actor, ids: Iterable[uuid.UUID] = ()
) -> int:
    """Due again at once, with a fresh count of attempts: the named messages, or every given-up one. Traced."""
    wanted = list(ids)
    query = update(OutboxMessage).where(OutboxMessage.state == DeliveryState.failed)
    if wanted:
        query = query.where(OutboxMessage.id.in_(wanted))
    requeued = session.execute(
        query.values(state=DeliveryState.pending, attempts=0, next_attempt_at=platform.clock.now(),
                     claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    platform.trace.append(session, trace_event(
        actor, "outbox.retry", record_id=None,
        context={"messages": [str(i) for i in wanted] or "all", "requeued": requeued},
    ))
    return requeued
