"""Answering a keyword query, and indexing the documents stored before the index existed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

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
from opendsp.search.index import index_document, record_keys, token
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
