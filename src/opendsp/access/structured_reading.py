"""Reading the structured index: a chart's sources, the summary's, and FHIR searches of entries (Observation, ...).

Each is ONE act over many documents: ``Reading.read_documents``, whose permits and trace entry come from the gate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from opendsp.access.criteria import EntryCriterion, entry_conditions
from opendsp.access.reading import Consultation, DocumentReading, DocumentsReading, Reading
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentStatus, DocumentType
from opendsp.policy.decision import AccessDenied, Decision
from opendsp.policy.vocabulary import Action
from opendsp.structured.models import StructuredEntry

# A search of structured entries reads at most this many documents (their entries are then paged).
MAX_STRUCTURED_DOCUMENTS = 1000


@dataclass(frozen=True)
class StructuredSources:
    """Documents read for a structured view, and where each of their wanted entries is (position, type)."""

    reading: DocumentsReading
    positions: dict[uuid.UUID, list[tuple[int, str]]]


@dataclass(frozen=True)
class EntryAt:
    """Where a structured entry is: its document and its position in the document Bundle."""

    document_id: uuid.UUID
    position: int


@dataclass(frozen=True)
class StructuredEntries:
    """A page of structured entries read as one act; ``sources`` opens the content of their documents."""

    permit: Decision
    total: int
    entries: list[EntryAt]
    sources: dict[uuid.UUID, Consultation]


class StructuredReading(Reading):
    """Documents chosen by their structured entries, read under one decision."""

    def read_chart_sources(self, page: DocumentReading, codes: Iterable[tuple[str | None, str]], *,
                           limit: int) -> DocumentsReading | None:
        """The record's other current documents whose structured entries carry one of ``codes`` (the sources
        of a chart on ``page``), read under one decision over many documents and one trace entry.

        Asked under the permit of the page just read: the index is looked up only within that record. None
        when no other document shares a code: nothing more is read and nothing more is traced.
        """
        from opendsp.structured.index import search_tokens
        from opendsp.structured.models import StructuredCode, StructuredEntry

        document = page.document
        if not page.permit.covers(Action.consult_document, document.record_id, document.id):
            raise AccessDenied(page.permit)
        tokens = [token for system, code in codes for token in search_tokens(self.platform, system, code)]
        if not tokens:
            return None
        others = set(self.session.scalars(
            select(StructuredEntry.document_id)
            .join(StructuredCode, StructuredCode.entry_id == StructuredEntry.id)
            .where(StructuredCode.record_id == document.record_id, StructuredCode.token.in_(tokens),
                   StructuredEntry.resource_type == "Observation", StructuredEntry.document_id != document.id)
        ))
        if not others:
            return None
        return self.read_documents(document.record_id, purpose="chart", limit=limit,
                                   where=[Document.id.in_(others), Document.status == DocumentStatus.current])

    def read_structured_sources(self, record_id: uuid.UUID, *, resource_types: Iterable[str], purpose: str,
                                limit: int, with_wishes: bool = False,
                                document_types: Iterable[DocumentType] = ()) -> StructuredSources:
        """The current documents of the record with structured entries of ``resource_types`` (the summary),
        read under one decision and one trace entry, with where each entry is in its document (and, with
        ``with_wishes``, the holder's wishes as a part of the same act: see ``Reading.list_documents``).

        ``document_types``: structured documents of these types are read too, entries or not (a discharge
        report whose sections hold only narratives)."""
        from opendsp.structured.models import StructuredEntry

        wanted = list(resource_types)
        indexed = select(StructuredEntry.document_id).where(
            StructuredEntry.record_id == record_id, StructuredEntry.resource_type.in_(wanted))
        chosen: ColumnElement[bool] = Document.id.in_(indexed)
        if kinds := list(document_types):
            chosen = or_(chosen, and_(Document.type.in_(kinds), Document.media_type == FHIR_MEDIA_TYPE))
        reading = self.read_documents(record_id, purpose=purpose, limit=limit, with_wishes=with_wishes,
                                      where=[chosen, Document.status == DocumentStatus.current])
        positions: dict[uuid.UUID, list[tuple[int, str]]] = {}
        read_ids = [r.document.id for r in reading.items]
        if read_ids:
            for document_id, position, kind in self.session.execute(
                select(StructuredEntry.document_id, StructuredEntry.position, StructuredEntry.resource_type)
                .where(StructuredEntry.document_id.in_(read_ids), StructuredEntry.resource_type.in_(wanted))
            ):
                positions.setdefault(document_id, []).append((position, kind))
        return StructuredSources(reading=reading, positions=positions)

    def find_structured_entries(
        self,
        record_id: uuid.UUID,
        *,
        resource_type: str,
        where: Iterable[Sequence[EntryCriterion]] = (),
        as_of: datetime | None = None,
        ascending: bool = False,
        limit: int = 20,
        offset: int = 0,
        criteria: dict[str, Any] | None = None,
    ) -> StructuredEntries:
        """Entries of structured documents (Observation, Condition, ...) as ONE act: ``read_documents`` over the
        current documents whose entries match, one decision and one trace entry with ``criteria``; only the
        documents serving the page are opened. Newest entry first (its effective date, else its document's
        deposit), or oldest."""
        from opendsp.structured.index import search_tokens

        index = select(StructuredEntry.document_id).where(
            StructuredEntry.record_id == record_id, StructuredEntry.resource_type == resource_type,
            *entry_conditions(where, lambda system, code: search_tokens(self.platform, system, code)))
        conditions: list[ColumnElement[bool]] = [Document.id.in_(index), Document.status == DocumentStatus.current]
        if as_of is not None:
            conditions.append(Document.deposited_at <= as_of)
        reading = self.read_documents(record_id, purpose=f"{resource_type} search", where=conditions,
                                      limit=MAX_STRUCTURED_DOCUMENTS, criteria=criteria)
        sources = {r.document.id: r for r in reading.items}
        rows = self.session.execute(
            select(StructuredEntry.document_id, StructuredEntry.position, StructuredEntry.effective_at).where(
                StructuredEntry.record_id == record_id, StructuredEntry.resource_type == resource_type,
                StructuredEntry.document_id.in_(list(sources)),
                *entry_conditions(where, lambda system, code: search_tokens(self.platform, system, code)))
        ).all()
        deposited = {i: r.document.deposited_at for i, r in sources.items()}
        found = sorted(rows, key=lambda r: r.position)
        found.sort(key=lambda r: (r.effective_at or deposited[r.document_id], deposited[r.document_id]),
                   reverse=not ascending)
        page = [EntryAt(document_id=r.document_id, position=r.position) for r in found[offset:offset + limit]]
        return StructuredEntries(permit=reading.permit, total=len(found), entries=page,
                                 sources={e.document_id: sources[e.document_id] for e in page})
