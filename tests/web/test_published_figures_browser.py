"""The published figures in a real browser, in French and German, on a desktop and a phone: axe-core clean, no
console error, nothing wider than a 390 px screen, no ISO month in the visible text, and the way there from the
login page's footer."""

from __future__ import annotations

import re
from datetime import timedelta

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import deposit_pdf, make_record, read_as_holder


def test_anyone_reads_the_figures_in_french_and_german_on_a_desktop_and_a_phone(
    platform: Platform, clock: FrozenClock, screens: Screens
) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        documents = [deposit_pdf(session, platform, record) for _ in range(14)]
        read_as_holder(session, platform, documents[0])  # one consultation: withheld
    clock.advance(timedelta(days=35))
    with platform.transaction() as session:
        for _ in range(11):
            deposit_pdf(session, platform, record)
    clock.advance(timedelta(days=31))  # closed months only
    page = screens.page
    screens.visit("/login", "login")
    page.locator("footer a[href='/statistics']").click()
    page.wait_for_load_state()
    screens.seen("figures from the login page")
    page.context.clear_cookies()
    for language, withheld in (("fr", "moins de 10"), ("de", "weniger als 10")):
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            screens.visit(f"/statistics?lang={language}", f"figures {language} at {width}")
            text = page.locator("main").inner_text()
            assert withheld in text
            assert not re.search(r"\b20\d\d-\d\d\b", text), "an ISO month in the visible text"
            assert page.locator("svg.opendsp-chart").count() == 3
            assert page.context.cookies() == []  # the page leaves nothing in the browser
    # The language links lead to the same page in another language.
    page.locator("header a[hreflang='de']").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "de"
