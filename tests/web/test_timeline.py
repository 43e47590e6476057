"""The holder's timeline: documents and hospital stays, filterable, in the holder's language."""

from __future__ import annotations

from datetime import date

from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.stays.models import PatientClass
from opendsp.stays.services import StayEvent, StayReport, apply_report
from tests.accounts.portal import Browser, activate, letter_for, settings  # noqa: F401  (the cheap-hash settings)
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    make_organisation,
    make_professional,
    make_record,
    professional_draft,
)


def test_the_timeline_shows_documents_and_stays(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
    browser = Browser(platform)
    activate(browser, clock, holder.national_number, letter_for(platform, holder).activation)
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Kirchberg")
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo Est")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report, "Bilan lipidique"), [PDF])
        as_holder(session, platform, record).deposit(
            record.id, professional_draft(DocumentType.personal_document, "Mon carnet"), [PDF])
        apply_report(session=session, platform=platform, hospital=hospital, software="HIS", report=StayReport(
            event=StayEvent.admit, national_number=holder.national_number, visit_number="V1",
            occurred_at=clock.now(), patient_class=PatientClass.inpatient))

    page = browser.get("/record/timeline")
    assert page.status_code == 200
    assert "Bilan lipidique" in browser.page and "Mon carnet" in browser.page
    assert "Hôpital Kirchberg" in browser.page and "Hospital stay" in browser.page and "in progress" in browser.page
    browser.get("/record/timeline?kind=stay")
    assert "Hôpital Kirchberg" in browser.page and "Bilan lipidique" not in browser.page
    browser.get(f"/record/timeline?kind=laboratory_report&since={date(2025, 3, 2).isoformat()}")
    assert "Nothing in this period." in browser.page

    browser.choose_language("fr", "/record/timeline")  # the holder chooses French
    browser.get("/record/timeline")
    assert "Ligne de vie" in browser.page and "Séjour hospitalier" in browser.page


def test_the_timeline_needs_a_login(platform: Platform) -> None:
    response = Browser(platform).get("/record/timeline")
    assert response.status_code == 303 and response.headers["location"] == "/login"
