"""The portal in a real browser: logging in with a password and an authenticator, pages that pass axe-core,
the notification pages used with the keyboard alone."""

from __future__ import annotations

import pytest

from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.notifications import services as notifications
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, holder_with_account, live, screens  # noqa: F401
from tests.factories import PDF, as_professional, make_organisation, make_professional, professional_draft


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
    assert page.get_by_role("button", name="Deutsch").is_visible()
    menu = page.locator(".opendsp-folded-menu summary")
    assert menu.is_visible() and not page.get_by_role("link", name="Your account").is_visible()
    menu.focus()
    page.keyboard.press("Enter")  # the folded menu opens from the keyboard, with no script
    page.get_by_role("link", name="Your account").wait_for(state="visible")
    screens.seen("menu open")
    page.get_by_role("link", name="Your account").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")


def test_the_holder_turns_an_e_mail_off_with_the_keyboard_and_reads_the_news(
    platform: Platform, clock: FrozenClock, screens: Screens
) -> None:
    record, credentials = holder_with_account(platform, clock)
    with platform.transaction() as session:
        lab = make_organisation(session, platform, OrganisationKind.laboratory)
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report, "Bilan"), [PDF])
    screens.log_in(credentials)
    screens.visit("/account/notifications", "e-mail choices")
    page = screens.page
    # Tab to the first checkbox (a new document), untick it with the space bar, Tab on to the button, Enter.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "by-email-1":
            break
    else:
        raise AssertionError("the first checkbox cannot be reached with the Tab key")
    page.keyboard.press("Space")
    while page.evaluate("document.activeElement.type") != "submit":
        page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    screens.seen("choices saved")
    assert page.locator("text=Your choices are saved.").is_visible()
    with platform.sessions() as session:
        chosen = notifications.email_choices(session, record.holder.id)
    assert chosen == {kind: kind != "document.new" for kind in notifications.KINDS}

    screens.visit("/record/notifications", "notifications")
    assert page.locator("#notifications li").count() == 1
    page.locator("form[action='/record/notifications/read'] button").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    screens.seen("notifications read")
    assert page.locator(".opendsp-tag--new").count() == 0


def test_a_holder_approves_a_smart_app_in_the_browser(platform: Platform, clock: FrozenClock, screens: Screens,
                                                      live: tuple[str, Platform]) -> None:
    """The SMART authorization page: after the login it comes back, passes axe-core, and Allow returns a code."""
    import secrets
    from urllib.parse import parse_qs, urlencode, urlsplit

    from opendsp.actors import SYSTEM
    from opendsp.clients.models import ClientUsers
    from opendsp.clients.services import register_client, s256

    url, served = live
    redirect = "http://127.0.0.1:8766/callback"
    _, credentials = holder_with_account(platform, clock)
    with served.transaction() as session:
        client_id = register_client(session=session, platform=served, actor=SYSTEM, name="Mon DSP", jwks=None,
                                    organisation_identifier=None, redirect_uris=[redirect],
                                    users=ClientUsers.persons).client_id
    state = secrets.token_urlsafe(8)
    request = "/auth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": state,
        "scope": "launch/patient patient/AuditEvent.rs", "aud": f"{url}/fhir",
        "code_challenge": s256(secrets.token_urlsafe(48)), "code_challenge_method": "S256"})
    screens.page.goto(screens.url(request))  # not logged in: to the login, which comes back here
    assert "/login?next=" in screens.page.url
    screens.page.locator("#identifier").fill(credentials.identifier)
    screens.page.locator("#password").fill(credentials.password)
    screens.page.locator("main form button[type=submit]").first.click()
    screens.page.locator("#code").wait_for()
    from datetime import timedelta

    from opendsp.accounts import totp

    clock.advance(timedelta(seconds=30))
    screens.page.locator("#code").fill(totp.code_at(credentials.secret, clock.now()))
    screens.page.locator("main form button[type=submit]").first.click()
    screens.page.locator("#app-scopes").wait_for()
    screens.seen("smart authorization")
    screens.page.route(redirect + "**", lambda route: route.fulfill(status=200, body="the app"))
    screens.page.locator("button[value=allow]").click()
    screens.page.wait_for_url(redirect + "**")
    answer = parse_qs(urlsplit(screens.page.url).query)
    assert answer["state"] == [state] and answer["code"][0]


def test_the_favicon_is_an_image_and_no_page_logs_an_error(platform: Platform, clock: FrozenClock,
                                                            screens: Screens) -> None:
    """The browser asks for /favicon.ico on every page: it answers with an image; the fonts load; nothing errs."""
    screens.visit("/login", "login")
    icon = screens.page.request.get(screens.url("/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
    assert screens.page.evaluate("document.fonts.check('16px \"Source Sans 3\"')")
    assert screens.page.evaluate(
        "getComputedStyle(document.querySelector('main h1')).fontFamily").startswith('"Source Sans 3"')
    # A page that does log an error is caught: the check is not blind.
    screens.page.evaluate("console.error('a deliberate error')")
    with pytest.raises(AssertionError, match="a deliberate error"):
        screens.assert_no_console_error()
    _, credentials = holder_with_account(platform, clock)
    screens.page.set_viewport_size({"width": 390, "height": 844})
    screens.log_in(credentials)
    screens.visit("/record")
    # Icons are drawn: the folded menu's icon is an SVG of real size (not an empty box), in the text's colour.
    icon = screens.page.locator(".opendsp-folded-menu summary svg")
    box = icon.bounding_box()
    assert box and box["width"] >= 12 and box["height"] >= 12 and icon.locator("path").count() == 1
    for path in ("/record/documents", "/record/trace", "/record/export", "/account"):
        screens.visit(path)
