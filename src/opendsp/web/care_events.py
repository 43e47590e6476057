"""The timeline of a record as both portals show it: documents and hospital stays, newest first.

The caller lists what the reader may see (``RecordAccess.list_documents`` and
``list_stays``: decided and traced); this module only turns them into events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from opendsp.documents.labels import CATEGORY_LABELS, TYPE_LABELS, category_types
from opendsp.documents.types import CODINGS, DocumentType
from opendsp.locale import N_, formats

if TYPE_CHECKING:  # names only: documents and stays are read through RecordAccess
    from opendsp.documents.models import Document
    from opendsp.stays.models import Stay

STAY = "stay"
# Stays that did not take place (``StayState`` values, a str enum): not care events.
NOT_TAKEN_PLACE = ("planned", "cancelled")
STAY_LABEL = N_("Hospital stay")


@dataclass(frozen=True)
class Event:
    day: date
    kind: str  # a DocumentType value, or "stay"
    label: str  # untranslated; the template translates it
    title: str
    detail: str | None = None
    until: date | None = None
    status: str | None = None
    document_id: uuid.UUID | None = None
    category: str | None = None  # a document's EHDS category


@dataclass(frozen=True)
class EventFilter:
    """What a timeline's filters ask for: a type (or "stay") and an EHDS category; "" is "all".

    Anything else in the query string is read as "all", never as an error: a filter only narrows."""

    kind: str = ""
    category: str = ""

    @classmethod
    def parse(cls, kind: str, category: str) -> EventFilter:
        kinds = {t.value for t in DocumentType} | {STAY}
        return cls(kind if kind in kinds else "", category if category in CATEGORY_LABELS else "")

    @property
    def types(self) -> list[DocumentType]:
        """The document types asked for; empty for every type."""
        if self.kind not in ("", STAY):
            kind = DocumentType(self.kind)
            return [kind] if not self.category or CODINGS[kind].ehds_category == self.category else []
        return category_types(self.category) if self.category else []

    @property
    def documents(self) -> bool:
        return self.kind != STAY and (not (self.kind or self.category) or bool(self.types))

    @property
    def stays(self) -> bool:
        return self.kind in ("", STAY) and not self.category


def kind_options() -> list[tuple[str, str]]:
    """The type filter's choices: every document type, then the hospital stays."""
    return [(t.value, TYPE_LABELS[t]) for t in DocumentType] + [(STAY, STAY_LABEL)]


def category_options() -> list[tuple[str, str]]:
    return list(CATEGORY_LABELS.items())


def local_day(moment: datetime) -> date:
    return formats.local_day(moment)


def care_events(documents: Iterable[Document], stays: Iterable[Stay], *, start: date | None = None,
                end: date | None = None) -> list[Event]:
    """Documents and the stays that took place (overlapping the period, when one is given), newest first."""
    events = [
        Event(day=d.care_date, kind=d.type.value, label=TYPE_LABELS[d.type], title=d.title,
              detail=d.author_organisation.name if d.author_organisation else None, status=d.status.value,
              document_id=d.id, category=CODINGS[d.type].ehds_category)
        for d in documents
    ]
    for stay in stays:
        if stay.admitted_at is None or stay.state in NOT_TAKEN_PLACE:
            continue
        admitted = local_day(stay.admitted_at)
        left = local_day(stay.discharged_at) if stay.discharged_at else None
        if (end and admitted > end) or (start and (left or date.max) < start):
            continue
        place = stay.organisation.name + (f" — {stay.care_unit.name}" if stay.care_unit else "")
        events.append(Event(day=admitted, kind=STAY, label=STAY_LABEL, title=place, until=left,
                            status=stay.state.value))
    events.sort(key=lambda e: e.day, reverse=True)
    return events
