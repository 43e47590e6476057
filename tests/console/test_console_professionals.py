"""The helpdesk finds professionals too (to unlock them, or reset their authenticator), and a helpdesk
member asking for an administrator's page meets a refusal in the console's own layout (issue 16)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from opendsp.accounts.models import Account, AccountState
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, login
from tests.console.test_console import helpdesk, staff_browser  # noqa: F401 - the fixture
from tests.web.professional import professional_with_account


def test_the_helpdesk_finds_a_professional_unlocks_them_and_resets_their_authenticator(
    platform: Platform, clock: FrozenClock, helpdesk: Browser
) -> None:
    pro = professional_with_account(platform, clock, family_name="Zimmerlé")
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.professional_id == pro.id)).one()
        licence = account.login
    for _ in range(platform.settings.login_max_failures):
        Browser(platform).submit("/login", {"identifier": licence, "password": "wrong password!!"},
                                 form_page="/login")
    page = helpdesk.submit("/console", {"q": "zimmerl"}, form_page="/console").text
    assert 'id="professionals-found"' in page and f"/console/professionals/{pro.id}" in page
    assert helpdesk.submit("/console", {"q": licence}, form_page="/console").text.count(
        f"/console/professionals/{pro.id}") == 1
    page = helpdesk.get(f"/console/professionals/{pro.id}").text
    assert "locked" in page and f"/console/accounts/{account.id}/unlock" in page
    assert helpdesk.submit(f"/console/accounts/{account.id}/unlock").status_code == 200
    assert "The account is unlocked." in helpdesk.page
    assert login(Browser(platform), clock, pro.credentials).status_code == 303

    # The authenticator: two checks and a ticket, then a new activation code shown once.
    helpdesk.get(f"/console/professionals/{pro.id}")
    assert helpdesk.submit(f"/console/accounts/{account.id}/reset-second-factor",
                           {"checks": ["call_back"], "reference": "T-9"}).status_code == 400
    helpdesk.get(f"/console/professionals/{pro.id}")
    response = helpdesk.submit(f"/console/accounts/{account.id}/reset-second-factor",
                               {"checks": ["identity_document", "call_back"], "reference": "T-10"})
    assert response.status_code == 200
    code = re.search(r'id="activation-code"[^>]*>([^<]+)<', helpdesk.page)
    assert code is not None
    with platform.sessions() as session:
        assert session.get(Account, account.id).totp_secret is None  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=30))
    assert activate(Browser(platform), clock, licence, code.group(1), realm="/pro")

    # Each search is traced like the person search, with how many were found and never the words.
    with platform.sessions() as session:
        searches = list(session.scalars(select(TraceEntry).where(TraceEntry.action == "console.search")))
    assert searches and all(entry.context.get("professionals") == 1 for entry in searches)
    assert not any("zimmerl" in str(entry.context).lower() for entry in searches)


def test_an_unknown_or_malformed_professional_is_not_found(platform: Platform, clock: FrozenClock,
                                                           helpdesk: Browser) -> None:
    assert helpdesk.get(f"/console/professionals/{uuid.uuid4()}").status_code == 404
    assert helpdesk.get("/console/professionals/not-an-id").status_code in (400, 404, 422)
    assert Browser(platform).get(f"/console/professionals/{uuid.uuid4()}").status_code == 303  # not logged in
    huge = helpdesk.submit("/console", {"q": "x" * 5000}, form_page="/console")
    assert huge.status_code == 200 and "Nobody found." in huge.text


def test_a_helpdesk_member_on_an_administrators_page_meets_a_console_refusal(
    platform: Platform, clock: FrozenClock, helpdesk: Browser
) -> None:
    for path in ("/console/professionals/new", "/console/organisations/new"):
        response = helpdesk.get(path)
        assert response.status_code == 403
        assert "Only administrators may do this." in response.text and 'id="refused"' in response.text
        assert "Console menu" in response.text  # the console's layout and menu, not a bare page
    assert staff_browser(platform, clock, "administrator").get("/console/professionals/new").status_code == 200
