"""Reading a document in the holder's portal: PDFs in the page, laboratory reports as tables and charts."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from datetime import date

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import ANALYTES
from opendsp.demo.fhir import AuthorInfo, Ids, LabResult, PatientInfo, laboratory_report
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.web.indistinguishable import answer
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, holder_with_account, live, screens  # noqa: F401
from tests.factories import PDF, as_holder, as_professional, make_organisation, make_professional, professional_draft

PATIENT = PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1))
AUTHOR = AuthorInfo("L123", "Muller", "Jean", "ORG1", "Labo Est")


def lab_report(day: date, haemoglobin: float) -> bytes:
    results = [LabResult(ANALYTES["haemoglobin"], haemoglobin, 12.0, 16.0, "L" if haemoglobin < 12 else "N"),
               LabResult(ANALYTES["platelets"], 250, 150, 400, "N")]
    bundle = laboratory_report(Ids(random.Random(day.toordinal())), patient=PATIENT, author=AUTHOR, day=day,
                               language="en", title="Blood count", results=results)
    return json.dumps(bundle).encode()


def deposit_lab_reports(platform: Platform, record: Record, values: list[tuple[date, float]]) -> list[uuid.UUID]:
    with platform.transaction() as session:
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo Est")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        access = as_professional(session, platform, biologist)
        made = []
        for day, value in values:
            draft = replace(professional_draft(DocumentType.laboratory_report, f"Blood count {day}"),
                            care_date=day, media_type=FHIR_MEDIA_TYPE)
            made.append(access.deposit(record.id, draft, [lab_report(day, value)]).id)
        return made


def logged_in(platform: Platform, clock: FrozenClock) -> tuple[Browser, Record]:
    from tests.accounts.portal import activate, letter_for
    from tests.factories import make_record

    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
    browser = Browser(platform)
    activate(browser, clock, holder.national_number, letter_for(platform, holder).activation)
    return browser, record


def trace_actions(platform: Platform, record: Record) -> list[str]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry.action).where(TraceEntry.record_id == record.id)
                                    .order_by(TraceEntry.id)))


def test_a_laboratory_report_reads_as_a_table_with_a_chart_of_recurring_tests(platform: Platform,
                                                                            clock: FrozenClock) -> None:
    browser, record = logged_in(platform, clock)
    first, second, latest = deposit_lab_reports(
        platform, record, [(date(2025, 1, 10), 13.1), (date(2025, 2, 10), 12.2), (date(2025, 3, 10), 11.0)])
    page = browser.get(f"/record/documents/{latest}")
    assert page.status_code == 200
    html = browser.page
    assert 'class="lab-results"' in html and "out-of-range low" in html  # 11.0 is under 12.0
    assert html.count("<svg xmlns") == 2  # both tests recur in the three reports: one chart each (icons aside)
    assert html.count("<circle") == 6 and "Haemoglobin over time" in html
    assert all(day in html for day in ("10/01/2025", "10/02/2025", "10/03/2025"))
    # One act, one trace entry: the page is one reading; the chart reads its two sources under one more.
    with platform.sessions() as session:
        readings = session.scalars(select(TraceEntry).where(
            TraceEntry.record_id == record.id, TraceEntry.action == "document.consult").order_by(TraceEntry.id)).all()
        assert [(e.document_id, e.context.get("part"), e.context.get("purpose")) for e in readings] == [
            (latest, "page", None), (None, None, "chart")]
        assert sorted(readings[1].context["documents"]) == sorted([str(first), str(second)])


def test_a_pdf_is_shown_in_the_page_and_downloaded_as_deposited(platform: Platform, clock: FrozenClock) -> None:
    browser, record = logged_in(platform, clock)
    with platform.transaction() as session:
        practice = make_organisation(session, platform, OrganisationKind.practice, name="Cabinet Nord")
        doctor = make_professional(session, platform, organisation=practice)
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        document = as_professional(session, platform, doctor).deposit(
            record.id, professional_draft(DocumentType.consultation_report, "Consultation — février"), [PDF])
    before = len(trace_actions(platform, record))
    browser.get(f"/record/documents/{document.id}")
    assert f'<iframe class="opendsp-pdf" src="/record/documents/{document.id}/content"' in browser.page
    inline = browser.get(f"/record/documents/{document.id}/content")
    assert inline.status_code == 200 and inline.content == PDF
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"].startswith("inline;")
    assert "frame-ancestors 'self'" in inline.headers["content-security-policy"]
    download = browser.get(f"/record/documents/{document.id}/content?download=true")
    assert download.headers["content-disposition"] == 'attachment; filename="2025-03-01-Consultation-fevrier.pdf"'
    assert download.content == PDF
    # The page is one reading (one entry) that covers the content shown in it; the download is one more.
    assert trace_actions(platform, record)[before:] == ["document.consult", "document.consult"]


def test_versions_and_refusals(platform: Platform, clock: FrozenClock) -> None:
    browser, record = logged_in(platform, clock)
    with platform.transaction() as session:
        practice = make_organisation(session, platform, OrganisationKind.practice)
        doctor = make_professional(session, platform, organisation=practice)
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        access = as_professional(session, platform, doctor)
        old = access.deposit(record.id, professional_draft(title="Letter"), [PDF])
        new = access.replace(old.id, professional_draft(title="Letter, corrected"), [PDF])
    browser.get(f"/record/documents/{old.id}")
    assert "A newer version of this document exists." in browser.page
    assert f'href="/record/documents/{new.id}"' in browser.page
    browser.get(f"/record/documents/{new.id}")
    assert "version 2" in browser.page and f'href="/record/documents/{old.id}"' in browser.page

    other, _ = logged_in(platform, clock)
    # Another holder's document does not exist for this one: answered exactly like an unknown id.
    refused, unknown = other.get(f"/record/documents/{new.id}"), other.get(f"/record/documents/{uuid.uuid4()}")
    assert refused.status_code == 404 and answer(refused) == answer(unknown)
    content = other.get(f"/record/documents/{new.id}/content")
    assert content.status_code == 404 and answer(content) == answer(other.get(f"/record/documents/{uuid.uuid4()}/content"))
    with platform.sessions() as session:
        assert session.scalar(select(Document.status).where(Document.id == old.id)).value == "superseded"


def test_reading_in_the_browser(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    record, credentials = holder_with_account(platform, clock)
    *_, latest = deposit_lab_reports(platform, record, [(date(2025, 1, 10), 13.1), (date(2025, 3, 10), 11.0)])
    screens.log_in(credentials)
    screens.visit(f"/record/documents/{latest}", "laboratory report")
    assert screens.page.locator("table.lab-results tr.out-of-range").count() == 1
    assert screens.page.locator("svg.opendsp-chart").count() == 2
    assert screens.page.locator("svg.opendsp-chart circle").count() == 4


def test_a_laboratory_report_fits_a_phone_with_compact_readable_trends(platform: Platform, clock: FrozenClock,
                                                                      screens: Screens) -> None:
    """At 390 px nothing scrolls sideways, the trends are one compact table (a small chart per recurring test,
    its values folded in <details>), and no chart's text is drawn smaller than 10 px."""
    record, credentials = holder_with_account(platform, clock)
    *_, latest = deposit_lab_reports(platform, record, [(date(2025, 1, 10), 13.1), (date(2025, 2, 10), 12.2),
                                                        (date(2025, 3, 10), 11.0)])
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.log_in(credentials)
    screens.visit(f"/record/documents/{latest}", "laboratory report on a phone")  # checks scrollWidth <= 390
    assert screens.page.locator("table#trends > tbody > tr").count() == 2  # one row per recurring test
    assert screens.page.locator("#trends details table").count() == 2  # the values, folded
    smallest = screens.page.evaluate(
        "Math.min(...[...document.querySelectorAll('svg.opendsp-chart text')].map(t => t.getBoundingClientRect().height))"
        " ")
    assert smallest == float("inf") or smallest >= 10
    height = screens.page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, height
