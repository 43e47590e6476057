from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, record_primary_key


class RecordKey(Base):
    """A record's data key, wrapped by a master key. Destroying it destroys the content."""

    __tablename__ = "record_keys"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), primary_key=True)
    master_key_id: Mapped[str | None] = mapped_column(String(64))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PendingContent(Base):
    """Content a deposit is writing: committed before the blob, removed with the document's commit.

    ``store check`` never removes a blob that a pending row or a document names,
    so a deposit in flight cannot lose its content (docs/adr/0018-pending-content.md).
    """

    __tablename__ = "pending_content"
    __table_args__ = (record_primary_key("pending_content", "content_key"),)

    content_key: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
