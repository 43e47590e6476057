"""The search index: keyed tokens of a document's terms, never the terms themselves."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendsp.db import Base, identified_within_record, new_id, record_primary_key, within_record


class SearchTerm(Base):
    """One term of one document: an HMAC under the record's search key, with the term's weight there.

    ``master_key_id`` names the master key the record's search key was derived from,
    so that tokens written before a key rotation are still found.
    """

    __tablename__ = "search_terms"
    __table_args__ = (
        Index("ix_search_terms_record_token", "record_id", "token"),
        Index("ix_search_terms_document", "document_id"),
        record_primary_key("search_terms", "id"),
        within_record("search_terms", "document_id", "documents"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    document_id: Mapped[uuid.UUID] = mapped_column()
    master_key_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    weight: Mapped[int] = mapped_column(Integer)
