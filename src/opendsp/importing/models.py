"""What an import keeps of itself: each loaded document's source identifier, and the finished batches."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime


class ImportedDocument(Base):
    """A document loaded from an export: its identifier there, so that a second run loads it no more.

    A directory (``Kind.directory``, spread by the source identifier): the export names its lines by their own
    identifiers, never by record, and a run asks by those alone. Written with the document, in the batch's
    transaction; no foreign key to the document or its record, which live on the record's node."""

    __tablename__ = "imported_documents"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column()
    record_id: Mapped[uuid.UUID] = mapped_column()
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
