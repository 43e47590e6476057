"""The agency's console in a real browser, on a desktop and on a phone: every page passes axe-core, logs
no error in the console and fits a 390 px screen (tests/browser.py checks each page it photographs)."""

from __future__ import annotations

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import Browser, activate
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import make_record


def test_an_administrator_uses_the_console_on_a_desktop_and_a_phone(platform: Platform, clock: FrozenClock,
                                                                    screens: Screens) -> None:
    with platform.transaction() as session:
        account = services.register_staff(session=session, platform=platform, actor=SYSTEM, username="admin1",
                                          display_name="Marie Admin", roles=["administrator", "helpdesk"])
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        person = make_record(session, platform).holder
        person_id, national_number = person.id, person.national_number
    credentials = activate(Browser(platform), clock, "admin1", code, realm="/console")
    screens.log_in(credentials, realm="/console")
    page = screens.page
    assert page.locator("nav a[href='/console/statistics']").is_visible()
    page.locator("#q").fill(national_number)
    page.locator("#search button[type=submit]").click()
    page.wait_for_load_state()
    screens.seen("search")
    assert page.locator(f"a[href='/console/persons/{person_id}']").is_visible()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in (f"/console/persons/{person_id}", "/console/statistics", "/console/professionals/new",
                     "/console/organisations/new"):
            screens.visit(path, f"{path} at {width}")
