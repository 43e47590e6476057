"""``RecordAccess``: every act on a record, decided by the policy and traced.

Built once per request from the authenticated actor, and the one object adapters reach clinical data through.
It is a thin front over a small gate and one module per feature (docs/adr/0023-the-gate-and-feature-modules.md):

- ``opendsp.access.gate``: the facts, ``decide``, the trace entry (in the act's transaction; a refusal survives
  a rollback of the request) and the notifications. The only code that turns an act into a permit.
- ``reading`` (a record's documents, one document with its versions, its content, many for one view),
  ``structured_reading`` (charts, the summary, searches of structured entries), ``changes`` (deposit, replace,
  withdraw), ``exchange`` (the FHIR/MHD view of documents, submission sets), ``holder_controls`` (circle, blocks,
  hidden documents, assistants, presence code, wishes, ...), ``holder_views`` (the holder's side reading its
  choices, trace, notifications, export), ``opening`` (presence code, emergency), ``stay_access`` (stays),
  ``patient_lookup`` (PDQm), ``wish_reading`` (the wishes on their own) and ``agency`` (erasure, published figures).

Each public method loads the facts, asks ``decide``, writes exactly one trace entry for that decision, raises
``AccessDenied`` on a refusal, and only then acts through the storage services with the permit.
"""

from __future__ import annotations

from opendsp.access.agency import Agency
from opendsp.access.exchange import DetailsPage, DocumentDetails, Exchange, SubmissionSetView, SubmittedItem
from opendsp.access.gate import PAGE_COVERS_CONTENT, InvalidRequest, RecordNotFound
from opendsp.access.holder_controls import HolderControls
from opendsp.access.holder_views import (
    AccessChoices,
    AssistantChoice,
    ConsentView,
    DocumentReaders,
    HolderSide,
    HolderViews,
    ProfessionalChoice,
    RecordExport,
    TracePage,
)
from opendsp.access.opening import Opening
from opendsp.access.patient_lookup import PatientLookup
from opendsp.access.reading import Consultation, DocumentPage, DocumentReading, DocumentsReading, Timeline
from opendsp.access.stay_access import StayAccess
from opendsp.access.wish_reading import WishRead, WishReading
from opendsp.access.structured_reading import (
    MAX_STRUCTURED_DOCUMENTS,
    EntryAt,
    StructuredEntries,
    StructuredReading,
    StructuredSources,
)
from opendsp.content.service import ContentUnavailable
from opendsp.policy.decision import AccessDenied

__all__ = [
    "AccessDenied", "Consultation", "ContentUnavailable", "DocumentPage", "DocumentReading", "DocumentsReading", "InvalidRequest",
    "RecordAccess", "RecordNotFound",
    # Re-exported where adapters and tests have always found them.
    "AccessChoices", "AssistantChoice", "ConsentView", "DetailsPage", "DocumentReaders", "DocumentDetails", "EntryAt", "HolderSide",
    "MAX_STRUCTURED_DOCUMENTS", "PAGE_COVERS_CONTENT", "ProfessionalChoice", "RecordExport", "StructuredEntries",
    "StructuredSources", "SubmissionSetView", "SubmittedItem", "Timeline", "TracePage", "WishRead",
]


class RecordAccess(
    HolderControls, HolderViews, Opening, Exchange, StructuredReading, StayAccess, PatientLookup, Agency, WishReading
):
    """Every act on a record, for one actor in one request: each feature's methods, all through the one gate."""
