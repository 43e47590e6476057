"""The portal in a real browser: logging in with a password and an authenticator, pages that pass axe-core."""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, holder_with_account, live, screens  # noqa: F401


def test_a_holder_logs_in_and_reads_the_timeline(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    _, credentials = holder_with_account(platform, clock)
    screens.log_in(credentials)
    screens.seen("after login")
    screens.visit("/record/timeline", "timeline")
    assert screens.page.locator("h1").first.is_visible()


def test_the_portal_works_on_a_phone_and_with_the_keyboard(platform: Platform, clock: FrozenClock,
                                                          screens: Screens) -> None:
    _, credentials = holder_with_account(platform, clock)
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.log_in(credentials)
    screens.visit("/record/timeline", "timeline on a phone")
    page = screens.page
    assert page.get_by_role("button", name="Log out").is_visible()  # the header's tools stay reachable
    assert page.get_by_role("link", name="Deutsch").is_visible()
    menu = page.locator(".opendsp-folded-menu summary")
    assert menu.is_visible() and not page.get_by_role("link", name="Your account").is_visible()
    menu.focus()
    page.keyboard.press("Enter")  # the folded menu opens from the keyboard, with no script
    page.get_by_role("link", name="Your account").wait_for(state="visible")
    screens.seen("menu open")
    page.get_by_role("link", name="Your account").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
