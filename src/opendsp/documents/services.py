"""Storing, replacing and withdrawing documents, and reading their content.

These functions do the storage work only. They act solely on a permit from
the policy that covers exactly this act on this record and document, and
the caller (``opendsp.access.services.RecordAccess``) writes the trace entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.types import (
    FHIR_MEDIA_TYPE,
    ConfidentialityLevel,
    ContentKind,
    DocumentStatus,
    DocumentType,
)
from opendsp.platform import Platform
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action
from opendsp.records.models import Record

BINARY_MEDIA_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "text/plain"})


class DocumentRefused(Exception):
    """The document cannot be stored as given; the message says why."""


class NoPermit(PermissionError):
    """The storage layer was called without a permit for exactly this act."""


def require_permit(
    permit: Decision, action: Action, record_id: uuid.UUID, document_id: uuid.UUID | None = None
) -> None:
    if not permit.covers(action, record_id, document_id):
        raise NoPermit(f"no permit for {action.value} on record {record_id}")


@dataclass(frozen=True)
class DocumentDraft:
    type: DocumentType
    title: str
    care_date: date
    media_type: str
    confidentiality: ConfidentialityLevel = ConfidentialityLevel.normal
    author_professional_id: uuid.UUID | None = None
    author_organisation_id: uuid.UUID | None = None
    authored_by_holder: bool = False
    visible_to_holder_from: datetime | None = None

    @property
    def content_kind(self) -> ContentKind:
        return ContentKind.fhir if self.media_type == FHIR_MEDIA_TYPE else ContentKind.binary

    def check(self) -> None:
        if not self.title.strip():
            raise DocumentRefused("a document needs a title")
        if len(self.title) > 500:
            raise DocumentRefused("a document title has at most 500 characters")
        if self.media_type != FHIR_MEDIA_TYPE and self.media_type not in BINARY_MEDIA_TYPES:
            allowed = ", ".join(sorted(BINARY_MEDIA_TYPES | {FHIR_MEDIA_TYPE}))
            raise DocumentRefused(f"media type {self.media_type!r} is not accepted; use one of {allowed}")
        if self.authored_by_holder == (self.author_professional_id is not None):
            raise DocumentRefused("a document has either a professional author or the holder as author")


def store(
    *,
    session: Session,
    platform: Platform,
    permit: Decision,
    record: Record,
    document_id: uuid.UUID,
    draft: DocumentDraft,
    content: Iterable[bytes],
    replaces: Document | None = None,
) -> Document:
    """Seal the content, then add the metadata; a replacement supersedes the earlier version."""
    action = Action.replace_document if replaces else Action.deposit_document
    require_permit(permit, action, record.id, replaces.id if replaces else None)
    draft.check()
    if replaces is not None:
        if replaces.record_id != record.id:
            raise DocumentRefused("a document can only replace a document of the same record")
        if replaces.status is not DocumentStatus.current:
            raise DocumentRefused(f"the document to replace is {replaces.status.value}, not current")
    stored = platform.content.put(session, record.id, content)
    now = platform.clock.now()
    document = Document(
        id=document_id,
        record_id=record.id,
        type=draft.type,
        title=draft.title.strip(),
        author_professional_id=draft.author_professional_id,
        author_organisation_id=draft.author_organisation_id,
        authored_by_holder=draft.authored_by_holder,
        care_date=draft.care_date,
        deposited_at=now,
        confidentiality=draft.confidentiality,
        status=DocumentStatus.current,
        version=replaces.version + 1 if replaces else 1,
        replaces_id=replaces.id if replaces else None,
        media_type=draft.media_type,
        size=stored.size,
        sha256=stored.sha256,
        content_kind=draft.content_kind,
        content_key=stored.key,
        visible_to_holder_from=draft.visible_to_holder_from,
    )
    session.add(document)
    session.add(DocumentDirectory(document_id=document_id, record_id=record.id))
    if replaces is not None:
        replaces.status = DocumentStatus.superseded
        replaces.status_changed_at = now
    session.flush()
    return document


def withdraw(*, session: Session, platform: Platform, permit: Decision, document: Document) -> Document:
    require_permit(permit, Action.withdraw_document, document.record_id, document.id)
    if document.status is DocumentStatus.withdrawn:
        raise DocumentRefused("the document is already withdrawn")
    document.status = DocumentStatus.withdrawn
    document.status_changed_at = platform.clock.now()
    session.flush()
    return document


def open_content(*, session: Session, platform: Platform, permit: Decision, document: Document) -> Iterator[bytes]:
    """Stream a document's verified content."""
    require_permit(permit, Action.consult_document, document.record_id, document.id)
    return platform.content.open(
        session, document.record_id, document.content_key, sha256=document.sha256, size=document.size
    )


def read_content(*, session: Session, platform: Platform, permit: Decision, document: Document) -> bytes:
    """The whole content, returned once verified against its hash."""
    return b"".join(open_content(session=session, platform=platform, permit=permit, document=document))


def export_content(*, session: Session, platform: Platform, permit: Decision, document: Document) -> Iterator[bytes]:
    """Stream a document's verified content for the holder's export: with a permit to export its record."""
    require_permit(permit, Action.export_record, document.record_id)
    return platform.content.open(
        session, document.record_id, document.content_key, sha256=document.sha256, size=document.size
    )
