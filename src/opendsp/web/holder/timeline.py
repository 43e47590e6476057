"""The timeline ("Ligne de vie") of care events.

Documents and hospital stays, newest first, filterable by type and period.
Every read goes through ``RecordAccess`` as the person logged in (or the
holder they act for), so the policy decides and the trace records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendsp.documents.models import Document
from opendsp.documents.types import DocumentType
from opendsp.locale import N_
from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.documents.labels import TYPE_LABELS

router = APIRouter()

STAY = "stay"


@dataclass(frozen=True)
class Event:
    day: date
    kind: str  # a DocumentType value, or "stay"
    label: str  # untranslated; the template translates it
    title: str
    detail: str | None = None
    until: date | None = None
    status: str | None = None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/record/timeline", response_class=HTMLResponse)
def timeline(request: Request, platform: PlatformDep, kind: str = "", since: str = "", until: str = "") -> HTMLResponse:
    start, end = _day(since), _day(until)
    wanted = kind if kind in {t.value for t in DocumentType} | {STAY} else ""
    with holder_view(request, platform) as view:
        access, record = view.access, view.record
        events: list[Event] = []
        if wanted != STAY:
            where = [c for c in (Document.care_date >= start if start else None,
                                 Document.care_date <= end if end else None) if c is not None]
            page = access.list_documents(record.id, types=[DocumentType(wanted)] if wanted else (), where=where,
                                         limit=500)
            events += [
                Event(day=d.care_date, kind=d.type.value, label=TYPE_LABELS[d.type], title=d.title,
                      detail=d.author_organisation.name if d.author_organisation else None, status=d.status.value)
                for d in page.items
            ]
        if wanted in ("", STAY):
            for stay in access.list_stays(record.id):
                if stay.admitted_at is None or stay.state.value in ("cancelled", "planned"):
                    continue
                admitted = _local_day(stay.admitted_at)
                left = _local_day(stay.discharged_at) if stay.discharged_at else None
                if (end and admitted > end) or (start and (left or date.max) < start):
                    continue
                place = stay.organisation.name + (f" — {stay.care_unit.name}" if stay.care_unit else "")
                events.append(Event(day=admitted, kind=STAY, label=N_("Hospital stay"), title=place, until=left,
                                    status=stay.state.value))
        events.sort(key=lambda e: e.day, reverse=True)
        kinds = [(t.value, TYPE_LABELS[t]) for t in DocumentType] + [(STAY, N_("Hospital stay"))]
        return render_holder(request, view, "holder/timeline.html", events=events, kinds=kinds, kind=wanted,
                             since=since, until=until)


def _local_day(moment: datetime) -> date:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Luxembourg")).date()
