"""What the holder's side was told of (docs/notifications.md): the list, and marking it read.

The home page shows the latest lines; this page shows them all. Both read
through ``RecordAccess.notifications`` (decided and traced like reading the
trace) and describe a notification the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.documents.labels import TYPE_LABELS
from opendsp.documents.types import DocumentType
from opendsp.locale import N_
from opendsp.notifications.messages import KIND_LABELS, OTHER_KIND
from opendsp.notifications.vocabulary import NotificationKind
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.security import csrf_protect
from opendsp.web.templating import translate

if TYPE_CHECKING:  # a name only: notifications are read through RecordAccess
    from opendsp.access.models import Notification

router = APIRouter()
forms = APIRouter(dependencies=[Depends(csrf_protect)])

# What a change of assistant says in the list, by the change recorded.
ASSISTANT_CHANGES = {
    "added": N_("%(name)s was added."),
    "changed": N_("The end date of the delegation to %(name)s changed."),
    "ended": N_("%(name)s was removed."),
}


@dataclass(frozen=True)
class NoticeLine:
    at: datetime
    label: str  # untranslated; the template translates it
    detail: str | None  # already translated
    unread: bool
    link: str | None  # the document it is about, if any
    kind: str
    link_text: str | None = None  # already translated: which document, and who deposited it (WCAG 2.4.4)


def notice_lines(request: Request, notifications: Iterable[Notification]) -> list[NoticeLine]:
    return [
        NoticeLine(at=n.shown_from or n.created_at, label=KIND_LABELS.get(n.kind, OTHER_KIND),
                   detail=_detail(request, n), unread=n.read_at is None, link=_link(n), kind=n.kind,
                   link_text=_link_text(request, n))
        for n in notifications
    ]


def _link_text(request: Request, notification: Notification) -> str | None:
    """What a link to the document says on its own: the document's title, and who deposited it.

    Notifications written before titles were kept fall back to the document's type.
    """
    details = notification.details or {}
    title = details.get("title")
    if not isinstance(title, str) or not title:
        kind = details.get("type")
        if kind not in {t.value for t in DocumentType}:
            return None
        title = translate(request, TYPE_LABELS[DocumentType(kind)])
    if details.get("actor"):
        return translate(request, "%(title)s, deposited by %(name)s") % {"title": title, "name": details["actor"]}
    return title


def _detail(request: Request, notification: Notification) -> str | None:
    """One line under a notification: the document's type, who was added or removed, who acted."""
    details, kind = notification.details or {}, notification.kind
    if kind == NotificationKind.document_new.value:
        parts = []
        if details.get("type") in {t.value for t in DocumentType}:
            parts.append(translate(request, TYPE_LABELS[DocumentType(details["type"])]))
        if details.get("replaces"):
            parts.append(translate(request, "a new version"))
        return " — ".join(parts) or None
    change = ASSISTANT_CHANGES.get(details.get("change", ""))
    if kind == NotificationKind.assistant_changed.value and change is not None:
        return translate(request, change) % {"name": details.get("assistant", "")}
    if details.get("actor"):
        return translate(request, "By %(name)s") % {"name": details["actor"]}
    return None


def _link(notification: Notification) -> str | None:
    document = (notification.details or {}).get("document")
    return f"/record/documents/{document}" if isinstance(document, str) and len(document) == 36 else None


@router.get("/record/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        lines = notice_lines(request, view.access.notifications(view.record.id))
        return render_holder(request, view, "holder/notifications.html", lines=lines,
                             unread=sum(1 for line in lines if line.unread))


@forms.post("/record/notifications/read")
def mark_read(request: Request, platform: PlatformDep, next: Annotated[str, Form()] = "") -> Response:
    with holder_view(request, platform) as view:
        view.access.mark_notifications_read(view.record.id)
    return see_other("/record?done=read#notifications" if next == "/record" else "/record/notifications")
