"""The holder's choices and the accesses opened on a record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key, within_record


class AccessSettings(Base):
    """One row per record: emergency access, referring doctor, presence code."""

    __tablename__ = "access_settings"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), primary_key=True)
    emergency_allowed: Mapped[bool] = mapped_column(default=True)
    referring_doctor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("professionals.id"))
    # Only a hash of the presence code is kept (argon2id).
    presence_code_hash: Mapped[str | None] = mapped_column(String(200))
    presence_code_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CircleMember(Base):
    """A professional the holder added to the trusted circle, one by one."""

    __tablename__ = "circle_members"
    __table_args__ = (Index("ix_circle_members_record_professional", "record_id", "professional_id"),
                      record_primary_key("circle_members", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professionals.id"))
    comment: Mapped[str | None] = mapped_column(String(300))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BlockedProfessional(Base):
    """A professional the holder refuses: overrides circle, code and emergency access."""

    __tablename__ = "blocked_professionals"
    __table_args__ = (Index("ix_blocked_professionals_record_professional", "record_id", "professional_id"),
                      record_primary_key("blocked_professionals", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professionals.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PresenceGrant(Base):
    """24 hours of access opened by a professional with the holder's presence code."""

    __tablename__ = "presence_grants"
    __table_args__ = (Index("ix_presence_grants_record_expires", "record_id", "expires_at"),
                      record_primary_key("presence_grants", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professionals.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmergencyAccess(Base):
    """An emergency department opening the record, with its reason, for a bounded time."""

    __tablename__ = "emergency_accesses"
    __table_args__ = (Index("ix_emergency_accesses_record_expires", "record_id", "expires_at"),
                      record_primary_key("emergency_accesses", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professionals.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    reason: Mapped[str] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AssistantDelegation(Base):
    """A person the holder designated to act with the holder's rights."""

    __tablename__ = "assistant_delegations"
    __table_args__ = (Index("ix_assistant_delegations_record_assistant", "record_id", "assistant_id"),
                      record_primary_key("assistant_delegations", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DocumentNamedProfessional(Base):
    """For a restricted document: a professional the holder named as a reader."""

    __tablename__ = "document_named_professionals"
    __table_args__ = (record_primary_key("document_named_professionals", "document_id", "professional_id"),
                      within_record("document_named_professionals", "document_id", "documents"))

    document_id: Mapped[uuid.UUID] = mapped_column()
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professionals.id"))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))


class Notification(Base):
    """Something the holder (and their assistants) must learn of; delivered by the portal and e-mail."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_record_created", "record_id", "created_at"),
                      record_primary_key("notifications", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trace_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the holder's side may learn of it (a document the holder sees only later); None: at once.
    shown_from: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Wish(Base):
    """A wish the holder records, e.g. organ donation after death; every change is kept."""

    __tablename__ = "wishes"
    __table_args__ = (Index("ix_wishes_record_kind_set", "record_id", "kind", "set_at"),
                      record_primary_key("wishes", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    kind: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(String(500))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(300))
