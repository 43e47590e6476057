"""Defects a new user met in the portals (issue 16), each proven over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.web.test_holder_documents import holder_browser, with_doctor


def test_each_notification_link_says_which_document_and_who(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    with_doctor(platform, record, "Bilan sanguin", "Radiographie du genou")
    clock.advance(timedelta(minutes=5))
    with_doctor(platform, record, "Bilan sanguin")  # the same title, later
    page = browser.get("/record/notifications").text
    links = re.findall(r'<a href="/record/documents/[^"]+">(.*?)</a>', page, flags=re.S)
    assert len(links) == 3
    assert len(set(links)) == 3  # no two links say the same (WCAG 2.4.4)
    assert all("Kieffer" in link for link in links)
    assert sum("Bilan sanguin" in link for link in links) == 2 and any("genou" in link for link in links)
    home = browser.get("/record").text
    assert "Radiographie du genou, deposited by" in home
