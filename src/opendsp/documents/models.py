from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship, remote

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key, within_record
from opendsp.documents.types import ConfidentialityLevel, ContentKind, DocumentStatus, DocumentType
from opendsp.professionals.models import Organisation, Professional


class Document(Base):
    """A document's metadata. Its content is sealed in the content store."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_record_deposited", "record_id", "deposited_at"),
        Index("ix_documents_record_type", "record_id", "type"),
        record_primary_key("documents", "id"),
        within_record("documents", "replaces_id", "documents"),
        # The content key starts with the record's id: unique within the record is unique everywhere.
        UniqueConstraint("record_id", "content_key", name="uq_documents_record_content_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    type: Mapped[DocumentType] = mapped_column(Enum(DocumentType, native_enum=False, length=32))
    title: Mapped[str] = mapped_column(String(500))
    author_professional_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("professionals.id"))
    author_organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    # Set when the holder (or someone acting for them) deposited it in the personal space.
    authored_by_holder: Mapped[bool] = mapped_column(default=False)
    care_date: Mapped[date] = mapped_column(Date)
    deposited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confidentiality: Mapped[ConfidentialityLevel] = mapped_column(
        Enum(ConfidentialityLevel, native_enum=False, length=16), default=ConfidentialityLevel.normal
    )
    status: Mapped[DocumentStatus] = mapped_column(
        Enum(DocumentStatus, native_enum=False, length=16), default=DocumentStatus.current
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column()
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_kind: Mapped[ContentKind] = mapped_column(Enum(ContentKind, native_enum=False, length=8))
    # The holder hid it from every professional ("documents bloqués").
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The author delayed its release to the holder (a result to be explained in consultation).
    visible_to_holder_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where the sealed content lives in the content store (record-prefixed).
    content_key: Mapped[str] = mapped_column(String(200))

    author: Mapped[Professional | None] = relationship()
    author_organisation: Mapped[Organisation | None] = relationship()
    # The earlier version is always of the same record (the foreign key says so too).
    replaces: Mapped[Document | None] = relationship(
        primaryjoin=lambda: and_(foreign(Document.replaces_id) == remote(Document.id),
                                 Document.record_id == remote(Document.record_id)),
        viewonly=True,
    )


class DocumentDirectory(Base):
    """Which record a document belongs to, for a caller who names the document by its id alone.

    FHIR's ``DocumentReference/{id}`` and ``Binary/{id}`` name no record. This row answers "whose is it" in one
    lookup by the document's id, and the document is then read by (record, id): on a database distributed by
    record, the first question goes to the one node holding the id, the second to the one holding the record
    (docs/adr/0043-directories.md). Written in the transaction that inserts the document; points at no clinical
    table (it is distributed by the document's id, not by record). When the two disagree the document's own row
    wins: a directory row naming another record finds nothing there, and a missing one means "unknown".
    """

    __tablename__ = "document_directory"

    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column()
