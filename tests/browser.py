"""End-to-end tests in a real browser: Debian's Chromium driven by Playwright, checked by axe-core.

Playwright never downloads a browser here: it launches the system Chromium
(``/usr/bin/chromium`` from Debian's ``chromium`` package, or the path in
``OPENDSP_TEST_CHROMIUM``). Without it the browser tests are skipped, saying
why. Every page a test visits is saved as a screenshot under
``test-artifacts/screenshots/<test id>/`` and checked for WCAG 2.1 A and AA
violations with axe-core from ``node_modules``, for errors in the browser's
console (a script error, a resource that failed to load: an icon, a font, the
favicon) and, on a phone-sized window, for a page wider than the screen.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from opendsp.accounts import totp
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import Credentials
from tests.live import serve

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def chromium_path() -> str | None:
    configured = os.environ.get("OPENDSP_TEST_CHROMIUM")
    return configured or shutil.which("chromium") or shutil.which("chromium-browser")


# One Playwright and one Chromium for the whole run. Each test module imports the fixture, which makes it a
# fixture of its own per module; a second ``sync_playwright()`` while the first runs fails ("Sync API inside the
# asyncio loop"), so every module's fixture shares the one the first module started, and that one closes it.
_RUNNING: list[Any] = []


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium): browser tests skipped")
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm ci): browser tests skipped")
    if _RUNNING:
        yield _RUNNING[0]
        return
    from playwright.sync_api import sync_playwright

    # One Playwright per test: its sync API shares the main thread with the test clients' event loops.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        _RUNNING.append(browser)
        try:
            yield browser
        finally:
            _RUNNING.clear()
            browser.close()


class Screens:
    """One browser tab on the live portal; every page it shows is photographed and checked for accessibility."""

    def __init__(self, page: Any, base_url: str, folder: Path, clock: FrozenClock) -> None:
        self.page = page
        self.base_url = base_url
        self.folder = folder
        self.clock = clock
        self.shots = 0
        # Every error the browser reports: console errors (failed loads, refused styles) and uncaught exceptions.
        self.console_errors: list[tuple[str, str]] = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(
            (message.text, message.location.get("url", ""))))
        page.on("pageerror", lambda error: self.console_errors.append((f"uncaught: {error}", "")))

    def url(self, path: str) -> str:
        return self.base_url + path

    def visit(self, path: str, name: str | None = None) -> Any:
        response = self.page.goto(self.url(path))
        self.seen(name or path)
        return response

    def seen(self, name: str) -> None:
        """The page as it is now: a screenshot, then the accessibility check."""
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "page"
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{slug}.png"), full_page=True)
        self.assert_no_console_error()
        self.assert_fits_the_screen()
        self.assert_accessible()

    def assert_no_console_error(self) -> None:
        self.page.wait_for_load_state("load")  # the stylesheets, fonts, icons and favicon have been asked for
        # The page's own status (a refusal's 403, a form's 400) is the test's to check; everything it loads must load.
        errors = [f"{text} ({url})" for text, url in self.console_errors
                  if not (text.startswith("Failed to load resource") and url == self.page.url)]
        self.console_errors.clear()
        assert not errors, f"{self.page.url}: errors in the browser's console: {errors}"

    def assert_fits_the_screen(self) -> None:
        """On a phone (a window at most 400 px wide), nothing is wider than the screen: no sideways scrolling."""
        width = self.page.viewport_size["width"] if self.page.viewport_size else 1280
        if width <= 400:
            scroll_width = self.page.evaluate("document.documentElement.scrollWidth")
            wide = self.page.evaluate(
                "(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w"
                " || e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'visible').slice(-5).map(e => e.tagName + '.' + e.className + '#' + e.id + '@' + e.getBoundingClientRect().right)", width) if scroll_width > width else []
            assert scroll_width <= width, f"{self.page.url}: {scroll_width} px wide on a {width} px screen: {wide}"

    def assert_accessible(self) -> None:
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_A_AA
        )
        problems = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
        ]
        assert not problems, f"{self.page.url}: " + json.dumps(problems, indent=1, ensure_ascii=False)

    def log_in(self, credentials: Credentials, *, realm: str = "") -> None:
        """Password, then a fresh authenticator code, as a person would type them."""
        self.visit(f"{realm}/login", "login")
        self.page.locator("#identifier").fill(credentials.identifier)
        self.page.locator("#password").fill(credentials.password)
        self.page.locator("main form button[type=submit]").first.click()
        self.page.locator("#code").wait_for()
        self.clock.advance(timedelta(seconds=30))  # a new time step: the previous code is spent
        self.page.locator("#code").fill(totp.code_at(credentials.secret, self.clock.now()))
        self.page.locator("main form button[type=submit]").first.click()
        self.page.wait_for_load_state()


@pytest.fixture
def live(platform: Platform) -> Iterator[tuple[str, Platform]]:
    with serve(platform) as served:
        yield served


@pytest.fixture
def screens(chromium: Any, live: tuple[str, Platform], request: pytest.FixtureRequest,
            clock: FrozenClock) -> Iterator[Screens]:
    url, _ = live
    # The test's whole id (module too): two modules' tests of the same name may run at once (pytest -n).
    test = request.node.nodeid.removeprefix("tests/")
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # bypass_csp: only so that axe-core can be injected; the pages themselves run under the strict policy.
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        screens = Screens(page, url, folder, clock)
        yield screens
        screens.assert_no_console_error()  # also what happened after the last page was photographed
    finally:
        context.close()


def holder_with_account(platform: Platform, clock: FrozenClock, **record: Any) -> tuple[Any, Credentials]:
    """A record whose holder has activated their account (over HTTP, from their letter)."""
    from tests.accounts.portal import Browser, activate, letter_for
    from tests.factories import make_record

    with platform.transaction() as session:
        made = make_record(session, platform, active=False, **record)
        holder = made.holder
    credentials = activate(Browser(platform), clock, holder.national_number, letter_for(platform, holder).activation)
    return made, credentials
