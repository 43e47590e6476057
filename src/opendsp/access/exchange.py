"""The exchange API's reads and writes (FHIR, IHE MHD): documents with what their sender gave, submission sets.

What adapters read through the door, never beside it: every document here was listed, deposited or withdrawn by
``Reading`` and ``Changes``, under a permit of the gate and its one trace entry.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Select, and_, func, inspect, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from opendsp.access.changes import Changes
from opendsp.access.criteria import DocumentCriterion, document_conditions
from opendsp.access.gate import InvalidRequest
from opendsp.access.reading import Reading
from opendsp.actors import ActorKind
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.persons.models import Person
from opendsp.policy.sql import visible_documents
from opendsp.policy.vocabulary import Action
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.records.services import record_of, record_of_person
from opendsp.submissions.models import (
    ContextElement,
    DocumentContext,
    DocumentRelation,
    MasterIdentifier,
    SubmissionSet,
    SubmittedDocument,
)


class json_rows(FunctionElement[Any]):
    """The rows of a correlated subquery as one JSON array of arrays (``[[a, b], ...]``; NULL or ``[]`` for
    none): what a document has several of, read in the statement of its page."""

    type = JSON()
    inherit_cache = True


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@dataclass(frozen=True)
class AuthorRow:
    """A document's author as a DocumentReference shows them."""

    licence_number: str
    family_name: str
    given_name: str


@dataclass(frozen=True)
class OrganisationRow:
    """A document's author's organisation as a DocumentReference shows it."""

    identifier: str
    kind: OrganisationKind
    name: str


@dataclass(frozen=True)
class DocumentRow:
    """The columns of a document a DocumentReference shows, read as values (no ORM object, nothing tracked)."""

    id: uuid.UUID
    record_id: uuid.UUID
    type: DocumentType
    title: str
    authored_by_holder: bool
    care_date: Any
    deposited_at: Any
    status_changed_at: Any
    status: DocumentStatus
    confidentiality: ConfidentialityLevel
    replaces_id: uuid.UUID | None
    media_type: str
    size: int
    author: AuthorRow | None
    author_organisation: OrganisationRow | None


@dataclass(frozen=True)
class ContextRow:
    """One coding or related reference of a document's context, as its sender gave it."""

    element: ContextElement
    position: int
    system: str | None
    code: str | None
    display: str | None
    reference: str | None


_ROW_COLUMNS = ("id", "record_id", "type", "title", "authored_by_holder", "care_date", "deposited_at",
                "status_changed_at", "status", "confidentiality", "replaces_id", "media_type", "size")
_CONTEXT_COLUMNS = ("element", "position", "system", "code", "display", "reference")


@functools.cache
def _details_page() -> Select[Any]:
    """The columns of a search's page and what is joined to them, built once (building a statement of thirty
    columns, two aliases and two subqueries showed in the profile of every search): a search adds its record,
    the visibility rule and its criteria."""
    author, organisation = aliased(Professional), aliased(Organisation)
    given = select(json_rows(*(DocumentContext.__table__.c[name] for name in _CONTEXT_COLUMNS))).where(
        DocumentContext.record_id == Document.record_id, DocumentContext.document_id == Document.id).scalar_subquery()
    related = select(json_rows(DocumentRelation.code, DocumentRelation.target_id)).where(
        DocumentRelation.record_id == Document.record_id, DocumentRelation.document_id == Document.id).scalar_subquery()
    return (
        select(*(Document.__table__.c[name] for name in _ROW_COLUMNS),
               author.licence_number, author.family_name, author.given_name,
               organisation.identifier, organisation.kind, organisation.name,
               SubmittedDocument.master_identifier, SubmittedDocument.content_sha1,
               given.label("given"), related.label("related"), func.count().over().label("total"))
        .select_from(Document)
        .outerjoin(author, author.id == Document.author_professional_id)
        .outerjoin(organisation, organisation.id == Document.author_organisation_id)
        .outerjoin(SubmittedDocument, and_(SubmittedDocument.document_id == Document.id,
                                           SubmittedDocument.record_id == Document.record_id))
    )


@dataclass(frozen=True)
class DocumentDetails:
    """A document decided visible, with what its sender gave beside it (exchange API)."""

    document: Document | DocumentRow  # its author and author's organisation loaded with it
    person_id: uuid.UUID  # the record's holder
    master_identifier: str | None  # the sender's unique id (IHE MHD), if it came that way
    context: list[Any]  # DocumentContext rows (columns only): practice setting, events, related references
    content_sha1: str | None = None  # the content's SHA-1 its sender gave (IHE MHD), if any
    # Its relations to other documents the reader may see (code, target), when read with it; None: not read.
    relations: list[tuple[str, uuid.UUID]] | None = None


