"""The holder's record in the browser: the timeline ("Ligne de vie") of care events, and the notifications.

Documents and hospital stays, newest first, filterable by type and period;
what the holder's side was told of (docs/notifications.md). Every read goes
through ``RecordAccess`` as the person logged in (or the holder they act
for), so the policy decides and the trace records it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from opendsp.access.models import Notification
from opendsp.access.services import RecordAccess
from opendsp.accounts import delegations
from opendsp.accounts.models import AccountKind
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentType
from opendsp.locale import N_
from opendsp.notifications.messages import KIND_LABELS, OTHER_KIND
from opendsp.notifications.models import NotificationKind
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.records.models import Record
from opendsp.records.services import record_of
from opendsp.trace.service import RequestContext
from opendsp.web.auth_views import PlatformDep, require_viewer
from opendsp.web.security import Viewer, csrf_protect
from opendsp.web.templating import render, translate

router = APIRouter(dependencies=[Depends(csrf_protect)])
LUXEMBOURG = ZoneInfo("Europe/Luxembourg")

TYPE_LABELS: dict[DocumentType, str] = {
    DocumentType.laboratory_report: N_("Laboratory report"),
    DocumentType.imaging_report: N_("Imaging report"),
    DocumentType.consultation_report: N_("Consultation report"),
    DocumentType.prescription: N_("Prescription"),
    DocumentType.discharge_letter: N_("Hospital discharge letter"),
    DocumentType.home_care_report: N_("Home-care report"),
    DocumentType.patient_summary: N_("Patient summary"),
    DocumentType.personal_document: N_("Personal document"),
    DocumentType.operative_report: N_("Operative report"),
    DocumentType.vaccination_record: N_("Vaccination record"),
    DocumentType.pathology_report: N_("Pathology report"),
}
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
    viewer = require_viewer(request, AccountKind.person)
    start, end = _day(since), _day(until)
    wanted = kind if kind in {t.value for t in DocumentType} | {STAY} else ""
    with platform.transaction() as session:
        person = session.get(Person, viewer.person_id)
        assert person is not None
        holder_id: uuid.UUID = viewer.acting_for or person.id
        holder = session.get(Person, holder_id)
        record = record_of(session, holder_id)
        assert holder is not None and record is not None
        access = RecordAccess(
            session=session,
            platform=platform,
            actor=delegations.actor_for(session, person, viewer.acting_for),
            request=RequestContext(request_id=str(uuid.uuid4()), client_software="portal"),
        )
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
        return render(request, "timeline.html", events=events, kinds=kinds, kind=wanted, since=since, until=until,
                      holder=holder)


def _local_day(moment: datetime) -> date:
    return moment.astimezone(LUXEMBOURG).date()


# -- notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    at: datetime
    label: str  # untranslated; the template translates it
    detail: str | None  # already translated
    unread: bool


def _record_access(session: Session, platform: Platform, viewer: Viewer) -> tuple[RecordAccess, Record, Person]:
    """The record the viewer uses now (their own, or the one they act for), and access to it as them."""
    person = session.get(Person, viewer.person_id)
    assert person is not None
    holder = session.get(Person, viewer.acting_for or person.id)
    record = record_of(session, viewer.acting_for or person.id)
    assert holder is not None and record is not None
    access = RecordAccess(
        session=session, platform=platform, actor=delegations.actor_for(session, person, viewer.acting_for),
        request=RequestContext(request_id=str(uuid.uuid4()), client_software="portal"),
    )
    return access, record, holder


# What a change of assistant says in the list, by the change recorded.
ASSISTANT_CHANGES = {
    "added": N_("%(name)s was added."),
    "changed": N_("The end date of the delegation to %(name)s changed."),
    "ended": N_("%(name)s was removed."),
}


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


def _no_longer(request: Request) -> HTMLResponse:
    return render(request, "message.html", 403,
                  title_text=translate(request, "You can no longer act for this person."))


@router.get("/record/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, platform: PlatformDep) -> HTMLResponse:
    viewer = require_viewer(request, AccountKind.person)
    try:
        with platform.transaction() as session:
            access, record, holder = _record_access(session, platform, viewer)
            lines = [
                NoticeLine(at=n.shown_from or n.created_at, label=KIND_LABELS.get(n.kind, OTHER_KIND),
                           detail=_detail(request, n), unread=n.read_at is None)
                for n in access.notifications(record.id)
            ]
    except AccessDenied:
        return _no_longer(request)
    return render(request, "notifications.html", lines=lines, holder=holder, zone=LUXEMBOURG,
                  unread=sum(1 for line in lines if line.unread))


@router.post("/record/notifications/read")
def notifications_read(request: Request, platform: PlatformDep) -> Response:
    viewer = require_viewer(request, AccountKind.person)
    try:
        with platform.transaction() as session:
            access, record, _holder = _record_access(session, platform, viewer)
            access.mark_notifications_read(record.id)
    except AccessDenied:
        return _no_longer(request)
    return RedirectResponse("/record/notifications", status_code=303)
