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
