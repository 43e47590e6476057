"""The holder's documents in a real browser (Chromium, axe-core on every page): as the holder, as an assistant."""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, holder_with_account, live, screens  # noqa: F401
from tests.factories import as_holder, as_professional, make_professional, professional_draft, run_jobs
from tests.search.pdfs import pdf_with_text


def follow(link) -> None:  # type: ignore[no-untyped-def]
    """Click, and wait for the page the click leads to."""
    with link.page.expect_navigation():
        link.click()


def press(link) -> None:  # type: ignore[no-untyped-def]
    """Follow a link or a button from the keyboard (below a PDF frame, headless Chromium loses mouse clicks)."""
    link.focus()
    with link.page.expect_navigation():
        link.page.keyboard.press("Enter")


def test_a_holder_searches_uploads_withdraws_and_hides(platform: Platform, clock: FrozenClock, screens: Screens,
                                                       tmp_path) -> None:  # type: ignore[no-untyped-def]
    made, credentials = holder_with_account(platform, clock)
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Kieffer")
        as_holder(session, platform, made).add_to_circle(made.id, doctor.id)
        access = as_professional(session, platform, doctor)
        access.deposit(made.id, professional_draft(title="Échographie abdominale"), [pdf_with_text("Foie normal")])
        access.deposit(made.id, professional_draft(title="Consultation de suivi"), [pdf_with_text("Echographie prévue")])
    run_jobs(platform)  # what `opendsp worker` does within a second: the keyword index
    page = screens.page
    screens.log_in(credentials)
    assert page.url.endswith("/record")
    screens.seen("home with notifications")
    assert page.locator("#notification-list li").count() == 2
    follow(page.locator("#mark-read"))
    screens.seen("notifications read")
    assert page.locator("#mark-read").count() == 0

    page.locator("#q").fill("échographies")
    follow(page.locator("#search-bar button"))
    screens.seen("search results")
    assert page.locator("#results tbody tr").first.inner_text().count("Échographie abdominale") == 1
    assert page.locator("#results tbody tr").count() == 2

    screens.visit("/record/upload", "upload form")
    wrong = tmp_path / "notes.pdf"
    wrong.write_bytes(b"just text, named like a PDF")
    page.locator("#title").fill("Carnet de vaccination")
    page.locator("#care_date").fill("2025-01-15")
    page.locator("#file").set_input_files(str(wrong))
    follow(page.locator("#send"))
    screens.seen("upload refused")
    assert "not accepted" in page.locator("#form-error").inner_text()
    right = tmp_path / "carnet.pdf"
    right.write_bytes(pdf_with_text("Rappel tétanos"))
    page.locator("#file").set_input_files(str(right))
    follow(page.locator("#send"))
    page.locator("#document-title").wait_for()
    screens.seen("uploaded document")
    press(page.locator("#withdraw-link"))
    screens.seen("withdraw confirmation")
    follow(page.locator("#confirm-withdraw"))
    screens.seen("documents after withdrawal")
    assert "withdrawn" in page.locator("#documents").inner_text().lower()

    screens.visit("/record/hidden", "hidden documents")
    follow(page.locator("#visible-list li").first.locator("button"))
    screens.seen("a document hidden")
    assert page.locator("#hidden-list li").count() == 1
    follow(page.locator("#hidden-list li button"))
    screens.seen("shown again")
    assert page.locator("#no-hidden").is_visible()

    page.set_viewport_size({"width": 375, "height": 800})
    screens.visit("/record/documents", "documents on a phone")
    screens.visit("/record", "home on a phone")


def test_an_assistant_adds_and_hides_a_document_for_the_holder(platform: Platform, clock: FrozenClock,
                                                               screens: Screens, tmp_path) -> None:  # type: ignore[no-untyped-def]
    made, _ = holder_with_account(platform, clock)
    helper, credentials = holder_with_account(platform, clock)
    with platform.transaction() as session:
        as_holder(session, platform, made).designate_assistant(made.id, helper.holder.id)
        holder_id = made.holder.id
    page = screens.page
    screens.log_in(credentials)
    screens.visit("/account", "account")
    page.locator(f"label[for='act-{holder_id}']").click()
    follow(page.locator("form[action='/account/act-for'] button"))
    screens.visit("/record", "home acting for the holder")
    assert page.locator("#acting-badge").is_visible()
    assert "An assistant was added or removed" in page.locator("#notification-list").inner_text()
    screens.visit("/record/upload", "upload for the holder")
    scan = tmp_path / "directives.pdf"
    scan.write_bytes(pdf_with_text("Directives anticipées"))
    page.locator("#title").fill("Directives anticipées")
    page.locator("#care_date").fill("2025-02-01")
    page.locator("#file").set_input_files(str(scan))
    follow(page.locator("#send"))
    page.locator("#document-title").wait_for()
    screens.seen("uploaded for the holder")
    press(page.locator("#toggle-hidden"))
    screens.seen("hidden from the document page")
    screens.visit("/record/hidden", "hidden list")
    assert "Directives" in page.locator("#hidden-list").inner_text()
    run_jobs(platform)
    screens.visit("/record/search")
    page.locator("#q").fill("directive")
    follow(page.locator("main form[role=search] button[type=submit]"))  # the terms travel in a POST body
    screens.seen("search as assistant")
    assert page.locator("#results tbody tr").count() == 1
