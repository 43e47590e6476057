"""The visibility rule as a SQL condition, so that lists, counts and totals are
filtered inside the query and never reveal what the caller may not see.

It must say exactly what ``Visibility.admits`` says; a property test holds the
two side by side.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from opendsp.access.models import DocumentNamedProfessional
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus
from opendsp.policy.decision import Visibility


def visible_documents(rule: Visibility) -> ColumnElement[bool]:
    if rule.nothing:
        return false()
    if rule.holder_side:
        return or_(Document.visible_to_holder_from.is_(None), Document.visible_to_holder_from <= rule.now)
    if not rule.types:
        return false()
    # No viewer: nothing is "own" (comparing a column with None would say IS NULL: the holder's documents).
    own = Document.author_professional_id == rule.viewer if rule.viewer is not None else false()
    named = exists(
        select(DocumentNamedProfessional.document_id).where(
            DocumentNamedProfessional.record_id == Document.record_id,
            DocumentNamedProfessional.document_id == Document.id,
            DocumentNamedProfessional.professional_id == rule.viewer,
        )
    )
    confidentiality = (
        true()
        if rule.referring_doctor
        else or_(Document.confidentiality == ConfidentialityLevel.normal, own, named)
    )
    return and_(
        Document.hidden_at.is_(None),
        Document.type.in_(sorted(rule.types)),
        or_(Document.status != DocumentStatus.withdrawn, own),
        confidentiality,
    )
