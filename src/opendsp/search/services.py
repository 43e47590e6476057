"""Answering a keyword query; indexing a deposited document (the worker's job) and those stored before the index."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from opendsp.access.services import DocumentPage, RecordAccess
from opendsp.actors import SYSTEM
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.structured.index import forget_document as forget_structured
from opendsp.structured.index import index_document as index_structured
from opendsp.search import text
from opendsp.search.index import (
    BODY_WEIGHT,
    MAX_INDEXED_CONTENT,
    METADATA_WEIGHT,
    TITLE_WEIGHT,
    body_text,
    index_document,
    metadata_text,
    record_keys,
    token,
    write_terms,
)
from opendsp.search.models import SearchTerm
from opendsp.trace.models import Outcome
from opendsp.trace.service import TraceEvent

# A query longer than this is cut: each word is a condition of the query.
MAX_QUERY_WORDS = 12


def search(
    access: RecordAccess,
    record_id: uuid.UUID,
    query: str,
    *,
    types: Iterable[DocumentType] = (),
    where: Iterable[ColumnElement[bool]] = (),
    limit: int = 20,
    offset: int = 0,
    filters: Iterable[str] = (),
) -> DocumentPage:
    """The documents of a record that hold every word of the query, best first, as the actor may see them.

    A document matches a word when it holds any of the word's variants (see ``text``); its score is,
    for each word, the weight of its best variant, summed. The visibility rule of the policy is applied
    by ``RecordAccess.list_documents`` in the same query, so a document the actor may not see is neither
    listed nor counted. ``types`` and ``where`` narrow the search further, as in ``list_documents``.

    The trace entry of the search keeps its criteria without the words (ADR 10: no free text in clear
    outside the sealed store): how many words, the types, and the names of the other ``filters`` used.
    """
    wanted = text.query_words(query)[:MAX_QUERY_WORDS]
    types = list(types)
    criteria = {"keyword_terms": len(wanted), "types": sorted(t.value for t in types), "filters": sorted(filters)}
    if not wanted:
        return DocumentPage(items=[], total=0)
    # Every token each word has, under every master key, mapped to the word's position in the query.
    position: dict[str, int] = {}
    for key in record_keys(access.platform, record_id).values():
        for index, variants in enumerate(wanted):
            for term in variants:
                position[token(key, term)] = index
    word = case(position, value=SearchTerm.token)
    per_word = (
        select(SearchTerm.document_id, word.label("word"), func.max(SearchTerm.weight).label("weight"))
        .where(SearchTerm.record_id == record_id, SearchTerm.token.in_(list(position)))
        .group_by(SearchTerm.document_id, word)
        .subquery()
    )
    matching = (
        select(per_word.c.document_id, func.sum(per_word.c.weight).label("score"))
        .group_by(per_word.c.document_id)
        .having(func.count() == len(wanted))
        .subquery()
    )
    score = select(matching.c.score).where(matching.c.document_id == Document.id).scalar_subquery()
    return access.list_documents(
        record_id,
        types=types,
        where=[Document.id.in_(select(matching.c.document_id)), *where],
        order_by=[score.desc(), Document.care_date.desc(), Document.deposited_at.desc()],
        limit=limit,
        offset=offset,
        criteria=criteria,
    )


def unindexed(session: Session, *, everything: bool = False) -> list[uuid.UUID]:
    """Documents without a token (all documents with ``everything``), oldest first.

    Records erased for good are left out: nothing of them may be indexed again.
    """
    from opendsp.content.models import RecordKey

    erased = select(RecordKey.record_id).where(RecordKey.wrapped_key.is_(None))
    query = select(Document.id).where(Document.record_id.not_in(erased)).order_by(Document.deposited_at, Document.id)
    if not everything:
        query = query.where(~select(SearchTerm.id).where(SearchTerm.record_id == Document.record_id,
                                                         SearchTerm.document_id == Document.id).exists())
    return list(session.scalars(query))


def reindex(platform: Platform, document_ids: list[uuid.UUID], *, progress: Callable[[int], None] = lambda n: None,
            batch: int = 100) -> int:
    """Index documents from their sealed content, ``batch`` to a transaction; return how many.

    A platform job, not a consultation: the content is opened in this process only to compute
    tokens, nothing of it leaves, and each record's trace says that its documents were indexed.
    """
    done = 0
    for start in range(0, len(document_ids), batch):
        with platform.transaction() as session:
            per_record: dict[uuid.UUID, int] = {}
            for document_id in document_ids[start:start + batch]:
                document = session.get(Document, document_id)
                if document is None:
                    continue
                content = None
                if document.media_type in ("application/pdf", FHIR_MEDIA_TYPE):
                    content = b"".join(platform.content.open(session, document.record_id, document.content_key,
                                                             sha256=document.sha256, size=document.size))
                index_document(session, platform, document, content)
                if document.media_type == FHIR_MEDIA_TYPE and content is not None:
                    # Its codes too, keyed under the current master key (so older keys can be retired).
                    forget_structured(session, document.id)
                    index_structured(session, platform, document, content)
                per_record[document.record_id] = per_record.get(document.record_id, 0) + 1
                done += 1
                progress(1)
            for record_id, count in per_record.items():
                platform.trace.append(session, TraceEvent(
                    action="search.index", outcome=Outcome.permitted, actor_kind=SYSTEM.kind.value,
                    actor_id=SYSTEM.id, actor_display=SYSTEM.display, record_id=record_id, reason="system_index",
                    context={"documents": count},
                ))
    return done


# -- the worker's job: indexing one deposited document (``opendsp.jobs``) ---------------------------------------


@dataclass(frozen=True)
class DocumentTerms:
    document_id: uuid.UUID
    record_id: uuid.UUID
    weights: dict[str, int]


def document_terms(platform: Platform, document_id: uuid.UUID, *, record_id: uuid.UUID) -> DocumentTerms | None:
    """A deposited document's terms and weights; None when there is nothing to index (no such document in that
    record, or the record erased for good). The job names the record: the statement is the record's alone.

    The document and its content are read in a short session; the text is read from the content after it has
    closed, outside any transaction (on SQLite, a transaction holds the one write lock). The content lives in
    this process's memory only while the terms are computed.
    """
    from opendsp.records.erasure import is_erased

    with platform.sessions() as session:
        document = session.scalars(select(Document).where(Document.record_id == record_id,
                                                          Document.id == document_id)).one_or_none()
        if document is None or is_erased(session, document.record_id):
            return None
        content = None
        if document.media_type in ("application/pdf", FHIR_MEDIA_TYPE) and document.size <= MAX_INDEXED_CONTENT:
            content = b"".join(platform.content.open(session, document.record_id, document.content_key,
                                                     sha256=document.sha256, size=document.size))
        fields = [(document.title, TITLE_WEIGHT), (metadata_text(document), METADATA_WEIGHT)]
        record_id, media_type = document.record_id, document.media_type
    fields.append((body_text(media_type, content), BODY_WEIGHT))
    return DocumentTerms(document_id=document_id, record_id=record_id, weights=text.weighted(fields))


def write_document_terms(session: Session, platform: Platform, terms: DocumentTerms) -> None:
    """Write a document's tokens, in the transaction that finishes its job; nothing if its record was erased
    for good meanwhile (the erasure's lock on the record's key is waited for, so none is written after it)."""
    from opendsp.content.models import RecordKey

    key = session.scalars(
        select(RecordKey).where(RecordKey.record_id == terms.record_id).with_for_update(read=True)
    ).first()
    if key is not None and key.wrapped_key is None:
        return
    write_terms(session, platform, document_id=terms.document_id, record_id=terms.record_id, weights=terms.weights)
