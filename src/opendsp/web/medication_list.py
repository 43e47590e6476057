"""The medication list, read for the holder's and the professional's pages alike.

The record's prescriptions (MedicationRequest) and dispensations
(MedicationDispense) are read through ``RecordAccess`` as ONE act, purpose
``medication_list``: one decision over the documents the reader may see
(hidden, restricted, delayed documents and the types their profession may not
consult stay out) and one trace entry naming them. The list itself is the
domain rule of ``opendsp.structured.medications``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opendsp.structured.bundles import parse_document
from opendsp.structured.medications import Medicine, medication_list, party_names

if TYPE_CHECKING:  # names only: the documents are read through RecordAccess
    import uuid

    from opendsp.access.services import RecordAccess
    from opendsp.documents.models import Document
    from opendsp.policy.decision import Decision

KINDS = ("MedicationRequest", "MedicationDispense")
# The newest documents with prescriptions or dispensations are read; older ones are said to be left out.
MAX_SOURCES = 100


@dataclass(frozen=True)
class MedicationList:
    medicines: list[Medicine]
    documents: dict[uuid.UUID, Document]  # each line's sources, to link them
    truncated: bool
    permit: Decision


def read_medication_list(access: RecordAccess, record_id: uuid.UUID) -> MedicationList:
    """Raises ``AccessDenied`` as ``read_documents`` does (a professional without access)."""
    found = access.read_structured_sources(record_id, resource_types=KINDS, purpose="medication_list",
                                           limit=MAX_SOURCES)
    documents: dict[uuid.UUID, Document] = {}
    sources = []
    for item in found.reading.items:  # newest first
        bundle = parse_document(item.read())
        if bundle is None:
            continue
        entries = bundle.get("entry") or []
        resources: list[dict[str, Any]] = []
        for position, kind in sorted(found.positions.get(item.document.id, [])):
            entry = entries[position] if position < len(entries) else None
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == kind:
                resources.append(resource)
        documents[item.document.id] = item.document
        sources.append((item.document.id, resources, party_names(bundle)))
    return MedicationList(medicines=medication_list(sources), documents=documents,
                          truncated=found.reading.total > len(found.reading.items), permit=found.reading.permit)
