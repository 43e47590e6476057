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
from datetime import date
from typing import Any

import pytest

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.persons.models import LegalRepresentation
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser, Credentials, activate
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder, as_professional, make_record
from tests.web.holder_world import World, build, logged_in
from tests.web.professional import professional_with_account

PHONE = {"width": 390, "height": 844}
# Links that download a file, act, or leave the portal: checked elsewhere, never followed by a crawler.
NOT_PAGES = re.compile(r"/logout|/content\b|/download|\.csv|\.json|\.pdf|\.zip|/export|/language|/static/|/fhir|/\.well-known/")
MOST_PAGES = 45  # a bound, so a link that mints new paths (a calendar's "next month") cannot run forever
ISO_DATE = re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b")
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def walk(screens: Screens, start: str, realm: str, *, also: tuple[str, ...] = ()) -> list[str]:
    """Visit every page reachable from ``start`` (and ``also``: pages a form leads to) whose path stays under
    ``realm``; return the paths seen."""
    page = screens.page
    seen: list[str] = []
    queued = {start, *also}
    todo = deque([start, *also])
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


def _staff(platform: Platform, clock: FrozenClock, roles: list[str]) -> Credentials:
    with platform.transaction() as session:
        account = services.register_staff(session=session, platform=platform, actor=SYSTEM, username="staff1",
                                          display_name="Marie Staff", roles=roles)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
    return activate(Browser(platform), clock, "staff1", code, realm="/console")


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
def test_every_page_of_an_emergency_physician(platform: Platform, clock: FrozenClock, screens: Screens,
                                              language: str) -> None:
    world = build(platform, clock)
    pro = professional_with_account(platform, clock, kind=OrganisationKind.emergency_department,
                                    specialties=("emergency_medicine",), name="Urgences Nord", family_name="Nilles")
    with platform.transaction() as session:
        as_professional(session, platform, session.get(Professional, pro.id)).open_emergency_access(
            world.record_id, "unconscious on arrival")
    screens.log_in(pro.credentials)
    _in(screens, language)
    seen = walk(screens, "/pro", "/pro")
    _assert_walked(seen, ["/pro", f"/pro/patients/{world.record_id}"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_of_a_parent_acting_for_their_child(platform: Platform, clock: FrozenClock, screens: Screens,
                                                       language: str) -> None:
    with platform.transaction() as session:
        parent = make_record(session, platform, active=False).holder
        child = make_record(session, platform, birth=date(2016, 9, 1)).holder
        session.add(LegalRepresentation(minor_id=child.id, representative_id=parent.id, created_at=clock.now()))
        child_id = child.id
    credentials = logged_in(platform, clock, parent).credentials  # type: ignore[attr-defined]
    screens.log_in(credentials)
    _in(screens, language)
    page = screens.page
    screens.visit("/record/assistants", "own record")
    page.locator(f"label[for='act-{child_id}']").click()
    page.locator(".govuk-grid-column-three-quarters form[action='/account/act-for'] button").click()
    page.wait_for_load_state()
    seen = walk(screens, "/record", "/")
    _assert_walked(seen, ["/record", "/record/trace", "/record/consents", "/record/state"])


@pytest.mark.parametrize(("roles", "expected"), [
    (["administrator", "helpdesk"], ["/console", "/console/statistics"]),
    (["helpdesk"], ["/console"]),
])
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_of_the_console(platform: Platform, clock: FrozenClock, screens: Screens, language: str,
                                   roles: list[str], expected: list[str]) -> None:
    world = build(platform, clock)
    screens.log_in(_staff(platform, clock, roles), realm="/console")
    _in(screens, language)
    # A person's and a professional's pages are found through the search form: start there too.
    found = (f"/console/persons/{world.holder.id}", f"/console/professionals/{world.gp}")
    seen = walk(screens, "/console", "/console", also=found)
    _assert_walked(seen, [*expected, *found])


def _assert_walked(seen: list[str], expected: list[Any]) -> None:
    # The crawl must really have gone somewhere: a broken menu would otherwise pass with one page.
    missing = [path for path in expected if path not in seen]
    assert not missing, f"never reached {missing}; walked {seen}"
