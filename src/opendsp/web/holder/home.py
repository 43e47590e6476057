"""The home page of the record (myDSP): latest documents, notifications, and the keyword search."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.models import Notification
from opendsp.documents.labels import TYPE_LABELS
from opendsp.documents.types import DocumentType
from opendsp.locale import N_
from opendsp.search.services import search
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.security import csrf_protect

router = APIRouter()
forms = APIRouter(dependencies=[Depends(csrf_protect)])

LATEST = 5
PER_PAGE = 20
LUXEMBOURG = ZoneInfo("Europe/Luxembourg")

# What each kind of notification says (the details fill in who and what).
NOTIFICATION_TEXTS = {
    "document.new": N_("A new document was added to your record: %(what)s."),
    "presence.opened": N_("%(who)s opened your record with your presence code."),
    "emergency.opened": N_("%(who)s opened your record in an emergency."),
    "presence.locked": N_("Too many wrong presence codes were tried on your record; the code is locked for a while."),
    "assistant.changed": N_("Your assistants changed: %(who)s."),
}
OTHER_NOTIFICATION = N_("Something happened on your record: see the traceability.")


def local_time(moment: datetime) -> str:
    return moment.astimezone(LUXEMBOURG).strftime("%d/%m/%Y %H:%M")


def describe(notification: Notification, gettext) -> str:  # type: ignore[no-untyped-def]
    details = notification.details or {}
    what = details.get("type")
    what_text = gettext(TYPE_LABELS[DocumentType(what)]) if what in DocumentType._value2member_map_ else ""
    who = str(details.get("actor") or details.get("assistant") or "")
    if notification.kind == "assistant.changed":
        change = gettext(N_("added")) if details.get("change") == "added" else gettext(N_("ended"))
        who = f"{who} ({change})" if who and not _looks_like_id(who) else change
    text = NOTIFICATION_TEXTS.get(notification.kind, OTHER_NOTIFICATION)
    return gettext(text) % {"what": what_text, "who": who}


def _link(notification: Notification) -> str | None:
    """The document a notification is about, if any."""
    document = (notification.details or {}).get("document")
    return f"/record/documents/{document}" if isinstance(document, str) and _looks_like_id(document) else None


def _looks_like_id(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


@router.get("/record", response_class=HTMLResponse)
def home(request: Request, platform: PlatformDep) -> HTMLResponse:
    from opendsp.locale import translations

    gettext = translations(request.state.language).gettext
    with holder_view(request, platform) as view:
        latest = view.access.list_documents(view.record.id, limit=LATEST)
        notifications = view.access.notifications(view.record.id)
        shown = [(n, describe(n, gettext), local_time(n.created_at), _link(n)) for n in notifications]
        return render_holder(request, view, "holder/home.html", latest=latest, notifications=shown,
                             unread=sum(1 for n in notifications if n.read_at is None))


@forms.post("/record/notifications/read")
def mark_read(request: Request, platform: PlatformDep) -> Response:
    with holder_view(request, platform) as view:
        view.access.mark_notifications_read(view.record.id)
    return see_other("/record?done=read#notifications")


@router.get("/record/search", response_class=HTMLResponse)
def search_page(request: Request, platform: PlatformDep, q: str = "", page: int = 1) -> HTMLResponse:
    query = q.strip()[:200]
    page = max(page, 1)
    with holder_view(request, platform) as view:
        found = search(view.access, view.record.id, query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE) \
            if query else None
        pages = max(1, -(-found.total // PER_PAGE)) if found else 1
        return render_holder(request, view, "holder/search.html", q=query, found=found, page=page, pages=pages)
