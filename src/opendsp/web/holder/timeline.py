"""The timeline ("Ligne de vie") of care events.

Documents and hospital stays, newest first, filterable by type, EHDS category and period.
Every read goes through ``RecordAccess`` as the person logged in (or the
holder they act for), so the policy decides and the trace records it.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendsp.access.criteria import DocumentCriteria
from opendsp.web.auth_views import PlatformDep
from opendsp.web.care_events import EventFilter, care_events, category_options, kind_options
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder

router = APIRouter()


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/record/timeline", response_class=HTMLResponse)
def timeline(request: Request, platform: PlatformDep, kind: str = "", category: str = "", since: str = "",
             until: str = "") -> HTMLResponse:
    start, end = _day(since), _day(until)
    wanted = EventFilter.parse(kind, category)
    with holder_view(request, platform) as view:
        where = DocumentCriteria(since=start, until=end).conditions()
        # One act, one trace entry: the documents and the stays asked for.
        found = view.access.timeline(view.record.id, documents=wanted.documents, stays=wanted.stays,
                                     types=wanted.types, where=where)
        events = care_events(found.documents, found.stays, start=start, end=end)
        return render_holder(request, view, "holder/timeline.html", events=events, kinds=kind_options(),
                             categories=category_options(), kind=wanted.kind, category=wanted.category,
                             since=since, until=until)
