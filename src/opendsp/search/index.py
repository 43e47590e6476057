"""Indexing a stored document: its title, metadata and text, as weighted keyed tokens.

Done by the worker for each document deposited (a job written with the
deposit, ``opendsp.jobs``), and by ``opendsp search reindex`` for documents
stored before the index existed. The text read from
the content (a PDF's pages, a structured document's texts and displays) lives
only in memory while the tokens are computed; only tokens and weights are
written.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from opendsp.documents.labels import TYPE_LABELS
from opendsp.documents.models import Document
from opendsp.documents.types import CODINGS, FHIR_MEDIA_TYPE
from opendsp.locale import LANGUAGES as UI_LANGUAGES, terms, translations
from opendsp.platform import Platform
from opendsp.search import text
from opendsp.search.models import SearchTerm

log = logging.getLogger(__name__)

_HMAC_LABEL = b"opendsp keyword search v1"
TITLE_WEIGHT = 50
METADATA_WEIGHT = 20
BODY_WEIGHT = 1
# Bounds on what is read from one document's content, so that one odd file cannot stall a deposit.
MAX_PDF_PAGES = 300
MAX_BODY_CHARACTERS = 2_000_000
# Content larger than this is indexed by its title and metadata only (the worker does not read it into memory).
MAX_INDEXED_CONTENT = 32 * 1024 * 1024
_TAGS = re.compile(r"<[^>]+>")
# Keys of a FHIR resource whose string values are words a person would search for.
_FHIR_TEXT_KEYS = frozenset({"text", "display", "title", "valueString", "div", "comment", "description",
                             "conclusion", "family", "given", "name"})


def _search_key(index_key: bytes, record_id: uuid.UUID) -> bytes:
    """One key per record: the same word gives different tokens in two records."""
    return hmac.new(index_key, record_id.bytes, hashlib.sha256).digest()


def token(key: bytes, term: str) -> str:
    # hmac.digest: the one-shot form (same HMAC-SHA256), several times cheaper than hmac.new per term.
    return hmac.digest(key, term.encode(), "sha256").hex()


def record_keys(platform: Platform, record_id: uuid.UUID) -> dict[str, bytes]:
    """The record's search key under every master key the platform holds, by master key id."""
    keys = platform.keys
    return {key_id: _search_key(keys.index_key(key_id, _HMAC_LABEL), record_id) for key_id in keys.key_ids()}


def damped(weight: int) -> int:
    """A stored weight: grows with the logarithm of the weighted count (ranks, and says little of the count)."""
    return round(100 * (1 + math.log(weight))) if weight > 0 else 0


# -- what a document says ---------------------------------------------------------------------


def metadata_text(document: Document) -> str:
    """The type (in the three languages and as LOINC names it), the author and their organisation."""
    label = TYPE_LABELS[document.type]
    parts = [translations(language).gettext(label) for language in UI_LANGUAGES]
    parts.append(CODINGS[document.type].display)
    if document.author is not None:
        parts += [document.author.given_name, document.author.family_name]
    if document.author_organisation is not None:
        parts.append(document.author_organisation.name)
    return " ".join(parts)


def pdf_text(content: bytes) -> str:
    """The text of a PDF's pages; empty when it cannot be read (encrypted, damaged, only images)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            return ""
        out: list[str] = []
        size = 0
        for page in reader.pages[:MAX_PDF_PAGES]:
            page_text = page.extract_text() or ""
            out.append(page_text)
            size += len(page_text)
            if size > MAX_BODY_CHARACTERS:
                break
        return "\n".join(out)[:MAX_BODY_CHARACTERS]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as error:
        log.info("no text read from a PDF: %s", type(error).__name__)
        return ""


def _coded_words(coding: dict[str, Any]) -> Iterator[str]:
    """A coding the platform translates, in every language it shows: an imaging report's modality ("Röntgen")
    and body site ("thorax"), a medicine's substance, are found in the reader's words, not only the code's."""
    table = terms.SYSTEMS.get(str(coding.get("system") or ""))
    term = terms.table(table).get(str(coding.get("code") or "")) if table else None
    if term is not None:
        yield from (word for word in term.words.values() if word)


def _fhir_strings(value: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield from _coded_words(value)
        for name, inner in value.items():
            yield from _fhir_strings(inner, name)
    elif isinstance(value, list):
        for inner in value:
            yield from _fhir_strings(inner, key)
    elif isinstance(value, str) and key in _FHIR_TEXT_KEYS:
        yield _TAGS.sub(" ", value) if key == "div" else value


def fhir_text(content: bytes) -> str:
    """The texts of a FHIR resource or Bundle: titles, displays, narratives, comments."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return ""
    return " ".join(_fhir_strings(data))[:MAX_BODY_CHARACTERS]


def body_text(media_type: str, content: bytes | None) -> str:
    if content is None:
        return ""
    if media_type == "application/pdf":
        return pdf_text(content)
    if media_type == FHIR_MEDIA_TYPE:
        return fhir_text(content)
    return ""  # images: no text without OCR


# -- writing the index ------------------------------------------------------------------------


def index_document(session: Session, platform: Platform, document: Document, content: bytes | None) -> int:
    """(Re)write a document's tokens; return how many. ``content`` None indexes the metadata only."""
    weights = document_weights(document, content)
    write_terms(session, platform, document_id=document.id, record_id=document.record_id, weights=weights)
    return len(weights)


def document_weights(document: Document, content: bytes | None) -> dict[str, int]:
    """A document's terms and their weights, from its title, metadata and content (``None``: no content).

    Touches no table: the worker computes them outside any transaction (reading a PDF can take a while)."""
    return text.weighted([
        (document.title, TITLE_WEIGHT),
        (metadata_text(document), METADATA_WEIGHT),
        (body_text(document.media_type, content), BODY_WEIGHT),
    ])


def write_terms(session: Session, platform: Platform, *, document_id: uuid.UUID, record_id: uuid.UUID,
                weights: dict[str, int]) -> None:
    """Replace a document's tokens with those of ``weights``: writing the same weights twice gives the same index."""
    session.execute(delete(SearchTerm).where(SearchTerm.record_id == record_id,
                                          SearchTerm.document_id == document_id))
    key_id = platform.keys.current_key_id
    key = record_keys(platform, record_id)[key_id]
    session.add_all(
        SearchTerm(id=uuid.uuid4(), record_id=record_id, document_id=document_id, master_key_id=key_id,
                   token=token(key, term), weight=damped(weight))
        for term, weight in sorted(weights.items())
    )
    session.flush()


def forget_record(session: Session, record_id: uuid.UUID) -> None:
    """Delete a record's tokens (with its content, when a record is deleted for good)."""
    session.execute(delete(SearchTerm).where(SearchTerm.record_id == record_id))