@dataclass(frozen=True)
class DetailsPage:
    items: list[DocumentDetails]
    total: int


@dataclass(frozen=True)
class SubmissionSetView:
    """A submission set with the documents of it the reader may see."""

    submission_set: SubmissionSet
    document_ids: list[uuid.UUID]


@dataclass(frozen=True)
class SubmittedItem:
    """A document deposited in this request, to file in its submission set."""

    document: Document
    master_identifier: str
    context: list[dict[str, Any]]  # DocumentContext rows: element, position, system, code, display, reference


class Exchange(Changes, Reading):
    """Documents and submission sets as the exchange API names them."""

    def record_of_person(self, person_id: uuid.UUID) -> uuid.UUID | None:
        """The id of a person's record, to name it in an act (None: no such person, or no record).

        A fact, not an act: nothing of the record is shown, and the act that follows is decided and traced. The
        record's row is loaded whole, once: the act that follows finds it in the session without a statement."""
        record = record_of(self.session, person_id)
        return self._hold(record).id if record is not None else None

    def person_and_record(self, person_id: uuid.UUID) -> tuple[Person | None, uuid.UUID | None]:
        """A person (identity only) and the id of their record: ``record_of_person`` for a search that names the
        person by id. The person first (a reference table), then the record by the id it names."""
        person = self.session.get(Person, person_id)
        if person is None:
            return None, None
        record = record_of_person(self.session, person)
        return person, (self._hold(record).id if record is not None else None)

    def holder_of(self, record_id: uuid.UUID) -> Person:
        """The person a record belongs to (identity only), for an act already decided on the record."""
        holder = self.session.get(Person, self._record(record_id).person_id)
        assert holder is not None
        return holder

    def find_document_details(
        self,
        record_id: uuid.UUID,
        *,
        where: Iterable[Sequence[DocumentCriterion]] = (),
        ascending: bool = False,
        limit: int = 50,
        offset: int = 0,
        criteria: dict[str, Any] | None = None,
    ) -> DetailsPage:
        """``list_documents`` narrowed by search criteria, newest deposit first (or oldest), with what the
        sender gave beside each document and its relations: one act, one trace entry keeping ``criteria``.

        The page is one statement: the count, the documents' columns, their authors and organisations, what
        their senders gave (the unique id, the hash, the context) and their relations, read as values, not
        ORM objects. A relation is kept only when its target is visible to the reader too (one more statement,
        only when the page has relations)."""
        record = self._record(record_id)
        self._authorise(Action.list_documents, record, context={"criteria": criteria} if criteria else {})
        rule = self._visibility(record)
        query = _details_page().where(Document.record_id == record.id, visible_documents(rule),
                                      *document_conditions(where))
        order = Document.deposited_at.asc() if ascending else Document.deposited_at.desc()
        rows = self.session.execute(query.order_by(order, Document.id).limit(limit).offset(offset)).all()
        if rows:
            total = rows[0].total
        else:  # a page past the end has no row to carry the count
            total = self.session.scalar(select(func.count()).select_from(
                select(Document.id).where(Document.record_id == record.id, visible_documents(rule),
                                          *document_conditions(where)).subquery())) or 0 if offset else 0
        targets = {uuid.UUID(target) for row in rows for _code, target in row.related or []}
        shown = self._visible_ids(record, targets) if targets else set()
        items = []
        for row in rows:
            document = DocumentRow(
                **{name: getattr(row, name) for name in _ROW_COLUMNS},
                author=AuthorRow(row.licence_number, row.family_name, row.given_name)
                if row.licence_number is not None else None,
                author_organisation=OrganisationRow(row.identifier, row.kind, row.name)
                if row.identifier is not None else None)
            # In JSON the element comes as stored: the enum's name.
            context = [ContextRow(ContextElement[element], *rest) for element, *rest in row.given or []]
            relations = sorted((code, uuid.UUID(target)) for code, target in row.related or []
                               if uuid.UUID(target) in shown)
            items.append(DocumentDetails(document=document, person_id=record.person_id,
                                         master_identifier=row.master_identifier, context=context,
                                         content_sha1=row.content_sha1, relations=relations))
        return DetailsPage(items=items, total=total)

    def _visible_ids(self, record: Record, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` are documents of ``record`` the reader may see (for an act already decided)."""
        return set(self.session.scalars(select(Document.id).where(
            Document.record_id == record.id, visible_documents(self._visibility(record)), Document.id.in_(ids))))

    def document_details(self, document_id: uuid.UUID, *, criteria: dict[str, Any]) -> DocumentDetails | None:
        """One document named by its id, read as a search of its record for that id (one act, one entry).

        None for an id that exists nowhere (no record to trace it on) and for a document the reader may not
        see; a refusal on the record raises ``AccessDenied``, as every act does."""
        record_id = self.session.scalar(
            select(DocumentDirectory.record_id).where(DocumentDirectory.document_id == document_id))
        if record_id is None:
            return None
        # A directory row naming a record the document is not in finds nothing there: as unknown to the reader.
        page = self.list_documents(record_id, where=[Document.id == document_id], limit=1, criteria=criteria)
        return self._details(page.items)[0] if page.items else None

    def withdraw_with_details(self, document_id: uuid.UUID, *, reason: str | None = None) -> DocumentDetails:
        """``withdraw``, answered with the document as it now is and what its sender gave."""
        return self._details([self.withdraw(document_id, reason=reason)])[0]

    def _details(self, items: Sequence[Document]) -> list[DocumentDetails]:
        """What the sender gave beside documents already decided visible, and their authors, in a few queries
        (not one per document)."""
        ids = [d.id for d in items]
        if not ids:
            return []
        records = sorted({d.record_id for d in items}, key=str)
        submitted = {document_id: (master, sha1) for document_id, master, sha1 in self.session.execute(
            select(SubmittedDocument.document_id, SubmittedDocument.master_identifier, SubmittedDocument.content_sha1)
            .where(SubmittedDocument.record_id.in_(records), SubmittedDocument.document_id.in_(ids)))}
        given: dict[uuid.UUID, list[Any]] = {}
        # Rows of columns, not ORM objects: mapping reads them once and nothing tracks them.
        for row in self.session.execute(select(*DocumentContext.__table__.c)
                                        .where(DocumentContext.record_id.in_(records),
                                               DocumentContext.document_id.in_(ids))):
            given.setdefault(row.document_id, []).append(row)
        # Listed documents come with their author and organisation joined (``list_documents``); any other is
        # given them here, loaded once for all: mapping them queries nothing more.
        unloaded = [d for d in items if {"author", "author_organisation"} & inspect(d).unloaded]
        if unloaded:
            authors = {p.id: p for p in self.session.scalars(select(Professional).where(
                Professional.id.in_({d.author_professional_id for d in unloaded} - {None})))}
            organisations = {o.id: o for o in self.session.scalars(select(Organisation).where(
                Organisation.id.in_({d.author_organisation_id for d in unloaded} - {None})))}
            for document in unloaded:
                set_committed_value(document, "author", authors.get(document.author_professional_id))  # type: ignore[arg-type]
                set_committed_value(document, "author_organisation",
                                    organisations.get(document.author_organisation_id))  # type: ignore[arg-type]
        # The records were loaded by the act that permitted their documents: their holders need no query.
        holders = {record_id: self._record(record_id).person_id for record_id in {d.record_id for d in items}}
        return [DocumentDetails(document=d, person_id=holders[d.record_id],
                                master_identifier=submitted.get(d.id, (None, None))[0], context=given.get(d.id, []),
                                content_sha1=submitted.get(d.id, (None, None))[1]) for d in items]

    def taken_master_identifier(self, values: Iterable[str]) -> str | None:
        """One of ``values`` already used as a document's unique id by any sender (they are unique), asked of the
        directory by the values alone: the answer names the identifier, nothing of the record holding it."""
        return self.session.scalars(
            select(MasterIdentifier.value).where(MasterIdentifier.value.in_(list(values)))
        ).first()

    def file_submission(
        self,
        record_id: uuid.UUID,
        *,
        unique_id: str,
        title: str | None,
        source_id: str | None,
        client_id: str,
        documents: Sequence[SubmittedItem],
    ) -> SubmissionSet:
        """The submission set of documents this request deposited in the record (each decided and traced by
        ``deposit`` or ``replace``): a document of another record is refused, and nothing is filed."""
        record = self._record(record_id)
        if any(item.document.record_id != record.id for item in documents):
            raise InvalidRequest("a submission set holds documents of its own record only")
        professional = uuid.UUID(self.actor.id) if self.actor.kind is ActorKind.professional and self.actor.id \
            else None
        submission_set = SubmissionSet(record_id=record.id, unique_id=unique_id, title=title, source_id=source_id,
                                       client_id=client_id, author_professional_id=professional,
                                       submitted_at=self.now)
        self.session.add(submission_set)
        self.session.flush()
        for item in documents:
            self.session.add(SubmittedDocument(document_id=item.document.id, submission_set_id=submission_set.id,
                                               record_id=record.id, master_identifier=item.master_identifier))
            # The directory, in the same transaction: its key refuses an identifier another request took meanwhile.
            self.session.add(MasterIdentifier(value=item.master_identifier, record_id=record.id,
                                              document_id=item.document.id))
            for row in item.context:
                self.session.add(DocumentContext(document_id=item.document.id, record_id=record.id, **row))
        self.session.flush()
        return submission_set
