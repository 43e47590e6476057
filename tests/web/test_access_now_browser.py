"""Who has access right now, in a real browser (Debian's Chromium, axe-core): the holder ends a presence-code
access on a desktop, and reads the list on a phone in French. (The professional's patient view, with the
holder's wishes, is photographed by tests/web/test_professional_browser.py.)"""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_professional
from tests.web.holder_world import build


def test_the_holder_ends_a_presence_code_access(
    platform: Platform, clock: FrozenClock, screens: Screens
) -> None:
    world = build(platform, clock)
    with platform.transaction() as session:
        nurse = as_professional(session, platform, session.get(Professional, world.nurse))
        nurse.open_with_presence_code(world.record_id, world.presence_code)
    page = screens.page
    screens.log_in(world.credentials)
    screens.visit("/record/professionals", "who has access now")
    running = page.locator("#running")
    assert running.locator("tr[data-basis]").count() == 2  # the nurse's code, the world's emergency
    page.locator("#running label.govuk-checkboxes__label").click()
    page.get_by_role("button", name="End this access now").click()
    page.wait_for_load_state()
    screens.seen("access ended")
    assert "The access was ended" in page.content()
    assert page.locator("#running tr[data-basis='presence_code']").count() == 0
    assert page.locator("#running tr[data-basis='emergency']").count() == 1

    page.get_by_role("button", name="Français").click()
    page.wait_for_load_state()
    page.set_viewport_size({"width": 390, "height": 844})
    screens.visit("/record/professionals", "who has access now, in French, on a phone")
    assert "Qui a accès en ce moment" in page.content()
