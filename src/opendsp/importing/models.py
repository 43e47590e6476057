"""What an import keeps of itself: each loaded document's source identifier, and the finished batches."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, record_key, within_record, writes_name_the_record


class ImportedDocument(Base):
    """A document loaded from an export: its identifier there, so that a second run loads it no more."""

    __tablename__ = "imported_documents"
    __table_args__ = (record_key("imported_documents", "document_id"),
                      within_record("imported_documents", "document_id", "documents"))

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = writes_name_the_record(record_id)
    batch: Mapped[int] = mapped_column(Integer)


class ImportBatch(Base):
    """The journal of an import: a batch of lines that committed whole (loaded, skipped or rejected).

    A batch is named by a digest of its lines as read (numbers and fields): a run with another batch
    size, or over a file whose lines were fixed in place, does not take it for done.
    """

    __tablename__ = "import_batches"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    batch: Mapped[int] = mapped_column(Integer)
    loaded: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
