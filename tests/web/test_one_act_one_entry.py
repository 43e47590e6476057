"""One act, one trace entry: a document page, a chart, the summary and a search each leave exactly one entry,
and a search keeps its criteria without its words (ADR 10)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import ANALYTES
from opendsp.demo.fhir import AuthorInfo, Ids, LabResult, PatientInfo, laboratory_report
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import (
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    professional_draft,
    run_jobs,
)
from tests.web.professional import professional_with_account, real_pdf, record_with_code


def _entries(platform: Platform, record: Record, after: int) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(TraceEntry.record_id == record.id,
                                                             TraceEntry.id > after).order_by(TraceEntry.id)))


def _last_id(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(TraceEntry.id).order_by(TraceEntry.id.desc()).limit(1)) or 0


def _lab_reports(platform: Platform, record: Record, values: list[tuple[date, float]]) -> list:  # type: ignore[type-arg]
    with platform.transaction() as session:
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        ids = []
        for day, value in values:
            bundle = laboratory_report(
                Ids(random.Random(day.toordinal())), patient=PatientInfo("1980010112345", "Schmit", "Anne", "female",
                                                                        date(1980, 5, 17)),
                author=AuthorInfo("L1", "Biolo", "Dr", "ORG1", "Labo"), day=day, language="fr", title="Hémogramme",
                results=[LabResult(ANALYTES["haemoglobin"], value, 12.0, 16.0, "N")])
            draft = DocumentDraft(type=DocumentType.laboratory_report, title="Hémogramme", care_date=day,
                                  media_type=FHIR_MEDIA_TYPE)
            ids.append(as_professional(session, platform, biologist).deposit(
                record.id, draft, [json.dumps(bundle).encode()]).id)
    return ids


def test_a_professional_reads_a_structured_page_in_two_entries_not_thirty(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    """Regression: one structured document page wrote list, list, consult, list and one consult per chart source."""
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
    reports = _lab_reports(platform, record, [(date(2025, 1, d), 12.0 + d / 10) for d in range(1, 8)])
    before = _last_id(platform)
    page = pro.browser.get(f"/pro/patients/{record.id}/documents/{reports[-1]}")
    assert page.status_code == 200 and page.text.count("<circle") == 7
    entries = _entries(platform, record, before)
    assert [(e.action, e.document_id, e.context.get("part"), e.context.get("purpose")) for e in entries] == [
        ("document.consult", reports[-1], "page", None), ("document.consult", None, None, "chart")]
    assert sorted(entries[1].context["documents"]) == sorted(str(r) for r in reports[:-1])

    before = _last_id(platform)
    summary = pro.browser.get(f"/pro/patients/{record.id}/summary")
    assert summary.status_code == 200
    (entry,) = _entries(platform, record, before)
    assert entry.action == "document.consult" and entry.context["purpose"] == "summary"
    assert len(entry.context["documents"]) == len(reports) and entry.basis == "circle"


def test_a_search_keeps_its_criteria_in_the_trace_but_never_its_words(platform: Platform,
                                                                      clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
        author = session.get(Professional, pro.id)
        as_professional(session, platform, author).deposit(
            record.id, professional_draft(DocumentType.consultation_report, "Échographie abdominale"),
            [real_pdf("Echographie abdominale")])
    run_jobs(platform)
    pro.browser.get(f"/pro/patients/{record.id}")  # the form (its own act), then the search: one act more
    before = _last_id(platform)
    found = pro.browser.submit(f"/pro/patients/{record.id}", {"q": "echographie abdominale",
                                                              "type": "consultation_report", "author": "Weber",
                                                              "since": "2025-01-01"})
    assert found.status_code == 200 and "Documents found: 1" in found.text
    (entry,) = _entries(platform, record, before)
    assert entry.action == "documents.list"
    assert entry.context["criteria"] == {"keyword_terms": 2, "types": ["consultation_report"],
                                         "filters": ["author", "since"]}
    stored = json.dumps(entry.context).lower()
    assert "echographie" not in stored and "abdominale" not in stored and "weber" not in stored


def test_the_holder_s_list_of_documents_with_their_versions_is_one_entry(platform: Platform,
                                                                         clock: FrozenClock) -> None:
    from tests.factories import make_record
    from tests.web.holder_world import logged_in

    with platform.transaction() as session:
        record = make_record(session, platform)
        doctor = make_professional(session, platform, organisation=make_organisation(session, platform))
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        writes = as_professional(session, platform, doctor)
        old = writes.deposit(record.id, professional_draft(title="Lettre"), [real_pdf()])
        new = writes.replace(old.id, professional_draft(title="Lettre corrigée"), [real_pdf()])
        person = record.holder
    browser = logged_in(platform, clock, person)
    before = _last_id(platform)
    page = browser.get("/record/documents")
    assert page.status_code == 200 and f'href="/record/documents/{old.id}"' in page.text
    assert f'href="/record/documents/{new.id}"' in page.text
    assert [e.action for e in _entries(platform, record, before)] == ["documents.list"]


def test_the_holder_reads_a_chart_s_sources_in_the_trace_as_one_act(platform: Platform, clock: FrozenClock) -> None:
    from tests.web.holder_world import logged_in

    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
        person = session.merge(record).holder
    reports = _lab_reports(platform, record, [(date(2025, 1, 1), 12.5), (date(2025, 2, 1), 13.5)])
    assert pro.browser.get(f"/pro/patients/{record.id}/documents/{reports[-1]}").status_code == 200
    holder = logged_in(platform, clock, person)
    page = holder.get("/record/trace?who=professionals").text
    assert "Consulted documents for a chart of results" in page and page.count("Hémogramme") >= 2


def test_a_timeline_of_documents_and_stays_is_one_entry(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
    before = _last_id(platform)
    assert pro.browser.get(f"/pro/patients/{record.id}/timeline").status_code == 200
    assert [(e.action, e.context.get("part")) for e in _entries(platform, record, before)] == [
        ("documents.list", "timeline")]


def test_hiding_and_showing_a_document_again_is_one_entry_each(platform: Platform, clock: FrozenClock) -> None:
    """Regression: hiding a document wrote a list of documents, then the change (two entries for one act)."""
    from dataclasses import replace
    from datetime import timedelta

    from opendsp.documents.models import Document
    from tests.factories import make_record
    from tests.web.holder_world import logged_in

    with platform.transaction() as session:
        record = make_record(session, platform)
        doctor = make_professional(session, platform, organisation=make_organisation(session, platform))
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        writes = as_professional(session, platform, doctor)
        letter = writes.deposit(record.id, professional_draft(title="Lettre"), [real_pdf()])
        delayed = writes.deposit(record.id, replace(professional_draft(title="Résultat"),
                                                    visible_to_holder_from=clock.now() + timedelta(days=3)), [real_pdf()])
        elsewhere = make_record(session, platform)
        as_holder(session, platform, elsewhere).add_to_circle(elsewhere.id, doctor.id)
        foreign = writes.deposit(elsewhere.id, professional_draft(title="Autre"), [real_pdf()])
        person = record.holder
    browser = logged_in(platform, clock, person)
    browser.get("/record/hidden")
    for change, done in (("hide", "hidden"), ("unhide", "shown")):
        before = _last_id(platform)
        response = browser.submit(f"/record/hidden/{letter.id}/{change}", {})
        assert response.status_code == 303 and response.headers["location"] == f"/record/hidden?done={done}"
        (entry,) = _entries(platform, record, before)
        assert (entry.action, entry.outcome.value, entry.document_id, entry.context["change"]) == (
            "access.manage", "permitted", letter.id, f"document.{change}")
        with platform.sessions() as session:
            assert (session.get(Document, letter.id).hidden_at is not None) is (change == "hide")
    # A result the holder's side does not see yet, another record's document and no document at all: not found,
    # one refused entry on the holder's record, nothing changed.
    for document_id in (delayed.id, foreign.id, uuid.UUID(int=1)):
        before = _last_id(platform)
        assert browser.submit(f"/record/hidden/{document_id}/hide", {}).status_code == 404
        (entry,) = _entries(platform, record, before)
        assert (entry.outcome.value, entry.reason) == ("refused", "not_found")
    with platform.sessions() as session:
        assert session.get(Document, delayed.id).hidden_at is None and session.get(Document, foreign.id).hidden_at is None



def test_a_pdf_shown_in_its_page_is_one_entry_and_a_download_another(platform: Platform, clock: FrozenClock) -> None:
    """The content fetched by the page's frame is a part of reading the page: the page's entry covers it. A download
    is an act of its own, and so is a content fetch that no page read precedes."""
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
        author = session.get(Professional, pro.id)
        writes = as_professional(session, platform, author)
        shown, unread = (writes.deposit(record.id, professional_draft(title=title), [real_pdf(title)]).id
                         for title in ("Lettre", "Compte rendu"))
    base = f"/pro/patients/{record.id}/documents"
    before = _last_id(platform)
    assert pro.browser.get(f"{base}/{shown}").status_code == 200
    framed = pro.browser.get(f"{base}/{shown}/content")
    assert framed.status_code == 200 and framed.content.startswith(b"%PDF")
    assert [(e.document_id, e.context["part"]) for e in _entries(platform, record, before)] == [(shown, "page")]

    before = _last_id(platform)
    assert pro.browser.get(f"{base}/{shown}/content?download=true").status_code == 200
    assert pro.browser.get(f"{base}/{unread}/content").status_code == 200
    assert [(e.document_id, e.context["part"]) for e in _entries(platform, record, before)] == [
        (shown, "content"), (unread, "content")]

    # Once the page's reading is old, the frame's fetch is traced again; and a refusal is always traced.
    clock.advance(timedelta(minutes=11))
    before = _last_id(platform)
    assert pro.browser.get(f"{base}/{shown}/content").status_code == 200
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).hide(shown)
    assert pro.browser.get(f"{base}/{shown}/content").status_code == 404
    assert [(e.outcome.value, e.context["part"]) for e in _entries(platform, record, before)
            if e.action == "document.consult"] == [("permitted", "content"), ("refused", "content")]


def test_the_emergency_banner_is_part_of_the_page_s_act(platform: Platform, clock: FrozenClock) -> None:
    """The banner's end of the emergency access is read under the page's permit: no decision or entry of its own."""
    pro = professional_with_account(platform, clock, kind=OrganisationKind.emergency_department, name="Urgences",
                                    specialties=())
    record, _ = record_with_code(platform)
    until = (clock.now() + platform.matrix.parameters.emergency_access).astimezone(ZoneInfo("Europe/Luxembourg"))
    opened = pro.browser.submit(f"/pro/patients/{record.id}/emergency", {"reason": "Unconscious"},
                                form_page=f"/pro/patients/{record.id}")
    assert opened.status_code == 303
    before = _last_id(platform)
    page = pro.browser.get(f"/pro/patients/{record.id}")
    assert page.status_code == 200 and 'id="emergency-banner"' in page.text
    assert until.strftime("%d/%m/%Y %H:%M") in page.text  # the end of the emergency access
    assert [(e.action, e.basis, e.context.get("emergency")) for e in _entries(platform, record, before)] == [
        ("documents.list", "emergency", True)]


# -- the pages added since: each opening is one act, one entry on the record's trace -----------------------

HOLDER_PAGES = {
    "medication list": lambda ids: "/record/medications",
    "vaccination record": lambda ids: "/record/vaccinations",
    "vaccination record, PDF": lambda ids: "/record/vaccinations.pdf",
    "imaging report": lambda ids: f"/record/documents/{ids['imaging']}",
    "discharge report": lambda ids: f"/record/documents/{ids['discharge']}",
    "a document's readers": lambda ids: f"/record/documents/{ids['letter']}/readers",
    "professionals and who has access now": lambda ids: "/record/professionals",
    "consents and wishes": lambda ids: "/record/consents",
}
PROFESSIONAL_PAGES = {
    "medication list": lambda ids: f"/pro/patients/{ids['record']}/medications",
    "imaging report": lambda ids: f"/pro/patients/{ids['record']}/documents/{ids['imaging']}",
    "discharge report": lambda ids: f"/pro/patients/{ids['record']}/documents/{ids['discharge']}",
    "summary": lambda ids: f"/pro/patients/{ids['record']}/summary",
}


def test_each_newer_page_is_one_act_and_one_entry(platform: Platform, clock: FrozenClock) -> None:
    """The medication list, the vaccination record (page and PDF), imaging and discharge reports, a document's
    readers and who has access now: opening one writes exactly one entry on the record's trace, for the holder's
    side as for a professional of the circle."""
    from tests.web.test_imaging_and_discharge_pages import deposit_reports
    from tests.web.test_vaccination_record import deposit_summary, record_with_doctor

    record, doctor, holder = record_with_doctor(platform, clock)
    deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("influenza", date(2024, 10, 15), "FLU-24"))
    imaging, discharge = deposit_reports(platform, record.id)
    pro = professional_with_account(platform, clock, family_name="Lecteur")
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, pro.id)
        letter = as_professional(session, platform, session.get(Professional, pro.id)).deposit(
            record.id, professional_draft(title="Lettre"), [real_pdf("Lettre")]).id
    ids = {"record": record.id, "imaging": imaging, "discharge": discharge, "letter": letter}
    counted = []
    for side, browser, pages in (("holder", holder, HOLDER_PAGES), ("professional", pro.browser, PROFESSIONAL_PAGES)):
        for name, path in pages.items():
            before = _last_id(platform)
            response = browser.get(path(ids))
            assert response.status_code == 200, (side, name, response.status_code)
            counted.append((side, name, [e.action for e in _entries(platform, record, before)]))
    assert [(side, name) for side, name, actions in counted if len(actions) != 1] == [], counted


def test_the_published_figures_are_about_no_record_and_write_no_entry(platform: Platform) -> None:
    """ADR 36: the statistics page and its CSV files read counts, decided for no record and traced nowhere."""
    from tests.accounts.portal import Browser

    visitor = Browser(platform)
    before = _last_id(platform)
    assert visitor.get("/statistics").status_code == 200
    assert visitor.get("/statistics/figures.csv").status_code == 200
    assert _last_id(platform) == before
