"""The e-mail outbox and each person's choice of what reaches them by e-mail."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, new_id
from opendsp.notifications.vocabulary import NotificationKind as NotificationKind


class DeliveryState(str, enum.Enum):
    pending = "pending"  # waits for ``next_attempt_at``
    sending = "sending"  # claimed by a worker (``claimed_by``) until ``lease_until``
    sent = "sent"  # the mail server accepted it (or it was written to the mail folder)
    failed = "failed"  # given up: stays visible, requeued only by an operator (`opendsp outbox retry`)


class OutboxMessage(Base):
    """One e-mail to one person about one notification; written with the notification, sent by the worker.

    Holds no address and no text: both are read when the message is sent, in
    the recipient's language of the day. ``message_id`` is fixed here, so every
    attempt sends the same Message-ID.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("notification_id", "person_id"),
        Index("ix_outbox_messages_state_due", "state", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    # A notification on a record, to a person of the holder's side... The record's rows are named by their ids
    # without a foreign key: the outbox is the platform's, drained across records, and the clinical tables may
    # be distributed by record (docs/operations.md, "Scale-out"); the worker reads them by record.
    notification_id: Mapped[uuid.UUID | None] = mapped_column()
    record_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"), index=True)
    # ... or a notice about an account to its owner, whoever they are (``accounts/guard.py``) ...
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    # ... or an assistant invitation, to the address it was sent to (``accounts/invitations.py``).
    invitation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[DeliveryState] = mapped_column(Enum(DeliveryState, native_enum=False, length=16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The key of the worker holding the claim (see ``worker.Liveness``).
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))


class EmailPreference(Base):
    """A person's choice for one kind; without a row, the kind goes by e-mail."""

    __tablename__ = "notification_preferences"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    by_email: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
