"""The home page of the record (myDSP): latest documents, notifications, and the keyword search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from opendsp.search.services import search
from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.holder.notifications import notice_lines

router = APIRouter()

LATEST = 5
NOTICES = 10  # the latest on the home page; /record/notifications lists them all
PER_PAGE = 20


@router.get("/record", response_class=HTMLResponse)
def home(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        latest = view.access.list_documents(view.record.id, limit=LATEST)
        lines = notice_lines(request, view.access.notifications(view.record.id, limit=NOTICES))
        return render_holder(request, view, "holder/home.html", latest=latest, notifications=lines,
                             unread=sum(1 for line in lines if line.unread))


@router.get("/record/search", response_class=HTMLResponse)
def search_form(request: Request, platform: PlatformDep) -> HTMLResponse:
    """The empty form: search terms travel in a POST body, never in an address (logs, history, proxies)."""
    with holder_view(request, platform) as view:
        return render_holder(request, view, "holder/search.html", q="", found=None, page=1, pages=1)


@router.post("/record/search", response_class=HTMLResponse)
def search_page(request: Request, platform: PlatformDep, q: Annotated[str, Form()] = "",
                page: Annotated[str, Form()] = "1") -> HTMLResponse:
    query = q.strip()[:200]
    number = max(int(page), 1) if page.isdigit() and len(page) < 6 else 1
    with holder_view(request, platform) as view:
        found = search(view.access, view.record.id, query, limit=PER_PAGE, offset=(number - 1) * PER_PAGE) \
            if query else None
        pages = max(1, -(-found.total // PER_PAGE)) if found else 1
        return render_holder(request, view, "holder/search.html", q=query, found=found, page=number, pages=pages)
