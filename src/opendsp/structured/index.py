"""Writing, forgetting and searching the index of structured entries (``StructuredEntry``, ``StructuredCode``).

A document deposited as ``application/fhir+json`` that is a FHIR document
Bundle gets one index row per clinical entry (Observation, DiagnosticReport,
AllergyIntolerance, Condition, MedicationStatement, Immunization): the
record, the document, the entry's position in the Bundle, its resource type
and its effective date. Its codes are kept as keyed HMACs of ``system|code``
(and of ``*|code`` for a search without a system), the key derived from a
master key; the row remembers which master key, so a rotation leaves old rows
findable. Only ``RecordAccess`` and platform jobs call this module.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.platform import Platform
from opendsp.structured.bundles import codings, effective_at, entries, parse_document
from opendsp.structured.models import StructuredCode, StructuredEntry

_HMAC_LABEL = b"opendsp structured index code v1"
ANY_SYSTEM = "*"


def code_token(key: bytes, system: str | None, code: str) -> str:
    """The HMAC of ``system|code`` (``*|code`` when any system matches) under an index key."""
    return hmac.new(key, f"{system or ANY_SYSTEM}|{code}".encode(), hashlib.sha256).hexdigest()


def search_tokens(platform: Platform, system: str | None, code: str) -> list[str]:
    """The tokens a code has under every master key the platform holds."""
    keys = platform.keys
    return [code_token(keys.index_key(key_id, _HMAC_LABEL), system, code) for key_id in keys.key_ids()]


def index_document(session: Session, platform: Platform, document: Document, content: bytes) -> int:
    """Write the index rows of a stored document; return how many entries were indexed.

    Content that is not a FHIR document Bundle is stored as it is and gets no index.
    """
    if document.media_type != FHIR_MEDIA_TYPE:
        return 0
    bundle = parse_document(content)
    if bundle is None:
        return 0
    keys = platform.keys
    key_id = keys.current_key_id
    key = keys.index_key(key_id, _HMAC_LABEL)
    count = 0
    for position, resource in entries(bundle):
        entry = StructuredEntry(id=uuid.uuid4(), record_id=document.record_id, document_id=document.id,
                                position=position, resource_type=resource["resourceType"],
                                effective_at=effective_at(resource))
        session.add(entry)
        session.flush()  # the entry before its codes (no ORM relationship orders them)
        tokens: set[str] = set()
        for system, code in codings(resource):
            tokens.add(code_token(key, system, code))
            tokens.add(code_token(key, None, code))
        session.add_all(StructuredCode(id=uuid.uuid4(), entry_id=entry.id, record_id=document.record_id,
                                       master_key_id=key_id, token=token) for token in sorted(tokens))
        count += 1
    session.flush()
    return count


def forget_document(session: Session, document_id: uuid.UUID) -> None:
    """Delete one document's index, before it is written again (``opendsp search reindex``)."""
    entries_of = select(StructuredEntry.id).where(StructuredEntry.document_id == document_id)
    session.execute(delete(StructuredCode).where(StructuredCode.entry_id.in_(entries_of)))
    session.execute(delete(StructuredEntry).where(StructuredEntry.document_id == document_id))


def forget_record(session: Session, record_id: uuid.UUID) -> None:
    """Delete a record's index (with its content, when a record is deleted for good)."""
    session.execute(delete(StructuredCode).where(StructuredCode.record_id == record_id))
    session.execute(delete(StructuredEntry).where(StructuredEntry.record_id == record_id))
