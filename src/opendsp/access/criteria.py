"""What a portal page narrows a list of documents to, turned into SQL by the access layer.

The portals say *what* they filter on (a type, dates, an author's name, ...)
and never touch the documents table themselves: ``conditions()`` is handed to
``RecordAccess.list_documents`` / ``timeline``, which always applies the
visibility rule as well, so criteria only ever narrow what the caller may see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, or_, select

from opendsp.documents.models import Document
from opendsp.documents.types import DocumentStatus, DocumentType
from opendsp.professionals.models import Organisation, Professional

AUTHOR_TEXT = 100  # at most this many characters of an author's name are matched


@dataclass(frozen=True)
class DocumentCriteria:
    types: tuple[DocumentType, ...] = ()
    since: date | None = None  # care date, from
    until: date | None = None  # care date, to (included)
    status: DocumentStatus | None = None
    author: str = ""  # words of a professional's or an organisation's name
    by_holder: bool = False  # the holder's personal space only
    hidden: bool | None = None  # hidden by the holder (True), not hidden (False), either (None)
    ids: tuple[uuid.UUID, ...] | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.types:
            where.append(Document.type.in_(list(self.types)))
        if self.since:
            where.append(Document.care_date >= self.since)
        if self.until:
            where.append(Document.care_date <= self.until)
        if self.status is not None:
            where.append(Document.status == self.status)
        if self.by_holder:
            where.append(Document.authored_by_holder.is_(True))
        name = self.author.strip()
        if name:
            pattern = f"%{name[:AUTHOR_TEXT]}%"
            where.append(or_(
                Document.author_professional_id.in_(select(Professional.id).where(or_(
                    Professional.family_name.ilike(pattern), Professional.given_name.ilike(pattern)))),
                Document.author_organisation_id.in_(select(Organisation.id).where(Organisation.name.ilike(pattern))),
            ))
        if self.hidden is not None:
            where.append(Document.hidden_at.is_not(None) if self.hidden else Document.hidden_at.is_(None))
        if self.ids is not None:
            where.append(Document.id.in_(list(self.ids)))
        return where
