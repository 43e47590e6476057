"""Wide tables on a phone (390 px), in Chromium with axe-core: every table of both portals sits in a focusable,
labelled scroll region, so a table may scroll sideways inside it but the page itself never does. And the
holder's page that restricts a document to named professionals, on a desktop and a phone."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.records.models import Record
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, holder_with_account, live, screens  # noqa: F401
from tests.factories import PDF, as_holder, as_professional, make_professional, professional_draft
from tests.web.professional import professional_with_account
from tests.web.test_reading import deposit_lab_reports

PHONE = {"width": 390, "height": 844}
# A table outside a region a keyboard can reach and a screen reader can name.
UNSCROLLABLE = """() => [...document.querySelectorAll('main table')]
  .filter(t => !t.closest('[role=region][tabindex="0"][aria-label]'))
  .map(t => t.id || t.className || 'table')"""
# A scroll region actually narrower than its table: the table scrolls inside it.
SCROLLING = """() => [...document.querySelectorAll('[role=region][tabindex="0"]')]
  .filter(r => r.scrollWidth > r.clientWidth).length"""
LONG = "Compte-rendu_de_consultation_pneumologique_avec_spirometrie_et_gaz_du_sang_arteriel_complet"


def _every_table_scrolls_in_its_region(screens: Screens) -> None:
    assert screens.page.evaluate(UNSCROLLABLE) == [], screens.page.url
    labels = screens.page.evaluate(
        "() => [...document.querySelectorAll('[role=region][tabindex=\"0\"]')].map(r => r.getAttribute('aria-label'))")
    assert all(label and label.strip() for label in labels), labels


def _busy_record(platform: Platform, record: Any) -> Any:
    """A doctor of the circle who deposited documents with long, unbreakable titles."""
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Kieffer-Schmit-Weber")
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, doctor.id)
        access = as_professional(session, platform, doctor)
        for number in range(3):
            access.deposit(record.id, professional_draft(title=f"{LONG}_{number}"), [PDF])
        return doctor


def test_the_holder_s_laboratory_trace_and_documents_pages_fit_a_phone(platform: Platform, clock: FrozenClock,
                                                                      screens: Screens) -> None:
    record, credentials = holder_with_account(platform, clock)
    *_, latest = deposit_lab_reports(platform, record, [(date(2025, 1, 10), 13.1), (date(2025, 2, 10), 12.2),
                                                        (date(2025, 3, 10), 11.0)])
    _busy_record(platform, record)
    screens.page.set_viewport_size(PHONE)
    screens.log_in(credentials)
    for path, name in [(f"/record/documents/{latest}", "laboratory report on a phone"),
                       ("/record/trace?who=everyone", "trace on a phone"),
                       ("/record/documents", "documents on a phone"),
                       ("/record/professionals", "professionals on a phone"),
                       ("/record", "home on a phone")]:
        screens.visit(path, name)  # no console error, axe clean, scrollWidth <= 390
        _every_table_scrolls_in_its_region(screens)
    # The documents' table is wider than the phone: it scrolls inside its region, reachable from the keyboard.
    screens.visit("/record/documents", "documents scrolled")
    assert screens.page.evaluate(SCROLLING) >= 1
    region = screens.page.locator(".opendsp-documents [role=region]")
    region.focus()
    screens.page.keyboard.press("ArrowRight")
    assert screens.page.evaluate("() => document.activeElement.getAttribute('role')") == "region"


def test_the_professional_s_tables_fit_a_phone(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    pro = professional_with_account(platform, clock, family_name="Reuter")
    record, _ = holder_with_account(platform, clock)
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, pro.id)
    *_, latest = deposit_lab_reports(platform, record, [(date(2025, 1, 10), 13.1), (date(2025, 3, 10), 11.0)])
    _busy_record(platform, record)
    screens.page.set_viewport_size(PHONE)
    screens.log_in(pro.credentials)
    for path, name in [("/pro", "my patients on a phone"),
                       (f"/pro/patients/{record.id}", "patient view on a phone"),
                       (f"/pro/patients/{record.id}/documents/{latest}", "laboratory report for a doctor on a phone"),
                       (f"/pro/patients/{record.id}/deposit/laboratory", "laboratory form on a phone")]:
        screens.visit(path, name)
        _every_table_scrolls_in_its_region(screens)


def test_the_holder_restricts_a_document_in_the_browser(platform: Platform, clock: FrozenClock,
                                                        screens: Screens) -> None:
    record, credentials = holder_with_account(platform, clock)
    doctor = _busy_record(platform, record)
    with platform.transaction() as session:
        colleague = make_professional(session, platform, family_name="Hoffmann")
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, colleague.id)
        document = as_professional(session, platform, doctor).deposit(
            record.id, professional_draft(title="Consultation de psychiatrie"), [PDF]).id
    page = screens.page
    screens.log_in(credentials)
    screens.visit(f"/record/documents/{document}", "a document")
    page.locator("#readers-link").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    screens.seen("who may read it")
    page.locator("#level-restricted").check()
    page.locator("#candidates label", has_text="Hoffmann").click()
    with page.expect_navigation():
        page.locator("#save-readers").click()
    screens.seen("restricted to one professional")
    assert page.locator("#level").get_attribute("data-level") == "restricted"
    assert "Hoffmann" in page.locator("#named").inner_text()
    screens.visit(f"/record/documents/{document}", "a restricted document")
    assert page.locator("#restricted-notice").is_visible()
    page.set_viewport_size(PHONE)
    screens.visit(f"/record/documents/{document}/readers", "who may read it on a phone")
    page.locator("#level-normal").check()
    page.locator("#candidates input:checked").uncheck()
    with page.expect_navigation():
        page.locator("#save-readers").click()
    screens.seen("restriction lifted on a phone")
    assert page.locator("#level").get_attribute("data-level") == "normal"
    screens.clock.advance(timedelta(seconds=1))
    screens.visit("/record/trace?kind=choices&who=holder_side", "the change in the trace on a phone")
    assert "restriction lifted" in page.locator("#trace-table").inner_text()
