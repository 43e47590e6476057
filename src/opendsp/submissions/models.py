"""What an exchange (IHE MHD) keeps beside the documents: submission sets, document unique ids, document context.

Written and read only through ``RecordAccess`` (``submit``, ``find_lists``, ``document_details``)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key, within_record


class SubmissionSet(Base):
    """An IHE MHD SubmissionSet: the documents one Provide Document Bundle (ITI-65) deposited together."""

    __tablename__ = "fhir_submission_sets"
    __table_args__ = (record_primary_key("fhir_submission_sets", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    # The submission set's uniqueId, as the sender gave it.
    unique_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    source_id: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64))
    author_professional_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("professionals.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubmittedDocument(Base):
    """A document deposited through MHD: its submission set and the sender's uniqueId (masterIdentifier)."""

    __tablename__ = "fhir_submitted_documents"
    __table_args__ = (
        record_primary_key("fhir_submitted_documents", "document_id"),
        within_record("fhir_submitted_documents", "document_id", "documents"),
        within_record("fhir_submitted_documents", "submission_set_id", "fhir_submission_sets"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column()
    submission_set_id: Mapped[uuid.UUID] = mapped_column(index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    # Unique across records, as MHD wants it: the directory ``master_identifiers`` holds it (its key).
    master_identifier: Mapped[str] = mapped_column(String(200))
    # attachment.hash as FHIR R4 defines it (SHA-1 of the content, base64), checked at deposit, given back.
    content_sha1: Mapped[str | None] = mapped_column(String(28))


class MasterIdentifier(Base):
    """A directory: MHD's masterIdentifier (the sender's uniqueId, unique across records) → the document's record.

    A sender holds the identifier without the record; the duplicate check of a Provide Document Bundle (ITI-65)
    asks here, by the identifier alone, one node of a distributed database (``Kind.directory``). Written with the
    ``SubmittedDocument`` it names, in the same transaction; its primary key is what keeps the identifier unique.
    No foreign key: the document lives on its record's node. A value not here is unknown."""

    __tablename__ = "master_identifiers"

    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column()
    document_id: Mapped[uuid.UUID] = mapped_column()


class ContextElement(str, enum.Enum):
    """The parts of a DocumentReference's context kept for search (IHE MHD ITI-67)."""

    setting = "setting"  # DocumentReference.context.practiceSetting (one CodeableConcept)
    event = "event"  # DocumentReference.context.event (CodeableConcepts)
    related = "related"  # DocumentReference.context.related (References, found by their identifier)


class DocumentContext(Base):
    """One coding (or related reference) of a deposited document's context, as the sender gave it.

    Written with the document in the request's transaction; read back into the
    DocumentReference and searched with ``setting``, ``event`` and ``related``.
    A practice-setting or event coding keeps ``system``, ``code`` and
    ``display``; a related reference keeps its identifier's ``system`` and value
    (in ``code``) and its literal ``reference``, whichever it has.
    """

    __tablename__ = "fhir_document_context"
    __table_args__ = (
        Index("ix_fhir_document_context_document", "document_id", "element"),
        Index("ix_fhir_document_context_code", "record_id", "element", "code"),
        record_primary_key("fhir_document_context", "id"),
        within_record("fhir_document_context", "document_id", "documents"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    document_id: Mapped[uuid.UUID] = mapped_column()
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    element: Mapped[ContextElement] = mapped_column(Enum(ContextElement, native_enum=False, length=16))
    # 100 × the index of the concept (or related reference) + the index of the coding in it (99: the
    # concept's text), so that the DocumentReference is given back as it came.
    position: Mapped[int] = mapped_column(Integer)
    system: Mapped[str | None] = mapped_column(String(500))
    code: Mapped[str | None] = mapped_column(String(500))
    display: Mapped[str | None] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(1000))


class DocumentRelation(Base):
    """A relation a sender declared between a deposited document and an earlier one of the same record
    (DocumentReference.relatesTo ``appends``, ``transforms``, ``signs``; ``replaces`` is the document's version)."""

    __tablename__ = "fhir_document_relations"
    __table_args__ = (
        record_primary_key("fhir_document_relations", "id"),
        within_record("fhir_document_relations", "document_id", "documents"),
        within_record("fhir_document_relations", "target_id", "documents"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    code: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID] = mapped_column()


class Folder(Base):
    """An IHE MHD Folder: documents of one record grouped by their senders, across submissions (a FHIR List
    coded ``folder``). Unique ids are the record's own: another record's folder is never found by its uid."""

    __tablename__ = "fhir_folders"
    __table_args__ = (UniqueConstraint("record_id", "unique_id"), record_primary_key("fhir_folders", "id"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    unique_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(String(500))
    # The folder's codeList (designationType): [{"system", "code", "display"}], as the sender gave it.
    codes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FolderEntry(Base):
    """A document in a folder (documents are added, never taken out, as in XDS)."""

    __tablename__ = "fhir_folder_entries"
    __table_args__ = (
        record_primary_key("fhir_folder_entries", "folder_id", "document_id"),
        within_record("fhir_folder_entries", "folder_id", "fhir_folders"),
        within_record("fhir_folder_entries", "document_id", "documents"),
    )

    folder_id: Mapped[uuid.UUID] = mapped_column()
    document_id: Mapped[uuid.UUID] = mapped_column()
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
