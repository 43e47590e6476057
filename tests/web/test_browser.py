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
    screens.page.locator("form button[type=submit]").first.click()
    screens.page.locator("#code").wait_for()
    from datetime import timedelta

    from opendsp.accounts import totp

    clock.advance(timedelta(seconds=30))
    screens.page.locator("#code").fill(totp.code_at(credentials.secret, clock.now()))
    screens.page.locator("form button[type=submit]").first.click()
    screens.page.locator("#app-scopes").wait_for()
    screens.seen("smart authorization")
    screens.page.route(redirect + "**", lambda route: route.fulfill(status=200, body="the app"))
    screens.page.locator("button[value=allow]").click()
    screens.page.wait_for_url(redirect + "**")
    answer = parse_qs(urlsplit(screens.page.url).query)
    assert answer["state"] == [state] and answer["code"][0]
