"""Error and refusal pages of issue 16 in a real browser (screenshots, axe-core, phone width)."""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder
from tests.web.professional import professional_with_account, record_with_code


def test_the_professional_s_error_and_refusal_pages_in_the_browser(platform: Platform, clock: FrozenClock,
                                                                  screens: Screens) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, pro.id)
    page = screens.page
    response = screens.visit("/nowhere", "unknown address as a visitor")
    assert response.status == 404 and page.locator("h1").count() == 1
    screens.log_in(pro.credentials)
    response = screens.visit("/pro/patients/not-an-id", "malformed id with the menu")
    assert response.status == 404 and page.locator("#pro-menu-title").is_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="Back to the home page").click()
    assert page.url.endswith("/pro")
    response = screens.visit(f"/pro/patients/{record.id}/deposit/summary", "summary form refused at once")
    assert response.status == 403 and page.locator("form[action$='/deposit/summary']").count() == 0
