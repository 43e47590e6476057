"""The index of structured documents: one row per clinical entry, its codes as keyed HMACs only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key, within_record


class StructuredEntry(Base):
    """One clinical entry of a structured document: where it is, never what it says."""

    __tablename__ = "structured_entries"
    __table_args__ = (
        Index("ix_structured_entries_record_type", "record_id", "resource_type", "effective_at"),
        record_primary_key("structured_entries", "id"),
        within_record("structured_entries", "document_id", "documents"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    document_id: Mapped[uuid.UUID] = mapped_column(index=True)
    position: Mapped[int] = mapped_column(Integer)  # the entry's index in Bundle.entry
    resource_type: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StructuredCode(Base):
    """A keyed HMAC of one of an entry's codes, so that a code can be searched but not read."""

    __tablename__ = "structured_codes"
    __table_args__ = (
        Index("ix_structured_codes_record_token", "record_id", "token"),
        record_primary_key("structured_codes", "id"),
        within_record("structured_codes", "entry_id", "structured_entries"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    master_key_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
