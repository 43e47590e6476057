"""What a search of a record's documents (or structured entries) asks, in the record's own terms, and its SQL form.

One vocabulary for every adapter: the FHIR API's search parameters and the
portals' filter forms (``DocumentCriteria``) say what they look for with these
values and never name a table or a column. Each criterion is a list of
alternatives (OR), and the criteria of one search all hold (AND). The
visibility rule is never built here: ``RecordAccess`` adds it to whatever these
conditions narrow, so criteria only ever narrow what the caller may see.

What the trace keeps of a search is said by the adapter that knows which of its
values are free text (``criteria=`` of ``RecordAccess``): names of filters and
coded values, never a name or words in clear (ADR 10).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
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


AUTHOR_TEXT = 100  # at most this many characters of an author's name are matched (the portals' filter)


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


@dataclass(frozen=True)
class AuthorNamed:
    """Words of the author's name: a professional's given or family name, or an organisation's name, as a part of
    it regardless of case (the portals' author filter)."""

    text: str


@dataclass(frozen=True)
class ByHolder:
    """Deposited by the holder's side, in the personal space."""


@dataclass(frozen=True)
class HiddenIs:
    """Hidden by the holder (True) or not (False)."""

    hidden: bool


DocumentCriterion = (Nothing | Anything | DocumentIs | StatusIs | DepositedIn | DepositedBy | CaredIn | TypeIn
                     | ConfidentialityIs | AuthorOrganisationKind | AuthorName | ContextHas | AuthorNamed | ByHolder
                     | HiddenIs)


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
        case AuthorNamed(text=text):
            pattern = f"%{text[:AUTHOR_TEXT]}%"
            return or_(
                Document.author_professional_id.in_(select(Professional.id).where(or_(
                    Professional.family_name.ilike(pattern), Professional.given_name.ilike(pattern)))),
                Document.author_organisation_id.in_(select(Organisation.id).where(Organisation.name.ilike(pattern))),
            )
        case ByHolder():
            return Document.authored_by_holder.is_(True)
        case HiddenIs(hidden=hidden):
            return Document.hidden_at.is_not(None) if hidden else Document.hidden_at.is_(None)
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


# -- the portals' filter forms, in the same criteria ------------------------------------------------


@dataclass(frozen=True)
class DocumentCriteria:
    """What a portal page narrows a list of documents to (``conditions()`` for ``RecordAccess.list_documents`` and
    ``timeline``): each filter set is one criterion of the search, in the vocabulary above."""

    types: tuple[DocumentType, ...] = ()
    since: date | None = None  # care date, from
    until: date | None = None  # care date, to (included)
    status: DocumentStatus | None = None
    author: str = ""  # words of a professional's or an organisation's name
    by_holder: bool = False  # the holder's personal space only
    hidden: bool | None = None  # hidden by the holder (True), not hidden (False), either (None)
    ids: tuple[uuid.UUID, ...] | None = None

    def criteria(self) -> list[list[DocumentCriterion]]:
        wanted: list[list[DocumentCriterion]] = []
        if self.types:
            wanted.append([TypeIn(frozenset(self.types))])
        if self.since:
            wanted.append([CaredIn(_day("ge", self.since))])
        if self.until:
            wanted.append([CaredIn(_day("le", self.until))])
        if self.status is not None:
            wanted.append([StatusIs(self.status)])
        if self.by_holder:
            wanted.append([ByHolder()])
        name = self.author.strip()
        if name:
            wanted.append([AuthorNamed(name)])
        if self.hidden is not None:
            wanted.append([HiddenIs(self.hidden)])
        if self.ids is not None:
            wanted.append([DocumentIs(i) for i in self.ids] or [Nothing()])
        return wanted

    def conditions(self) -> list[ColumnElement[bool]]:
        return document_conditions(self.criteria())


def _day(prefix: str, day: date) -> Period:
    start = datetime.combine(day, time.min)
    return Period(prefix, start, start + timedelta(days=1))


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
