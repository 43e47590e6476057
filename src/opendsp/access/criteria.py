"""Search criteria of the exchange API (FHIR) in the record's own terms, and their SQL form, for ``RecordAccess``.

An adapter (the FHIR API's search parameters) says what it looks for with
these values and never names a table or a column: each criterion is a list of
alternatives (OR), and the criteria of one search all hold (AND). The
visibility rule is never built here: ``RecordAccess`` adds it to whatever
these conditions narrow.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, or_, select, true

from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.periods import Period, period_condition
from opendsp.professionals.models import Organisation, Professional
from opendsp.structured.models import StructuredCode, StructuredEntry
from opendsp.submissions.models import DocumentContext

# The vocabularies adapters name criteria with, exported here so that they import no model module.
from opendsp.professionals.models import OrganisationKind as OrganisationKind  # noqa: E402, I001
from opendsp.submissions.models import ContextElement as ContextElement  # noqa: E402


class NameMatch(str, enum.Enum):
    starts = "starts"  # the beginning of the name, regardless of case
    contains = "contains"  # a part of the name, regardless of case
    exact = "exact"  # the whole name, as written


# -- what a document search may ask ---------------------------------------------------------------


@dataclass(frozen=True)
class Nothing:
    """An alternative nothing matches (a code of another system, an id that is not one)."""


@dataclass(frozen=True)
class Anything:
    """An alternative every document matches (the one format code: the media type says it all)."""


@dataclass(frozen=True)
class DocumentIs:
    id: uuid.UUID


@dataclass(frozen=True)
class StatusIs:
    status: DocumentStatus


@dataclass(frozen=True)
class DepositedIn:
    period: Period


@dataclass(frozen=True)
class DepositedBy:
    """Deposited at ``instant`` or before (a search as at its first page's instant)."""

    instant: datetime


@dataclass(frozen=True)
class CaredIn:
    """The care date (a day) in the period."""

    period: Period


@dataclass(frozen=True)
class TypeIn:
    types: frozenset[DocumentType]


@dataclass(frozen=True)
class ConfidentialityIs:
    level: ConfidentialityLevel


@dataclass(frozen=True)
class AuthorOrganisationKind:
    kind: OrganisationKind


@dataclass(frozen=True)
class AuthorName:
    part: str  # "given" or "family"
    value: str
    match: NameMatch = NameMatch.starts


@dataclass(frozen=True)
class ContextHas:
    """A coding (or a related reference's identifier) of the context the sender gave.

    ``system`` None with ``any_system``: any system; None without it: no system."""

    element: ContextElement
    code: str | None
    system: str | None = None
    any_system: bool = True


DocumentCriterion = (Nothing | Anything | DocumentIs | StatusIs | DepositedIn | DepositedBy | CaredIn | TypeIn
                     | ConfidentialityIs | AuthorOrganisationKind | AuthorName | ContextHas)


def document_conditions(criteria: Iterable[Sequence[DocumentCriterion]]) -> list[ColumnElement[bool]]:
    """Each criterion's alternatives OR-ed, the criteria AND-ed, on ``Document``."""
    return [or_(*(_document_condition(alternative) for alternative in alternatives)) for alternatives in criteria]


def _document_condition(criterion: DocumentCriterion) -> ColumnElement[bool]:
    match criterion:
        case Nothing():
            return false()
        case Anything():
            return true()
        case DocumentIs(id=document_id):
            return Document.id == document_id
        case StatusIs(status=status):
            return Document.status == status
        case DepositedIn(period=period):
            return period_condition(Document.deposited_at, period)
        case DepositedBy(instant=instant):
            return Document.deposited_at <= instant
        case CaredIn(period=period):
            return period_condition(Document.care_date, period, as_date=True)
        case TypeIn(types=types):
            return Document.type.in_(sorted(types)) if types else false()
        case ConfidentialityIs(level=level):
            return Document.confidentiality == level
        case AuthorOrganisationKind(kind=kind):
            return Document.author_organisation_id.in_(select(Organisation.id).where(Organisation.kind == kind))
        case AuthorName(part=part, value=value, match=match):
            column = Professional.given_name if part == "given" else Professional.family_name
            return Document.author_professional_id.in_(select(Professional.id).where(_name(column, value, match)))
        case ContextHas():
            return _context_condition(criterion)
    raise AssertionError(criterion)


def _like(value: str) -> str:
    return value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name(column: Any, value: str, match: NameMatch) -> ColumnElement[bool]:
    if match is NameMatch.exact:
        return column == value
    if match is NameMatch.contains:
        return func.lower(column).like(f"%{_like(value)}%", escape="\\")
    return func.lower(column).like(f"{_like(value)}%", escape="\\")


def _context_condition(wanted: ContextHas) -> ColumnElement[bool]:
    conditions = [DocumentContext.document_id == Document.id, DocumentContext.element == wanted.element]
    if not wanted.any_system:
        conditions.append(DocumentContext.system == wanted.system if wanted.system else
                          DocumentContext.system.is_(None))
    if wanted.code is not None:
        conditions.append(DocumentContext.code == wanted.code)
    return exists().where(*conditions)


# -- what a search of structured entries may ask ----------------------------------------------------


@dataclass(frozen=True)
class CodeIs:
    """An entry coded ``code`` in ``system`` (None: in any system); compared as keyed HMACs only."""

    code: str
    system: str | None = None


@dataclass(frozen=True)
class EffectiveIn:
    period: Period


EntryCriterion = CodeIs | EffectiveIn


def entry_conditions(criteria: Iterable[Sequence[EntryCriterion]], tokens: Any) -> list[ColumnElement[bool]]:
    """On ``StructuredEntry``; ``tokens(system, code)`` gives the HMACs a code is indexed under."""
    conditions = []
    for alternatives in criteria:
        options: list[ColumnElement[bool]] = []
        for criterion in alternatives:
            match criterion:
                case CodeIs(code=code, system=system):
                    options.append(StructuredEntry.id.in_(
                        select(StructuredCode.entry_id).where(StructuredCode.token.in_(tokens(system, code)))))
                case EffectiveIn(period=period):
                    options.append(period_condition(StructuredEntry.effective_at, period))
        conditions.append(or_(*options))
    return conditions
