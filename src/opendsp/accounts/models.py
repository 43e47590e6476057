"""Accounts and their secrets. Every secret a person types is kept only as an argon2id hash."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key


class AccountKind(str, enum.Enum):
    person = "person"  # an insured person: holder, assistant, parent
    professional = "professional"
    staff = "staff"  # the agency's helpdesk and administrators


class AccountState(str, enum.Enum):
    """Stored states; "locked" is shown while ``locked_until`` lies ahead."""

    created = "created"
    letter_sent = "letter_sent"
    active = "active"
    closed = "closed"


class StaffRole(str, enum.Enum):
    helpdesk = "helpdesk"
    administrator = "administrator"


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("kind", "login"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[AccountKind] = mapped_column(Enum(AccountKind, native_enum=False, length=16))
    # What the owner types to log in: national number, licence number or staff user name.
    login: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"), unique=True)
    professional_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("professionals.id"), unique=True)
    display_name: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[AccountState] = mapped_column(Enum(AccountState, native_enum=False, length=16))
    email: Mapped[str | None] = mapped_column(String(320))
    mobile: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The TOTP secret must be read back to check codes, so it is sealed (wrapped by the master key).
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Enrolment in progress: shown as a QR code, confirmed by a first code.
    totp_pending: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The last time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # "issuer sub" of the federated identity that last logged in.
    federated_subject: Mapped[str | None] = mapped_column(String(500))
    # The language of the portal for an account without a person (professional, staff): chosen with the
    # language switch, else the one it first logged in with. A person's is ``Person.preferred_language``.
    language: Mapped[str | None] = mapped_column(String(2))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def display_state(self, now: datetime) -> str:
        if self.state is not AccountState.closed and self.locked_until and self.locked_until > now:
            return "locked"
        return self.state.value

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None


class ActivationCode(Base):
    """A single-use code, printed in a letter (or handed over to a professional or staff member)."""

    __tablename__ = "activation_codes"
    __table_args__ = (Index("ix_activation_codes_account_created", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ActivationLetter(Base):
    """That a letter was produced, for whom, in which batch: never its codes."""

    __tablename__ = "activation_letters"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    batch: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(2))
    file_name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    """One of the codes that replace a lost authenticator once each."""

    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))  # password+totp, password+recovery, federated
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whose record an assistant or parent acts on now (None: their own).
    acting_for_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    # The organisation a professional acts for.
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    # When the owner last proved it again (step-up: password, authenticator code or the State's portal).
    reauthenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AssistantInvitation(Base):
    """A holder's invitation to an assistant reached by e-mail; accepted once, with the invitee's own account."""

    __tablename__ = "assistant_invitations"
    __table_args__ = (record_primary_key("assistant_invitations", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    email: Mapped[str] = mapped_column(String(320))
    # The digest of the link's current token; the directory ``invitation_tokens`` finds the invitation by it.
    token_hash: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class InvitationToken(Base):
    """A directory: the digest of an invitation link's token → the invitation and its record.

    The invitee's link names no record; the token's digest alone finds the invitation, asking one node of a
    distributed database (``Kind.directory``). Written with the invitation, and moved with its token (a new link
    deletes the old digest's row), in the same transaction. No foreign key: the invitation lives on its record's
    node. A digest not here is unknown."""

    __tablename__ = "invitation_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column()
    invitation_id: Mapped[uuid.UUID] = mapped_column()


class Throttle(Base):
    """A counter kept in the database, so that it holds across processes and restarts (``accounts/guard.py``).

    Two uses share it: the client's rate limit (``rate:<secret>:<source>``,
    ``count`` hits since ``started_at``) and failed logins per identifier and
    source (``login:<identifier digest>:<source>``, ``count`` failures and the
    wait they earned in ``blocked_until``). ``account_id`` is set when the
    identifier names an account, so the owner and the helpdesk can see and lift it.
    """

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The client address (or network), "device:<id>" for a browser the account logged in from, or "*".
    source: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UnlockLink(Base):
    """A link e-mailed to an account's owner when logins are held back: it lifts every hold, once."""

    __tablename__ = "unlock_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
