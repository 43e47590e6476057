"""What the FHIR API keeps beside the documents: MHD submission sets and document unique ids."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, UTCDateTime, new_id


class SubmissionSet(Base):
    """An IHE MHD SubmissionSet: the documents one Provide Document Bundle (ITI-65) deposited together."""

    __tablename__ = "fhir_submission_sets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), index=True)
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

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    submission_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fhir_submission_sets.id"), index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), index=True)
    master_identifier: Mapped[str] = mapped_column(String(200), unique=True)
