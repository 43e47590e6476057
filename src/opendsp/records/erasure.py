"""Erasing a record for good: its content destroyed, its trace kept.

Only for a holder who died (once the retention period has run) or a legal
order, and only for a closed record: the agency closes it first, so that
nobody deposits or reads while it is erased. The operator attests the basis;
the platform cannot see the death register.

What goes: the record's data key (so every copy of its content, in backups
too, is sealed for ever), its search tokens, its structured index, the FHIR
context codings and the titles of its documents and submission sets, and then
its blobs. What stays: the record, the documents' bare metadata (type, dates,
size, hash) so that the trace keeps pointing at something, and the trace itself,
which the law requires, with one more entry saying who erased it and why.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from opendsp.access.services import RecordAccess
from opendsp.content.models import RecordKey
from opendsp.documents.models import Document
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action, Reason
from opendsp.records.models import Record
from opendsp.records.services import record_of_person


class ErasureRefused(Exception):
    """The record cannot be erased (not found, not closed, already erased); the message says why."""


class ErasureBasis(str, enum.Enum):
    # The holder died and the retention period after death has run.
    death = "death"
    # A court or the supervisory authority ordered the erasure.
    legal_order = "legal-order"


@dataclass(frozen=True)
class Erasure:
    record_id: uuid.UUID
    documents: int
    search_terms: int
    structured_entries: int


def find_record(session: Session, identifier: str) -> Record:
    """The record named by its id or its holder's national number."""
    try:
        record = session.get(Record, uuid.UUID(identifier))
    except ValueError:
        record = record_of_person(session, session.scalars(
            select(Person).where(Person.national_number == identifier)).first())
    if record is None:
        raise ErasureRefused(f"no record for {identifier!r}")
    return record


def is_erased(session: Session, record_id: uuid.UUID) -> bool:
    key = session.get(RecordKey, record_id)
    return key is not None and key.wrapped_key is None


def erase_record(*, access: RecordAccess, record: Record, basis: ErasureBasis, reason: str) -> Erasure:
    """Destroy what a record holds, in the caller's transaction; its blobs go after the commit.

    Decided by the policy (``record.erase``: the agency or its job, a closed
    record) and traced once, by that decision, in this transaction. Call
    ``delete_erased_content`` once this has committed; ``store check`` also
    removes the blobs of erased records, should the process die in between.
    """
    from opendsp.structured.index import forget_record as forget_structured
    from opendsp.structured.models import StructuredEntry
    from opendsp.submissions.models import DocumentContext, DocumentRelation, Folder, FolderEntry, SubmissionSet
    from opendsp.submissions.models import SubmittedDocument
    from opendsp.search.index import forget_record as forget_search
    from opendsp.search.models import SearchTerm

    session, platform = access.session, access.platform
    if not reason.strip():
        raise ErasureRefused("an erasure needs a reason (the death, the order's reference, ...)")
    if is_erased(session, record.id):
        raise ErasureRefused("the record was erased already")

    def count(model: type, column: object) -> int:
        return session.scalar(select(func.count()).select_from(model).where(column == record.id)) or 0  # type: ignore[arg-type]

    erasure = Erasure(
        record_id=record.id,
        documents=count(Document, Document.record_id),
        search_terms=count(SearchTerm, SearchTerm.record_id),
        structured_entries=count(StructuredEntry, StructuredEntry.record_id),
    )
    context = {"basis": basis.value, "reason_text": reason.strip(), "documents": erasure.documents}
    try:
        permit = access.authorise_erasure(record.id, context=context)
    except AccessDenied as denied:
        if denied.decision.reason is Reason.wrong_state:
            raise ErasureRefused(f"the record is {record.state.value}: close it before erasing it") from None
        raise ErasureRefused(f"refused: {denied.decision.message}") from None
    assert permit.covers(Action.erase_record, record.id)
    forget_search(session, record.id)
    forget_structured(session, record.id)
    session.execute(delete(DocumentContext).where(DocumentContext.record_id == record.id))
    session.execute(delete(DocumentRelation).where(DocumentRelation.record_id == record.id))
    session.execute(delete(FolderEntry).where(FolderEntry.record_id == record.id))
    session.execute(delete(Folder).where(Folder.record_id == record.id))
    session.execute(update(SubmittedDocument).where(SubmittedDocument.record_id == record.id).values(content_sha1=None))
    session.execute(update(Document).where(Document.record_id == record.id).values(title=""))
    session.execute(update(SubmissionSet).where(SubmissionSet.record_id == record.id).values(title=None))
    _destroy_key(session, platform, record.id)
    session.flush()
    return erasure


def _destroy_key(session: Session, platform: Platform, record_id: uuid.UUID) -> None:
    """Destroy the data key; a record that never held content gets a destroyed one, so none is made later."""
    if session.get(RecordKey, record_id) is None:
        session.add(RecordKey(record_id=record_id, created_at=platform.clock.now()))
        session.flush()
    platform.content.destroy_key(session, record_id)


def delete_erased_content(platform: Platform, record_id: uuid.UUID) -> int:
    """Delete the blobs of an erased record (after its erasure committed); return how many."""
    with platform.sessions() as session:
        if not is_erased(session, record_id):
            raise ErasureRefused("the record is not erased: its content is kept")
    removed = 0
    for blob in list(platform.content.blobs.list(f"records/{record_id}/")):
        platform.content.blobs.delete(blob.key)
        removed += 1
    return removed
