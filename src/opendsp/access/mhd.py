"""The door's acts for the IHE MHD options beyond one plain deposit: relations between documents, Folders, and
the content hash given back (ADR 27).

Functions over a ``RecordAccess`` (the one door), kept apart from ``services`` so
that the exchange's extras stay in one place. Each act is decided by the policy
and traced once, like every act of the door:

- the documents a submission relates to (``relatesTo`` other than ``replaces``)
  or lists in a Folder are first looked up as one list of the record's
  documents the caller may see (``visible_among``): what is not there, in
  another record or hidden from the caller, is the same unknown;
- filing a Folder (created or added to) is decided as a deposit into the record
  of each document it receives, each traced with the folder (``step: folder``);
- a folder, a relation and a hash are read only beside documents the caller was
  just permitted to see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update

from opendsp.access.services import RecordAccess, SubmissionSetView
from opendsp.documents.models import Document
from opendsp.policy.vocabulary import Action
from opendsp.submissions.models import DocumentRelation, Folder, FolderEntry, SubmissionSet, SubmittedDocument

# DocumentReference.relatesTo codes kept as relations; ``replaces`` is a new version of the document instead.
RELATION_CODES = ("appends", "transforms", "signs")


@dataclass(frozen=True)
class FolderFiling:
    """A Folder as one submission gives it: created (POST) or added to (PUT), with the documents it receives."""

    unique_id: str
    title: str | None
    note: str | None
    codes: list[dict[str, str]]
    documents: list[uuid.UUID]  # deposited in this request, to add
    folder_id: uuid.UUID | None = None  # the folder added to (PUT); None creates one


@dataclass(frozen=True)
class FolderView:
    """A folder with the documents of it the reader may see."""

    folder: Folder
    document_ids: list[uuid.UUID]


@dataclass(frozen=True)
class ExchangeExtras:
    """Beside documents already decided visible: the content hash their sender gave, and their relations to
    other documents the reader may also see."""

    sha1: dict[uuid.UUID, str] = field(default_factory=dict)
    relations: dict[uuid.UUID, list[tuple[str, uuid.UUID]]] = field(default_factory=dict)


def visible_among(access: RecordAccess, record_id: uuid.UUID, ids: Iterable[uuid.UUID], *,
                  criteria: dict[str, Any]) -> set[uuid.UUID]:
    """Which of ``ids`` are documents of the record the caller may see: one list act, traced with ``criteria``
    (how many were asked for, never which)."""
    wanted = sorted(set(ids), key=str)
    if not wanted:
        return set()
    page = access.list_documents(record_id, where=[Document.id.in_(wanted)], limit=len(wanted), criteria=criteria)
    return {d.id for d in page.items}


def record_relations(access: RecordAccess, record_id: uuid.UUID, document: Document,
                     relations: Sequence[tuple[str, uuid.UUID]]) -> None:
    """Keep what a document deposited in this request says of earlier ones (checked with ``visible_among``).

    Part of the deposit, decided and traced with it; a target outside the record is refused."""
    if document.record_id != record_id:
        raise ValueError("a relation starts from a document of the record named")
    targets = {target for _code, target in relations}
    inside = set(access.session.scalars(select(Document.id).where(Document.id.in_(targets),
                                                                   Document.record_id == record_id)))
    if inside != targets or any(code not in RELATION_CODES for code, _target in relations):
        raise ValueError("a relation targets a document of the same record, with a code of RELATION_CODES")
    for code, target in relations:
        access.session.add(DocumentRelation(document_id=document.id, record_id=record_id, code=code, target_id=target))
    access.session.flush()


def keep_hashes(access: RecordAccess, record_id: uuid.UUID, hashes: dict[uuid.UUID, str]) -> None:
    """The SHA-1 (base64) of each document just deposited and filed in a submission set of the record."""
    for document_id, sha1 in hashes.items():
        access.session.execute(update(SubmittedDocument).where(SubmittedDocument.document_id == document_id,
                                                               SubmittedDocument.record_id == record_id)
                               .values(content_sha1=sha1))


def folder_in(access: RecordAccess, record_id: uuid.UUID, *, unique_id: str | None = None,
              folder_id: uuid.UUID | None = None) -> Folder | None:
    """A folder of this record by its uid or id, for a submission to add to: another record's is none.

    A fact for the act that follows (``file_folder``, decided and traced), not shown by itself."""
    query = select(Folder).where(Folder.record_id == record_id)
    if folder_id is not None:
        query = query.where(Folder.id == folder_id)
    if unique_id is not None:
        query = query.where(Folder.unique_id == unique_id)
    return access.session.scalars(query).first() if (folder_id or unique_id) else None


def folder_documents(access: RecordAccess, folder: Folder) -> set[uuid.UUID]:
    return set(access.session.scalars(select(FolderEntry.document_id).where(
        FolderEntry.record_id == folder.record_id, FolderEntry.folder_id == folder.id)))


def file_folder(access: RecordAccess, record_id: uuid.UUID, filing: FolderFiling, *, client_id: str) -> Folder:
    """Create a folder, or add documents to one, in the record: decided as a deposit of each document it
    receives (all of this record), each decision traced naming the folder."""
    record = access._record(record_id)
    added = list(dict.fromkeys(filing.documents))
    received = list(access.session.scalars(select(Document).where(Document.id.in_(added))))
    if len(received) != len(added) or any(d.record_id != record.id for d in received):
        raise ValueError("a folder holds documents of its own record only")
    folder = None
    if filing.folder_id is not None:
        folder = access.session.get(Folder, filing.folder_id)
        if folder is None or folder.record_id != record.id:
            raise ValueError("a folder is added to within its own record")
    now = access.now
    if folder is None:
        folder = Folder(record_id=record.id, unique_id=filing.unique_id, title=filing.title, note=filing.note,
                        codes=filing.codes, client_id=client_id, created_at=now, updated_at=now)
        access.session.add(folder)
        access.session.flush()
    for document in received:
        access._authorise(Action.deposit_document, record, document_type=document.type, trace_document=document.id,
                          context={"type": document.type.value, "step": "folder", "folder": str(folder.id)})
    known = folder_documents(access, folder)
    for document in received:
        if document.id not in known:
            access.session.add(FolderEntry(folder_id=folder.id, document_id=document.id, record_id=record.id,
                                           added_at=now))
    folder.updated_at = now
    access.session.flush()
    return folder


def find_lists(access: RecordAccess, record_id: uuid.UUID, *, submission_sets: bool, folders: bool,
               criteria: dict[str, Any]) -> tuple[list[SubmissionSetView], list[FolderView]]:
    """The record's submission sets and folders (ITI-66), newest first, each listing only the documents the
    reader may see (one with none is not there): one act, the list of their documents, with ``criteria``."""
    kept = []
    if submission_sets:
        submitted = select(SubmittedDocument.document_id).where(SubmittedDocument.record_id == record_id)
        kept.append(Document.id.in_(submitted))
    if folders:
        kept.append(Document.id.in_(select(FolderEntry.document_id).where(FolderEntry.record_id == record_id)))
    visible = access.list_documents(record_id, where=[or_(*kept)], limit=10_000, criteria=criteria)
    ids = [d.id for d in visible.items]
    set_entries: dict[uuid.UUID, list[uuid.UUID]] = {}
    folder_entries: dict[uuid.UUID, list[uuid.UUID]] = {}
    if submission_sets:
        for set_id, document_id in access.session.execute(
            select(SubmittedDocument.submission_set_id, SubmittedDocument.document_id)
            .where(SubmittedDocument.record_id == record_id, SubmittedDocument.document_id.in_(ids))
        ):
            set_entries.setdefault(set_id, []).append(document_id)
    if folders:
        for folder_id, document_id in access.session.execute(
            select(FolderEntry.folder_id, FolderEntry.document_id)
            .where(FolderEntry.record_id == record_id, FolderEntry.document_id.in_(ids))
        ):
            folder_entries.setdefault(folder_id, []).append(document_id)
    sets = access.session.scalars(select(SubmissionSet).where(SubmissionSet.record_id == record_id,
                                                              SubmissionSet.id.in_(list(set_entries)))
                                  .order_by(SubmissionSet.submitted_at.desc(), SubmissionSet.id)).all()
    found = access.session.scalars(select(Folder).where(Folder.record_id == record_id,
                                                        Folder.id.in_(list(folder_entries)))
                                   .order_by(Folder.updated_at.desc(), Folder.id)).all()
    return ([SubmissionSetView(submission_set=s, document_ids=sorted(set_entries[s.id], key=str)) for s in sets],
            [FolderView(folder=f, document_ids=sorted(folder_entries[f.id], key=str)) for f in found])


def exchange_extras(access: RecordAccess, documents: Sequence[Document],
                    sha1: dict[uuid.UUID, str] | None = None) -> ExchangeExtras:
    """Hashes and relations of documents the caller was just permitted to see; a relation is shown only when
    its target is visible to the same caller too. ``sha1``: the hashes when already read with the documents."""
    ids = [d.id for d in documents]
    if not ids:
        return ExchangeExtras()
    records = sorted({d.record_id for d in documents}, key=str)
    if sha1 is None:
        sha1 = {document_id: value for document_id, value in access.session.execute(
            select(SubmittedDocument.document_id, SubmittedDocument.content_sha1)
            .where(SubmittedDocument.record_id.in_(records), SubmittedDocument.document_id.in_(ids),
                   SubmittedDocument.content_sha1.is_not(None)))}
    rows = access.session.scalars(select(DocumentRelation).where(DocumentRelation.record_id.in_(records),
                                                                 DocumentRelation.document_id.in_(ids))
                                  .order_by(DocumentRelation.document_id, DocumentRelation.code)).all()
    relations: dict[uuid.UUID, list[tuple[str, uuid.UUID]]] = {}
    if rows:
        shown: set[uuid.UUID] = set()
        for record_id in {r.record_id for r in rows}:
            shown |= access._visible_ids(access._record(record_id),
                                         [r.target_id for r in rows if r.record_id == record_id])
        for row in rows:
            if row.target_id in shown:
                relations.setdefault(row.document_id, []).append((row.code, row.target_id))
    return ExchangeExtras(sha1=sha1, relations=relations)
