"""Reading documents: a record's list, one document with its versions, its content, many for one view.

Each method is one act: one permit from the gate (``opendsp.access.gate``) and one trace entry, written there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import joinedload

from opendsp.access.gate import Gate
from opendsp.access.models import Wish
from opendsp.actors import ActorKind
from opendsp.documents import services as documents
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentStatus, DocumentType
from opendsp.policy.decision import Decision, Visibility
from opendsp.policy.sql import visible_documents
from opendsp.policy.vocabulary import Action, Basis
from opendsp.records.models import Record
from opendsp.stays.models import Stay


@dataclass(frozen=True)
class DocumentPage:
    items: list[Document]
    total: int
    # The decision that let the caller list the record (its basis: circle, presence code, emergency, ...).
    permit: Decision | None = None
    # With ``with_versions``: for each listed document that has other versions, those the caller may see.
    versions: dict[uuid.UUID, list[Document]] = field(default_factory=dict)
    # With ``with_wishes``: the holder's wishes by kind, when the policy lets them go with the list.
    wishes: dict[str, Wish] | None = None


@dataclass(frozen=True)
class Consultation:
    document: Document
    permit: Decision
    chunks: Iterator[bytes]

    def read(self) -> bytes:
        return b"".join(self.chunks)


@dataclass(frozen=True)
class DocumentReading:
    """One document read as one act: its permit, the versions the reader may see, and its content on demand."""

    document: Document
    permit: Decision
    versions: list[Document]  # newest first, the document itself included
    chunks: Callable[[], Iterator[bytes]]

    def read(self) -> bytes:
        return b"".join(self.chunks())


@dataclass(frozen=True)
class DocumentsReading:
    """Many documents read for one view under one decision (and one trace entry)."""

    permit: Decision
    items: list[Consultation]
    total: int  # how many the reader may see under the conditions, of which ``items`` were read
    wishes: dict[str, Wish] | None = None  # with ``with_wishes``, as in ``DocumentPage``


@dataclass(frozen=True)
class Timeline:
    """Documents and stays of a record, read as one act."""

    permit: Decision
    documents: list[Document]
    stays: list[Stay]


class Reading(Gate):
    """The documents of a record, as the reader may see them."""

    def list_documents(
        self,
        record_id: uuid.UUID,
        *,
        types: Iterable[DocumentType] = (),
        limit: int = 50,
        offset: int = 0,
        where: Iterable[ColumnElement[bool]] = (),
        order_by: Iterable[ColumnElement[Any]] | None = None,
        criteria: dict[str, Any] | None = None,
        with_versions: bool = False,
        with_wishes: bool = False,
    ) -> DocumentPage:
        """One page of the documents the actor may see, newest first.

        ``where`` narrows the search (the FHIR adapter's search parameters) and
        ``order_by`` changes the order; the visibility rule is always applied.
        ``criteria`` is what the trace entry keeps of the search (never free
        text in clear: see ``opendsp.search.services.search``).
        ``with_versions`` adds each listed document's other versions the
        caller may see, as a part of the same act (one trace entry).
        ``with_wishes`` adds the holder's wishes (the patient view), when the policy lets the caller read them,
        as a part of the same act too (its entry says so).
        """
        record = self._record(record_id)
        context: dict[str, Any] = {"criteria": criteria} if criteria else {}
        wishes = with_wishes and self._wishes_part(record, context)
        permit = self._authorise(Action.list_documents, record, context=context)
        rule = self._visibility(record)
        query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
        wanted = list(types)
        if wanted:
            query = query.where(Document.type.in_(wanted))
        order = list(order_by) if order_by is not None else [Document.care_date.desc(), Document.deposited_at.desc()]
        # The count and the page in one statement (a window count on each row), the page's authors and their
        # organisations joined to it: what a list shows costs one query, however long the page.
        rows = self.session.execute(
            query.add_columns(func.count().over().label("total"))
            .options(joinedload(Document.author), joinedload(Document.author_organisation))
            .order_by(*order, Document.id).limit(limit).offset(offset)
        ).all()
        items = [row[0] for row in rows]
        if rows:
            total = rows[0].total
        else:  # a page past the end has no row to carry the count
            total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0 if offset else 0
        versions = {
            item.id: self._visible_versions(record, item) for item in items
            if with_versions and (item.replaces_id is not None or item.status is not DocumentStatus.current)
        }
        return DocumentPage(items=list(items), total=total, permit=permit,
                            versions={k: v for k, v in versions.items() if len(v) > 1},
                            wishes=self._current_wishes(record) if wishes else None)

    def consult(self, document_id: uuid.UUID) -> Consultation:
        document, record = self._document_of(document_id)
        permit = self._authorise(Action.consult_document, record, document=document, trace_document=document_id)
        assert document is not None
        chunks = documents.open_content(session=self.session, platform=self.platform, permit=permit, document=document)
        return Consultation(document=document, permit=permit, chunks=chunks)

    def read_document(self, record_id: uuid.UUID, document_id: uuid.UUID, *, part: str = "page") -> DocumentReading:
        """Reading one document of one record as ONE act: one decision and one trace entry, with its versions.

        ``part`` says what was read ("page", "content"). A document of another
        record, or an id that exists nowhere, is decided exactly like a
        document the reader may not see: refused as not found, and traced.
        """
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        permit = self._authorise(Action.consult_document, record, document=document,
                                 trace_document=document.id if document else None, context={"part": part})
        assert document is not None  # a missing document is refused above
        return DocumentReading(document=document, permit=permit, versions=self._visible_versions(record, document),
                               chunks=lambda: documents.open_content(session=self.session, platform=self.platform,
                                                                     permit=permit, document=document))

    def read_content(self, record_id: uuid.UUID, document_id: uuid.UUID, *, shown_in_page: bool) -> DocumentReading:
        """A document's content, decided like ``read_document(part="content")``.

        Shown in the page (a PDF or an image in the document's page) it is a part of reading that page: when
        the same actor read the page of this document moments ago on the same basis, its entry covers the
        content and no second entry is written. A download, a refusal, or a fetch without that page read
        first is traced as its own act.
        """
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        permit = self._covered_by_page(record, document) if shown_in_page and document is not None else None
        if permit is None:
            return self.read_document(record_id, document_id, part="content")
        assert document is not None
        return DocumentReading(document=document, permit=permit, versions=[document],
                               chunks=lambda: documents.open_content(session=self.session, platform=self.platform,
                                                                     permit=permit, document=document))

    def _visible_versions(self, record: Record, document: Document) -> list[Document]:
        """The document's earlier and later versions the reader may see, newest first (itself included)."""
        chain = {document.id}
        older = document.replaces_id
        while older is not None and older not in chain:
            chain.add(older)
            older = self.session.scalar(select(Document.replaces_id).where(Document.record_id == record.id,
                                                                           Document.id == older))
        frontier = [document.id]
        while frontier:
            newer = self.session.scalars(select(Document.id).where(Document.record_id == record.id,
                                                                   Document.replaces_id.in_(frontier))).all()
            frontier = [i for i in newer if i not in chain]
            chain.update(frontier)
        if len(chain) == 1:
            return [document]
        rule = self._visibility(record)
        return list(self.session.scalars(
            select(Document).where(Document.record_id == record.id, Document.id.in_(chain), visible_documents(rule))
            .order_by(Document.version.desc())
        ))

    def read_documents(
        self,
        record_id: uuid.UUID,
        *,
        purpose: str,
        where: Iterable[ColumnElement[bool]] = (),
        limit: int = 20,
        order_by: Iterable[ColumnElement[Any]] | None = None,
        criteria: dict[str, Any] | None = None,
        with_wishes: bool = False,
    ) -> DocumentsReading:
        """Many documents read for one view (a chart, the summary): one decision on the record and ONE trace
        entry naming the documents read; each document still passes ``decide`` before its content opens.
        ``criteria``: what the entry keeps of the search that chose them (never free text in clear)."""
        record = self._record(record_id)

        def choose(rule: Visibility) -> tuple[Sequence[Document], int]:
            query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
            total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
            order = list(order_by) if order_by is not None else [Document.care_date.desc(),
                                                                 Document.deposited_at.desc()]
            return self.session.scalars(query.order_by(*order, Document.id).limit(limit)).all(), total

        asked: dict[str, Any] = {"purpose": purpose, **({"criteria": criteria} if criteria else {})}
        wishes = with_wishes and self._wishes_part(record, asked)
        listing, permits, total = self._authorise_many(record, choose, context=asked)
        readings = [Consultation(document=document, permit=permit, chunks=self._content_when_read(permit, document))
                    for document, permit in permits]
        return DocumentsReading(permit=listing, items=readings, total=total,
                                wishes=self._current_wishes(record) if wishes else None)

    def _content_when_read(self, permit: Decision, document: Document) -> Iterator[bytes]:
        """The content, opened only when it is read (a view may stop before reading every document)."""
        yield from documents.open_content(session=self.session, platform=self.platform, permit=permit,
                                          document=document)

    def timeline(self, record_id: uuid.UUID, *, documents: bool = True, stays: bool = True,
                 types: Iterable[DocumentType] = (), where: Iterable[ColumnElement[bool]] = (),
                 limit: int = 500) -> Timeline:
        """The record's care events — documents and hospital stays — read as ONE act (one decision, one entry).

        The policy lets a caller list stays when it lets them list documents (both are asked; the trace
        entry is the documents' list, with ``part: timeline``)."""
        record = self._record(record_id)
        permit = self._authorise(Action.list_documents, record, context={"part": "timeline"})
        stays = stays and self._allows(Action.list_stays, record)
        items: list[Document] = []
        if documents:
            rule = self._visibility(record)
            query = select(Document).where(Document.record_id == record.id, visible_documents(rule), *where)
            wanted = list(types)
            if wanted:
                query = query.where(Document.type.in_(wanted))
            items = list(self.session.scalars(
                query.order_by(Document.care_date.desc(), Document.deposited_at.desc(), Document.id).limit(limit)))
        found_stays = list(self.session.scalars(
            select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
        )) if stays else []
        return Timeline(permit=permit, documents=items, stays=found_stays)

    def _wishes_part(self, record: Record, context: dict[str, Any]) -> bool:
        """Whether the holder's wishes go with the page's act: the policy's answer to ``wishes.read`` on the
        same facts, asked before the act is decided so that its one trace entry says so (``wishes: true``)."""
        shown = self._allows(Action.read_wishes, record)
        if shown:
            context["wishes"] = True
        return shown

    def _current_wishes(self, record: Record) -> dict[str, Wish]:
        """The latest answer to each kind of wish, read within an act already decided and traced."""
        current: dict[str, Wish] = {}
        for wish in self.session.scalars(
            select(Wish).where(Wish.record_id == record.id).order_by(Wish.set_at.desc(), Wish.id)
        ):
            current.setdefault(wish.kind, wish)
        return current

    def emergency_until(self, permit: Decision) -> datetime | None:
        """When the actor's emergency access to the permit's record ends: part of the act the permit was
        given for (a page's banner), so neither decided again nor traced."""
        if not permit.permitted or permit.basis is not Basis.emergency or permit.record_id is None:
            return None
        if self.actor.kind is not ActorKind.professional:
            return None
        return self._grants(self._record(permit.record_id)).emergency.get(uuid.UUID(self.actor.id))
