"""Every page each role reaches by following the portals' own links, in French and German, on a phone.

The other browser tests walk through tasks; this one walks through the site: from each role's home it
follows every same-site link (breadth first, one visit per path) and checks each page as tests/browser.py
does (screenshot, no console error, axe-core clean, no page wider than a 390 px screen), and that its
visible text shows no ISO date and no raw code (``consultation_report``): a French or German reader sees
their own formats and words. A page added later is checked as soon as a link leads to it.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import pytest

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, Credentials, activate
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder
from tests.web.holder_world import World, build
from tests.web.professional import professional_with_account

PHONE = {"width": 390, "height": 844}
# Links that download a file, act, or leave the portal: checked elsewhere, never followed by a crawler.
NOT_PAGES = re.compile(r"/logout|/content\b|/download|\.csv|\.json|\.pdf|\.zip|/export|/language|/static/|/fhir|/\.well-known/")
MOST_PAGES = 45  # a bound, so a link that mints new paths (a calendar's "next month") cannot run forever
ISO_DATE = re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b")
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def walk(screens: Screens, start: str, realm: str) -> list[str]:
    """Visit every page reachable from ``start`` whose path stays under ``realm``; return the paths seen."""
    page = screens.page
    seen: list[str] = []
    queued = {start}
    todo = deque([start])
    while todo and len(seen) < MOST_PAGES:
        path = todo.popleft()
        response = screens.visit(path, path)
        seen.append(path)
        assert response is not None and response.status < 500, f"{path}: {response and response.status}"
        shown = page.locator("main").inner_text() if page.locator("main").count() else ""
        assert not ISO_DATE.search(shown), f"{path}: an ISO date in the page: {ISO_DATE.findall(shown)[:3]}"
        assert not RAW_CODE.search(shown), f"{path}: a raw code in the page: {RAW_CODE.findall(shown)[:3]}"
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            target = _same_site_path(href)
            if target and target.startswith(realm) and not NOT_PAGES.search(target) and target not in queued:
                queued.add(target)
                todo.append(target)
    return seen


def _same_site_path(href: str) -> str | None:
    if not href.startswith("/") or href.startswith("//"):
        return None
    return href.split("#")[0].split("?")[0] or None


def _in(screens: Screens, language: str) -> None:
    screens.page.set_viewport_size(PHONE)
    screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language, "url": screens.base_url}])


def _console_administrator(platform: Platform, clock: FrozenClock) -> Credentials:
    with platform.transaction() as session:
        account = services.register_staff(session=session, platform=platform, actor=SYSTEM, username="admin1",
                                          display_name="Marie Admin", roles=["administrator", "helpdesk"])
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
    return activate(Browser(platform), clock, "admin1", code, realm="/console")


def _circle_professional(platform: Platform, clock: FrozenClock, world: World) -> Credentials:
    pro = professional_with_account(platform, clock, family_name="Muller")
    with platform.transaction() as session:
        from opendsp.records.models import Record

        as_holder(session, platform, session.get(Record, world.record_id)).add_to_circle(world.record_id, pro.id)
    return pro.credentials


LANGUAGES = ["fr", "de"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_of_the_holder(platform: Platform, clock: FrozenClock, screens: Screens, language: str) -> None:
    world = build(platform, clock)
    screens.log_in(world.credentials)
    _in(screens, language)
    seen = walk(screens, "/record", "/")
    _assert_walked(seen, ["/record", "/record/trace", "/record/professionals", f"/record/documents/{world.structured_id}"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_of_a_professional(platform: Platform, clock: FrozenClock, screens: Screens,
                                      language: str) -> None:
    world = build(platform, clock)
    credentials = _circle_professional(platform, clock, world)
    screens.log_in(credentials)
    _in(screens, language)
    seen = walk(screens, "/pro", "/pro")
    _assert_walked(seen, ["/pro", f"/pro/patients/{world.record_id}",
                          f"/pro/patients/{world.record_id}/documents/{world.structured_id}"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_of_the_console(platform: Platform, clock: FrozenClock, screens: Screens, language: str) -> None:
    build(platform, clock)
    screens.log_in(_console_administrator(platform, clock), realm="/console")
    _in(screens, language)
    seen = walk(screens, "/console", "/console")
    _assert_walked(seen, ["/console", "/console/statistics"])


def _assert_walked(seen: list[str], expected: list[Any]) -> None:
    # The crawl must really have gone somewhere: a broken menu would otherwise pass with one page.
    missing = [path for path in expected if path not in seen]
    assert not missing, f"never reached {missing}; walked {seen}"
