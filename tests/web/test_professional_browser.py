"""The professional's portal in a real browser (screenshots and axe-core on every page): few, broad walks."""

from __future__ import annotations

from pathlib import Path

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder, as_professional, professional_draft
from tests.web.professional import professional_with_account, real_pdf, record_with_code
from tests.web.test_professional_portal import in_circle


def test_circle_presence_code_lockout_and_block_in_the_browser(platform: Platform, clock: FrozenClock,
                                                               screens: Screens) -> None:
    pro = professional_with_account(platform, clock)
    mine, _ = record_with_code(platform)
    stranger, code = record_with_code(platform)
    locked, _ = record_with_code(platform)
    blocked, _ = record_with_code(platform)
    in_circle(platform, mine, pro.id)
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        me = session.get(Professional, pro.id)
        letter = as_professional(session, platform, me).deposit(mine.id, professional_draft(title="Letter"),
                                                                [real_pdf()])
        as_holder(session, platform, session.merge(blocked)).block(blocked.id, pro.id)
        stranger_number = session.merge(stranger).holder.national_number
    page = screens.page
    screens.log_in(pro.credentials)
    assert page.url.endswith("/pro")
    screens.seen("my patients")
    assert page.locator("#patients tr[data-kind=circle]").count() == 1
    page.locator("#patients a").first.click()
    screens.seen("circle record")
    assert page.locator("#documents tbody tr").count() == 1
    screens.visit(f"/pro/patients/{mine.id}/documents/{letter.id}", "reading a PDF")
    assert page.locator("iframe.opendsp-pdf").count() == 1

    # A patient outside the circle: find, refusal with the ways in, a wrong code, then the right one.
    screens.visit("/pro/find", "find a patient")
    page.locator("#national_number").fill(stranger_number)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    screens.seen("patient found")
    with page.expect_navigation():
        page.locator("#found a").click()
    screens.seen("refused with the ways in")
    assert page.locator("#ways li[data-way=presence_code]").count() == 1
    page.locator("#code").fill("AAAA-AAAA")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    screens.seen("wrong presence code")
    assert "The presence code is not correct." in page.locator("#form-error").inner_text()
    page.locator("#code").fill(code)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    screens.seen("opened with the presence code")
    assert page.url.endswith(f"/pro/patients/{stranger.id}") and page.locator("#document-count").count() == 1
    screens.visit("/pro", "my patients with a presence code")
    assert page.locator("#patients tr[data-kind=presence_code]").count() == 1

    # Five wrong codes lock the record for this professional, the right code included.
    screens.visit(f"/pro/patients/{locked.id}", "another record")
    for _ in range(5):
        page.locator("#code").fill("BBBB-BBBB")
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
    page.locator("#code").fill("CCCC-CCCC")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    screens.seen("locked out")
    assert "Too many wrong presence codes" in page.locator("#form-error").inner_text()

    response = screens.visit(f"/pro/patients/{blocked.id}", "blocked professional: as an unknown record")
    assert response.status == 404 and page.locator("#pro-menu-title").is_visible()
    assert page.locator("#code").count() == 0


def test_emergency_access_and_deposits_in_the_browser(platform: Platform, clock: FrozenClock, screens: Screens,
                                                      tmp_path: Path) -> None:
    pro = professional_with_account(platform, clock, kind=OrganisationKind.emergency_department,
                                    name="Urgences CHL", specialties=("clinical_biology",))
    record, _ = record_with_code(platform)
    page = screens.page
    screens.log_in(pro.credentials)
    screens.visit(f"/pro/patients/{record.id}", "refused with emergency access offered")
    assert page.locator("#ways li[data-way=emergency_access]").count() == 1
    page.locator("#reason").fill("Unconscious, brought in by ambulance")
    with page.expect_navigation():
        page.locator("form[action$=emergency] button").click()
    screens.seen("emergency access opened")
    assert page.locator("#emergency-banner").is_visible()

    # A PDF with its metadata.
    screens.visit(f"/pro/patients/{record.id}/deposit", "deposit a PDF")
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(real_pdf())
    page.locator("#type").select_option("consultation_report")
    page.locator("#title").fill("Emergency consultation")
    page.locator("label[for=confidentiality-restricted]").click()
    page.locator("#file").set_input_files(str(pdf))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    screens.seen("PDF deposited")
    with page.expect_navigation():
        page.locator("#deposited-document").click()
    screens.seen("the deposited PDF")
    assert page.locator("#emergency-banner").is_visible() and page.locator("#replace").count() == 1

    # Replace it, then withdraw the new version.
    screens.visit(page.locator("#replace").get_attribute("href"), "replace a document")
    page.locator("#title").fill("Emergency consultation, corrected")
    page.locator("#file").set_input_files(str(pdf))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    with page.expect_navigation():
        page.locator("#deposited-document").click()
    screens.seen("the new version")
    assert "version 2" in page.locator("#document-status").inner_text()
    page.locator("#withdraw-reason").fill("Wrong patient")
    with page.expect_navigation():
        page.locator("#withdraw").click()
    screens.seen("withdrawn")
    assert "withdrawn" in page.locator("#document-status").inner_text()

    # A structured laboratory result.
    screens.visit(f"/pro/patients/{record.id}/deposit/laboratory", "deposit a laboratory result")
    page.locator("#title").fill("Blood count")
    page.locator("#test_0").select_option("haemoglobin")
    page.locator("#value_0").fill("10.5")
    page.locator("#test_1").select_option("platelets")
    page.locator("#value_1").fill("250")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    with page.expect_navigation():
        page.locator("#deposited-document").click()
    screens.seen("the laboratory result")
    assert page.locator("table.lab-results tr.out-of-range").count() == 1
    screens.visit(f"/pro/patients/{record.id}/summary", "patient summary view")
    assert page.locator("#results li.out-of-range").count() == 1
    screens.visit(f"/pro/patients/{record.id}/timeline", "timeline")
    screens.visit("/pro", "my patients with an emergency access")
    assert page.locator("#patients tr[data-kind=emergency] .govuk-tag").count() == 1


def test_the_patient_found_stays_above_the_footer_on_desktop_and_phone(platform: Platform, clock: FrozenClock,
                                                                       screens: Screens) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.sessions() as session:
        number = session.merge(record).holder.national_number
    page = screens.page
    screens.log_in(pro.credentials)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screens.visit("/pro/find", f"find a patient {width}")
        page.locator("#national_number").fill(number)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        screens.seen(f"patient found {width}")
        card = page.locator("#found").bounding_box()
        footer = page.locator("footer").first.bounding_box()
        assert card is not None and footer is not None
        assert card["y"] + card["height"] <= footer["y"], (width, card, footer)
