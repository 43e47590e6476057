"""The portals attacked from outside: what a caller may not reach answers exactly like what does not exist.

Read as evidence. For each kind of caller (rows of ``PRO_CALLERS`` and the
holder's side below) and each route of the portal (``DOCUMENT_ROUTES``,
``RECORD_ROUTES``), the answer is compared with the answer for "unknown":

- on a document route, a document the caller may not reach (visible to
  others, hidden by the holder, of another record, withdrawn by its author)
  answers byte for byte like a random id that exists nowhere;
- on a record route, a record full of documents answers byte for byte like
  its twin that holds none, set up with the same relation for the caller.

Bytes are compared once ids, dates, times, national numbers and CSRF tokens
are taken out (``tests/web/indistinguishable.py``): status, headers, body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from opendsp.access.models import PresenceGrant
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.types import ConfidentialityLevel, ContentKind, DocumentStatus, DocumentType
from opendsp.platform import Platform
from opendsp.policy import Action, decide
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.accounts.portal import Browser
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import (
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    make_record,
    professional_draft,
)
from tests.web.holder_world import _lab_report, logged_in
from tests.web.indistinguishable import Answer, answer
from tests.web.professional import professional_with_account, real_pdf

PDF = real_pdf("Bilan")

# -- the record attacked, and its empty twin ----------------------------------------------------------


@dataclass
class Target:
    record_id: uuid.UUID
    visible: uuid.UUID | None = None  # a PDF the circle sees
    hidden: uuid.UUID | None = None  # hidden by the holder
    withdrawn: uuid.UUID | None = None  # withdrawn by its author
    structured: uuid.UUID | None = None  # a laboratory report in FHIR (feeds the summary)
    imaging: uuid.UUID | None = None  # an imaging report in FHIR (its own page, a PACS link)
    discharge: uuid.UUID | None = None  # a discharge report in FHIR (its sections)


def _record(session: Session, platform: Platform, *, rich: bool) -> Target:
    """A record; a rich one holds documents of every kind, written by a GP of its circle and a laboratory."""
    record = make_record(session, platform)
    target = Target(record.id)
    if not rich:
        return target
    author = make_professional(session, platform, family_name="Autor",
                               organisation=make_organisation(session, platform, name="Cabinet Autor"))
    holder = as_holder(session, platform, record)
    holder.add_to_circle(record.id, author.id)
    writes = as_professional(session, platform, author)
    target.visible = writes.deposit(record.id, professional_draft(title="Bilan visible"), [PDF]).id
    target.hidden = writes.deposit(record.id, professional_draft(title="Bilan caché"), [PDF]).id
    holder.hide(target.hidden)
    target.withdrawn = writes.deposit(record.id, professional_draft(title="Bilan retiré"), [PDF]).id
    writes.withdraw(target.withdrawn)
    biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                  family_name="Biolo",
                                  organisation=make_organisation(session, platform, OrganisationKind.laboratory))
    target.structured = _lab_report(session, platform, biologist.id, record.id)
    target.imaging, target.discharge = _reports(session, platform, record)
    return target


def _reports(session: Session, platform: Platform, record: Record) -> tuple[uuid.UUID, uuid.UUID]:
    """An imaging report by a radiologist and a discharge report by a hospital physician, both of the circle."""
    import json

    from opendsp.documents.services import DocumentDraft
    from opendsp.documents.types import FHIR_MEDIA_TYPE
    from tests.fhir.test_imaging_and_discharge import discharge_bundle, imaging_bundle

    radiologist = make_professional(session, platform, specialties=("radiology",), family_name="Kremer")
    physician = make_professional(session, platform, specialties=("internal_medicine",), family_name="Schmit",
                                  organisation=make_organisation(session, platform, OrganisationKind.hospital))
    holder = as_holder(session, platform, record)
    ids = []
    for author, kind, title, bundle in ((radiologist, DocumentType.imaging_report, "Radiographie", imaging_bundle()),
                                        (physician, DocumentType.discharge_letter, "Lettre de sortie",
                                         discharge_bundle())):
        holder.add_to_circle(record.id, author.id)
        draft = DocumentDraft(type=kind, title=title, care_date=platform.clock.now().date(),
                              media_type=FHIR_MEDIA_TYPE)
        content = json.dumps(bundle).encode()
        ids.append(as_professional(session, platform, author).deposit(record.id, draft, [content]).id)
    return ids[0], ids[1]


# -- kinds of professional caller: how each stands to both records ------------------------------------

Setup = Callable[[Session, Platform, Record, Professional], None]


def _no_relation(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
    return None


def _blocked(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
    holder = as_holder(session, platform, record)
    holder.add_to_circle(record.id, pro.id)  # a block wins over the circle
    holder.block(record.id, pro.id)


def _expired_code(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
    now = platform.clock.now()
    session.add(PresenceGrant(record_id=record.id, professional_id=pro.id, organisation_id=pro.organisations[0].id,
                              opened_at=now - timedelta(hours=25), expires_at=now - timedelta(hours=1)))
    session.flush()


def _stay_elsewhere(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
    """The patient lies in another hospital than the one the professional acts for."""
    elsewhere = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Ailleurs")
    apply_report(session=session, platform=platform, hospital=elsewhere, software="HIS", report=StayReport(
        event=StayEvent.admit, national_number=record.holder.national_number, visit_number=uuid.uuid4().hex[:8],
        occurred_at=platform.clock.now(), patient_class=PatientClass.inpatient))


def _closed(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
    holder = as_holder(session, platform, record)
    holder.add_to_circle(record.id, pro.id)
    holder.close(record.id)


@dataclass(frozen=True)
class Caller:
    name: str
    setup: Setup
    organisation: OrganisationKind = OrganisationKind.practice


PRO_CALLERS = [
    Caller("no relation", _no_relation),
    Caller("blocked (though in the circle)", _blocked),
    Caller("expired presence code", _expired_code),
    Caller("other hospital (the stay is elsewhere)", _stay_elsewhere, OrganisationKind.hospital),
    Caller("closed record (though in the circle)", _closed),
]

# -- the professional portal's routes ---------------------------------------------------------------

Route = Callable[[Browser, uuid.UUID, uuid.UUID], Any]


def _post(browser: Browser, path: str, data: dict[str, str], files: dict[str, Any] | None = None) -> Any:
    browser.get("/account")  # a page with the browser's CSRF token
    return browser.client.post(path, data={**data, "csrf_token": browser.csrf()}, files=files)


DOCUMENT_ROUTES: dict[str, Route] = {
    "document page": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}"),
    "content URL": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}/content"),
    "content URL, download": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}/content?download=true"),
    "replace form": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}/replace"),
    "replace form, posted with an error": lambda b, r, d: _post(
        b, f"/pro/patients/{r}/documents/{d}/replace", {"title": "", "care_date": "2025-03-01"}),
    "replace form, posted": lambda b, r, d: _post(
        b, f"/pro/patients/{r}/documents/{d}/replace", {"title": "Nouveau", "care_date": "2025-03-01",
                                                      "confidentiality": "normal"},
        files={"file": ("new.pdf", PDF, "application/pdf")}),
    "withdraw form, posted": lambda b, r, d: _post(b, f"/pro/patients/{r}/documents/{d}/withdraw", {"reason": "x"}),
    "page after a deposit": lambda b, r, d: b.get(f"/pro/patients/{r}/deposited/{d}"),
}
# Pages that never read the document they name: to a caller who may deposit, the same receipt for any id.
NOT_READING_THE_DOCUMENT = {"page after a deposit"}
RECORD_ROUTES: dict[str, Callable[[Browser, uuid.UUID], Any]] = {
    "record page": lambda b, r: b.get(f"/pro/patients/{r}"),
    "summary": lambda b, r: b.get(f"/pro/patients/{r}/summary"),
    "timeline": lambda b, r: b.get(f"/pro/patients/{r}/timeline"),
    "keyword search": lambda b, r: _post(b, f"/pro/patients/{r}", {"q": "bilan"}),
    "author filter": lambda b, r: _post(b, f"/pro/patients/{r}", {"author": "Weber"}),
    "filtered list": lambda b, r: b.get(f"/pro/patients/{r}?type=consultation_report&since=2025-01-01"),
    "medication list": lambda b, r: b.get(f"/pro/patients/{r}/medications"),
    "deposit form (PDF)": lambda b, r: b.get(f"/pro/patients/{r}/deposit"),
    **{f"deposit form ({form})": (lambda form: lambda b, r: b.get(f"/pro/patients/{r}/deposit/{form}"))(form)
       for form in ("laboratory", "summary", "prescription", "dispensation", "imaging", "discharge", "vaccination")},
    "deposit (PDF), posted": lambda b, r: _post(
        b, f"/pro/patients/{r}/deposit", {"title": "Nouveau", "type": "consultation_report",
                                          "care_date": "2025-03-01", "confidentiality": "normal"},
        files={"file": ("new.pdf", PDF, "application/pdf")}),
    **{f"deposit ({form}), posted": (lambda form: lambda b, r: _post(
        b, f"/pro/patients/{r}/deposit/{form}", {"title": "Nouveau", "care_date": "2025-03-01"}))(form)
       for form in ("laboratory", "summary", "prescription", "dispensation", "imaging", "discharge", "vaccination")},
    "presence code (a wrong one), posted": lambda b, r: _post(b, f"/pro/patients/{r}/presence-code",
                                                              {"code": "AAAA-AAAA"}),
    # Last: were it to open an access, the routes above would not have been asked under it.
    "emergency access, posted": lambda b, r: _post(b, f"/pro/patients/{r}/emergency", {"reason": "Inconscient"}),
}


def _world(platform: Platform, clock: FrozenClock, caller: Caller) -> tuple[Browser, Target, Target]:
    pro = professional_with_account(platform, clock, kind=caller.organisation, name="Organisation du testeur")
    with platform.transaction() as session:
        rich, twin = _record(session, platform, rich=True), _record(session, platform, rich=False)
        professional = session.get(Professional, pro.id)
        assert professional is not None
        for target in (rich, twin):
            record = session.get(Record, target.record_id)
            assert record is not None
            caller.setup(session, platform, record, professional)
    return pro.browser, rich, twin


def _unreachable(rich: Target) -> dict[str, uuid.UUID]:
    assert rich.visible and rich.hidden and rich.withdrawn and rich.structured and rich.imaging and rich.discharge
    return {"a document the circle sees": rich.visible, "a hidden document": rich.hidden,
            "a withdrawn document": rich.withdrawn, "a laboratory report": rich.structured,
            "an imaging report": rich.imaging, "a discharge report": rich.discharge}


@pytest.mark.parametrize("caller", PRO_CALLERS, ids=lambda c: c.name)
def test_every_professional_route_answers_as_for_unknown(platform: Platform, clock: FrozenClock,
                                                         caller: Caller) -> None:
    browser, rich, twin = _world(platform, clock, caller)
    differences: list[str] = []
    for route, ask in DOCUMENT_ROUTES.items():
        unknown = answer(ask(browser, rich.record_id, uuid.uuid4()))
        assert unknown.status in (403, 404), (route, unknown.status)
        for what, document_id in _unreachable(rich).items():
            if answer(ask(browser, rich.record_id, document_id)) != unknown:
                differences.append(f"{route}: {what}")
            # The same document asked for under the twin record's address.
            if answer(ask(browser, twin.record_id, document_id)) != answer(ask(browser, twin.record_id, uuid.uuid4())):
                differences.append(f"{route}: {what}, under another record")
    for route, ask_record in RECORD_ROUTES.items():
        if answer(ask_record(browser, rich.record_id)) != answer(ask_record(browser, twin.record_id)):
            differences.append(f"{route}: a record with documents and one without")
    assert differences == [], f"{caller.name} tells these apart from unknown: {differences}"
    _nothing_changed(platform, rich)


def _nothing_changed(platform: Platform, rich: Target) -> None:
    with platform.sessions() as session:
        visible = session.get(Document, rich.visible)
        assert visible is not None and visible.status.value == "current"
        assert session.query(Document).filter(Document.record_id == rich.record_id).count() == 6


def test_a_circle_member_cannot_tell_a_hidden_or_foreign_document_from_an_unknown_one(
        platform: Platform, clock: FrozenClock) -> None:
    """With access to the record, what the holder hid, what its author withdrew, and another record's
    documents still do not exist for the caller, on every document route."""
    def in_circle(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
        as_holder(session, platform, record).add_to_circle(record.id, pro.id)

    browser, rich, _ = _world(platform, clock, Caller("circle member", in_circle))
    with platform.transaction() as session:
        foreign = _record(session, platform, rich=True)  # the caller has no relation to it
    assert rich.hidden and rich.withdrawn and foreign.visible and foreign.hidden
    assert foreign.imaging and foreign.discharge
    unreachable = {"hidden": rich.hidden, "withdrawn by its author": rich.withdrawn,
                   "of another record": foreign.visible, "hidden, of another record": foreign.hidden,
                   "an imaging report of another record": foreign.imaging,
                   "a discharge report of another record": foreign.discharge}
    differences = []
    for route, ask in DOCUMENT_ROUTES.items():
        unknown = answer(ask(browser, rich.record_id, uuid.uuid4()))
        assert unknown.status == (200 if route in NOT_READING_THE_DOCUMENT else 404), route
        differences += [f"{route}: {what}" for what, document_id in unreachable.items()
                        if answer(ask(browser, rich.record_id, document_id)) != unknown]
    assert differences == []
    assert browser.get(f"/pro/patients/{rich.record_id}/documents/{rich.visible}").status_code == 200


def test_the_replace_form_shows_nothing_of_a_document_before_the_policy_permits_it(
        platform: Platform, clock: FrozenClock) -> None:
    """Regression: the form loaded the old document with no decision and showed its title on a form error."""
    def in_circle(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
        as_holder(session, platform, record).add_to_circle(record.id, pro.id)

    browser, rich, _ = _world(platform, clock, Caller("circle member", in_circle))
    for route in ("replace form", "replace form, posted with an error"):
        response = DOCUMENT_ROUTES[route](browser, rich.record_id, rich.hidden)  # type: ignore[arg-type]
        assert response.status_code == 404 and "Bilan caché" not in response.text, route
    # Someone else's visible document: the policy's reason, never the form.
    response = DOCUMENT_ROUTES["replace form, posted with an error"](browser, rich.record_id, rich.visible)  # type: ignore[arg-type]
    assert response.status_code == 403 and "Only the author may replace" in response.text
    from tests.web.professional import trace

    with platform.sessions() as session:
        record = session.get(Record, rich.record_id)
    replaces = [(outcome, reason) for action, outcome, reason, _ in trace(platform, record)
                if action == "document.replace"]
    assert replaces == [("refused", "not_found"), ("refused", "not_found"), ("refused", "not_author")]


# -- the holder's portal ------------------------------------------------------------------------------

HOLDER_DOCUMENT_ROUTES: dict[str, Callable[[Browser, uuid.UUID], Any]] = {
    "document page": lambda b, d: b.get(f"/record/documents/{d}"),
    "content URL": lambda b, d: b.get(f"/record/documents/{d}/content"),
    "withdraw form": lambda b, d: b.get(f"/record/documents/{d}/withdraw"),
    "withdraw form, posted": lambda b, d: _post(b, f"/record/documents/{d}/withdraw", {"confirm": "yes"}),
    "hide, posted": lambda b, d: _post(b, f"/record/hidden/{d}/hide", {}),
    "show again, posted": lambda b, d: _post(b, f"/record/hidden/{d}/unhide", {}),
    "readers page": lambda b, d: b.get(f"/record/documents/{d}/readers"),
    "readers, posted": lambda b, d: _post(b, f"/record/documents/{d}/readers", {"level": "normal"}),
}
HOLDER_RECORD_ROUTES: dict[str, Callable[[Browser], Any]] = {
    "home": lambda b: b.get("/record"),
    "documents": lambda b: b.get("/record/documents"),
    "keyword search": lambda b: b.get("/record/search?q=bilan"),
    "timeline": lambda b: b.get("/record/timeline"),
    "trace": lambda b: b.get("/record/trace"),
    "export": lambda b: b.get("/record/export"),
    "export, posted": lambda b: _post(b, "/record/export", {}),
    "keyword search, posted": lambda b: _post(b, "/record/search", {"q": "bilan"}),
    "filtered documents, posted": lambda b: _post(b, "/record/documents", {"type": "laboratory_report"}),
    "vaccination record": lambda b: b.get("/record/vaccinations"),
    "vaccination record, PDF": lambda b: b.get("/record/vaccinations.pdf"),
    "medication list": lambda b: b.get("/record/medications"),
    "trace, CSV": lambda b: b.get("/record/trace.csv"),
    "trace, PDF": lambda b: b.get("/record/trace.pdf"),
    "trace, signed extract": lambda b: b.get("/record/trace.signed.json"),
    "notifications": lambda b: b.get("/record/notifications"),
    "notifications read, posted": lambda b: _post(b, "/record/notifications/read", {}),
    "hidden documents": lambda b: b.get("/record/hidden"),
    "professionals and who has access now": lambda b: b.get("/record/professionals"),
    "consents and wishes": lambda b: b.get("/record/consents"),
    "upload form": lambda b: b.get("/record/upload"),
    "assistants": lambda b: b.get("/record/assistants"),
    "passwords": lambda b: b.get("/record/passwords"),
    "record state": lambda b: b.get("/record/state"),
    **{f"{path}, posted": (lambda path: lambda b: _post(b, path, {"confirm": "yes"}))(path) for path in (
        "/record/professionals", "/record/professionals/circle",
        f"/record/professionals/circle/{uuid.uuid4()}/remove", "/record/professionals/referring-doctor",
        "/record/professionals/emergency", "/record/professionals/blocked",
        f"/record/professionals/blocked/{uuid.uuid4()}/remove", "/record/professionals/institutions",
        "/record/professionals/institutions/refused",
        f"/record/professionals/institutions/refused/{uuid.uuid4()}/remove",
        f"/record/professionals/accesses/{uuid.uuid4()}/end", "/record/consents", "/record/assistants",
        "/record/assistants/invite", f"/record/assistants/invitations/{uuid.uuid4()}/withdraw",
        f"/record/assistants/{uuid.uuid4()}/until", f"/record/assistants/{uuid.uuid4()}/end",
        "/record/passwords/presence-code", "/record/state/close", "/record/state/reopen",
        "/record/state/close/confirm", "/record/state/reopen/confirm")},
    "upload, posted": lambda b: _post(b, "/record/upload", {"title": "Mon document", "care_date": "2025-03-01"},
                                      files={"file": ("mine.pdf", PDF, "application/pdf")}),
    "declare a vaccination": lambda b: b.get("/record/vaccinations/declare"),
    "declare a vaccination, posted": lambda b: _post(b, "/record/vaccinations/declare",
                                                     {"vaccine": "140", "given": "2024-10-15"}),

}


def _assistant_whose_right_ended(platform: Platform, clock: FrozenClock, target: Target) -> Browser:
    with platform.transaction() as session:
        record = session.get(Record, target.record_id)
        assert record is not None
        assistant = make_record(session, platform, active=False).holder
        as_holder(session, platform, record).designate_assistant(record.id, assistant.id)
        holder_id = record.person_id
    browser = logged_in(platform, clock, assistant)
    assert browser.submit("/account/act-for", {"person": str(holder_id)}, form_page="/account").status_code == 303
    with platform.transaction() as session:
        record = session.get(Record, target.record_id)
        assert record is not None
        as_holder(session, platform, record).end_assistant(record.id, assistant.id)
    return browser


def test_an_assistant_whose_right_ended_learns_nothing_on_any_route(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        rich, twin = _record(session, platform, rich=True), _record(session, platform, rich=False)
    on_rich, on_twin = (_assistant_whose_right_ended(platform, clock, t) for t in (rich, twin))
    differences = []
    for route, ask in HOLDER_DOCUMENT_ROUTES.items():
        unknown = answer(ask(on_rich, uuid.uuid4()))
        assert unknown.status == 403, route  # the delegation ended: the same refusal on every page
        differences += [f"{route}: {what}" for what, document_id in _unreachable(rich).items()
                        if answer(ask(on_rich, document_id)) != unknown]
    for route, ask_record in HOLDER_RECORD_ROUTES.items():
        if answer(ask_record(on_rich)) != answer(ask_record(on_twin)):
            differences.append(f"{route}: a record with documents and one without")
    assert differences == []


def test_a_holder_cannot_tell_another_holder_s_document_from_an_unknown_one(platform: Platform,
                                                                          clock: FrozenClock) -> None:
    with platform.transaction() as session:
        other = _record(session, platform, rich=True)
        own = make_record(session, platform)
        person = own.holder
    browser = logged_in(platform, clock, person)
    differences = []
    for route, ask in HOLDER_DOCUMENT_ROUTES.items():
        unknown = answer(ask(browser, uuid.uuid4()))
        assert unknown.status == 404, route
        differences += [f"{route}: {what}" for what, document_id in _unreachable(other).items()
                        if answer(ask(browser, document_id)) != unknown]
    assert differences == []


# -- a property over random settings -------------------------------------------------------------------

RELATIONS = ["none", "circle", "referring doctor", "presence code", "expired presence code", "blocked",
             "closed record"]
PAGES = ["document page", "content URL", "replace form", "replace form, posted with an error",
         "withdraw form, posted"]


@examples(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(relation=st.sampled_from(RELATIONS), page=st.sampled_from(PAGES),
       kind=st.sampled_from([DocumentType.consultation_report, DocumentType.laboratory_report,
                             DocumentType.imaging_report, DocumentType.personal_document]),
       level=st.sampled_from(ConfidentialityLevel), hidden=st.booleans(), own=st.booleans(),
       withdrawn=st.booleans())
def test_a_document_the_caller_may_not_reach_answers_like_a_random_unknown_id(
        platform: Platform, clock: FrozenClock, relation: str, page: str, kind: DocumentType,
        level: ConfidentialityLevel, hidden: bool, own: bool, withdrawn: bool) -> None:
    pro = _property_caller(platform, clock)
    with platform.transaction() as session:
        record = make_record(session, platform)
        professional = session.get(Professional, pro[0])
        assert professional is not None
        document = _document(session, platform, record, professional, kind=kind, level=level, own=own)
        holder = as_holder(session, platform, record)
        if withdrawn:
            document.status = DocumentStatus.withdrawn
        if hidden:
            holder.hide(document.id)
        _relate(session, platform, record, professional, relation)
        access = as_professional(session, platform, professional)
        # Out of reach: the caller may not read it (a document they read, e.g. someone else's, may say
        # "only the author may replace it" on the replace form: that is no oracle).
        reachable = decide(access._request(Action.consult_document, record, document), platform.matrix).permitted
        record_id, document_id = record.id, document.id
    if reachable:
        return  # nothing to compare with "unknown"
    browser = pro[1]
    ask = DOCUMENT_ROUTES[page]
    assert answer(ask(browser, record_id, document_id)) == answer(ask(browser, record_id, uuid.uuid4()))


_CALLERS: dict[str, tuple[uuid.UUID, Browser]] = {}


def _property_caller(platform: Platform, clock: FrozenClock) -> tuple[uuid.UUID, Browser]:
    """One GP with an account for every example of one run (the platform is the test's)."""
    key = str(platform.settings.database_url)
    if key not in _CALLERS:
        pro = professional_with_account(platform, clock)
        _CALLERS.clear()
        _CALLERS[key] = (pro.id, pro.browser)
    return _CALLERS[key]


def _document(session: Session, platform: Platform, record: Record, caller: Professional, *, kind: DocumentType,
              level: ConfidentialityLevel, own: bool) -> Document:
    """A document written straight into the record (any type, any author: the settings are random)."""
    author = caller if own else make_professional(session, platform, family_name="Autre")
    stored = platform.content.put(session, record.id, [PDF])
    document = Document(
        id=uuid.uuid4(), record_id=record.id, type=kind, title="Titre secret", author_professional_id=author.id,
        care_date=platform.clock.now().date(), deposited_at=platform.clock.now(), confidentiality=level,
        media_type="application/pdf", size=stored.size, sha256=stored.sha256, content_kind=ContentKind.binary,
        content_key=stored.key,
    )
    session.add(document)
    session.add(DocumentDirectory(document_id=document.id, record_id=record.id))  # as every deposit writes it
    session.flush()
    return document


def _relate(session: Session, platform: Platform, record: Record, pro: Professional, relation: str) -> None:
    holder = as_holder(session, platform, record)
    match relation:
        case "circle":
            holder.add_to_circle(record.id, pro.id)
        case "referring doctor":
            holder.set_referring_doctor(record.id, pro.id)
        case "presence code":
            code = holder.regenerate_presence_code(record.id)
            as_professional(session, platform, pro).open_with_presence_code(record.id, code)
        case "expired presence code":
            _expired_code(session, platform, record, pro)
        case "blocked":
            _blocked(session, platform, record, pro)
        case "closed record":
            _closed(session, platform, record, pro)


def test_the_unknown_answer_is_one_page(platform: Platform, clock: FrozenClock) -> None:
    """The comparison itself can fail: a document the caller reads does not answer like an unknown id."""
    def in_circle(session: Session, platform: Platform, record: Record, pro: Professional) -> None:
        as_holder(session, platform, record).add_to_circle(record.id, pro.id)

    browser, rich, _ = _world(platform, clock, Caller("circle member", in_circle))
    page: Answer = answer(DOCUMENT_ROUTES["document page"](browser, rich.record_id, rich.visible))  # type: ignore[arg-type]
    assert page != answer(DOCUMENT_ROUTES["document page"](browser, rich.record_id, uuid.uuid4()))


# -- every route of the portals is attacked above, or says why it is not ---------------------------------

# Routes that name no record and serve nothing of one, each group with its reason (and where it is tested).
NOT_A_RECORD_ROUTE: dict[str, set[str]] = {
    "logging in, activating an account, the caller's own account, language, step-up and unlock: identity only": {
        "POST /language", "GET /login", "POST /login", "GET /login/code", "POST /login/code", "POST /logout",
        "POST /logout/everywhere", "GET /activate", "POST /activate", "GET /activate/account",
        "POST /activate/account", "GET /pro/activate", "POST /pro/activate", "GET /pro/activate/account",
        "POST /pro/activate/account", "GET /login/federated", "GET /login/federated/callback",
        "GET /activate/federated", "POST /activate/federated", "GET /account", "POST /account/organisation",
        "GET /account/notifications", "POST /account/notifications", "GET /stepup", "POST /stepup", "GET /unlock",
        "POST /unlock", "GET /"},
    "choosing whose record to act for: the records offered are the policy's (tests/accounts/test_acting_for.py)": {
        "POST /account/act-for"},
    "an assistant's invitation: a token, not a record (tests/accounts/test_invitations.py)": {
        "GET /invitations/{token}", "POST /invitations/{token}"},
    "published figures: counts over the population, never one record's (ADR 36)": {
        "GET /statistics", "GET /statistics/{name}.csv", "GET /console/statistics"},
    "the agency's console: identity and accounts, never clinical data (the one-door contract)": {
        "GET /console/login", "POST /console/login", "GET /console/login/code", "POST /console/login/code",
        "GET /console/activate", "POST /console/activate", "GET /console/activate/account",
        "POST /console/activate/account", "GET /console", "POST /console", "GET /console/persons/{person_id}",
        "POST /console/persons/{person_id}/letter", "POST /console/accounts/{account_id}/unlock",
        "POST /console/accounts/{account_id}/reset-second-factor", "GET /console/professionals/new",
        "POST /console/professionals/new", "GET /console/organisations/new", "POST /console/organisations/new",
        "GET /console/professionals/{professional_id}"},
    "a professional's home (\"my patients\", the policy's SQL form: tests/access/test_patients_property.py) "
    "and finding a patient (ADR 12's answer: tests/web/test_find_patient.py)": {
        "GET /pro", "GET /pro/find", "POST /pro/find"},
    "SMART authorisation and tokens (tests/clients/)": {"POST /auth/token", "GET /auth/authorize",
                                                        "POST /auth/authorize"},
    "public documents: health, the trace checkpoints' key, the schema, the icon": {
        "GET /healthz", "GET /healthz/live", "GET /healthz/ready", "GET /.well-known/opendsp/trace-checkpoint-key.pem",
        "GET /.well-known/opendsp/trace-checkpoint-key", "GET /.well-known/opendsp/trace-checkpoint-key.jwk",
        "GET /openapi.json", "GET /favicon.ico"},
}


class _Recorder:
    """Stands for a browser: notes which requests a table's entry makes, and answers nothing."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.client = self

    def get(self, path: str, **_: Any) -> None:
        self.asked.append(("GET", path.split("?", 1)[0]))

    def post(self, path: str, **_: Any) -> None:
        self.asked.append(("POST", path.split("?", 1)[0]))

    def csrf(self) -> str:
        return "token"


def _portal_routes(platform: Platform) -> list[Any]:
    from starlette.routing import Mount

    from opendsp.web.app import create_app
    from tests.fhir.test_routes import routes_of

    return [route for route in routes_of(create_app(platform=platform).routes)
            if not isinstance(route, Mount) and getattr(route, "methods", None) and not route.path.startswith("/fhir")]


def _attacked(routes: list[Any]) -> set[str]:
    """The routes the tables above ask, found as the application would route their requests."""
    from starlette.routing import Match

    recorder, record, document = _Recorder(), uuid.uuid4(), uuid.uuid4()
    for ask in DOCUMENT_ROUTES.values():
        ask(recorder, record, document)  # type: ignore[arg-type]
    for ask_record in RECORD_ROUTES.values():
        ask_record(recorder, record)  # type: ignore[arg-type]
    for ask_holder in HOLDER_DOCUMENT_ROUTES.values():
        ask_holder(recorder, document)  # type: ignore[arg-type]
    for ask_own in HOLDER_RECORD_ROUTES.values():
        ask_own(recorder)  # type: ignore[arg-type]
    attacked = set()
    for method, path in recorder.asked:
        if path == "/account":
            continue  # the page a form's token is taken from
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        matched = [route for route in routes if route.matches(scope)[0] is Match.FULL]
        assert matched, f"{method} {path}: a table asks for a route the portal does not have"
        attacked |= {f"{method} {route.path}" for route in matched[:1]}
    return attacked


def test_every_portal_route_is_in_the_attack_tables_or_says_why_not(platform: Platform) -> None:
    """A new page, form or download naming a record or a document fails here until it is in a table above
    (asked by every kind of caller) or, naming none, in ``NOT_A_RECORD_ROUTE`` with its reason."""
    routes = _portal_routes(platform)
    existing = {f"{method} {route.path}" for route in routes for method in route.methods if method != "HEAD"}
    attacked = _attacked(routes)
    excused = set().union(*NOT_A_RECORD_ROUTE.values())
    assert sorted(existing - attacked - excused) == [], "routes neither attacked nor excused"
    assert sorted(excused - existing) == [], "excused routes that no longer exist"
    assert sorted(attacked & excused) == [], "a route both attacked and excused"
    assert {"GET /pro/patients/{record_id}/medications", "GET /record/vaccinations.pdf",
            "GET /record/documents/{document_id}/readers"} <= attacked
