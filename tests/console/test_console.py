"""The agency's console over HTTP: staff login, finding persons, helpdesk acts, registrations, figures.
Nothing it shows is clinical content, and every act is traced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from opendsp.accounts import services
from opendsp.accounts.models import Account, AccountState
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate, letter_for, login
from tests.factories import deposit_pdf, make_organisation, make_record


def staff_browser(platform: Platform, clock: FrozenClock, *roles: str) -> Browser:
    with platform.transaction() as session:
        account = services.register_staff(session=session, platform=platform, actor=SYSTEM,
                                          username=f"staff{len(roles)}{roles[0][:3]}", display_name="Marie Helpdesk",
                                          roles=list(roles))
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        username = account.login
    credentials = activate(Browser(platform), clock, username, code, realm="/console")
    browser = Browser(platform)
    assert login(browser, clock, credentials, realm="/console").headers["location"] == "/console"
    return browser


@pytest.fixture
def helpdesk(platform: Platform, clock: FrozenClock) -> Browser:
    return staff_browser(platform, clock, "helpdesk")


def test_the_console_needs_a_staff_login(platform: Platform, clock: FrozenClock) -> None:
    anonymous = Browser(platform)
    assert anonymous.get("/console").headers["location"] == "/console/login"
    # A holder's session does not open the console either.
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    holder = Browser(platform)
    activate(holder, clock, person.national_number, letter_for(platform, person).activation)
    assert holder.get("/console").status_code == 303
    # Staff do not log in on the holders' portal.
    response = anonymous.submit("/login", {"identifier": "staff1hel", "password": "whatever password"},
                                form_page="/login")
    assert response.status_code == 400


def test_find_a_person_and_see_the_account_state_without_clinical_content(
    platform: Platform, clock: FrozenClock, helpdesk: Browser
) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        person = record.holder
    page = helpdesk.submit("/console", {"q": person.family_name}, form_page="/console").text
    assert person.national_number in page
    page = helpdesk.submit("/console", {"q": person.national_number}, form_page="/console").text
    assert f"/console/persons/{person.id}" in page
    page = helpdesk.get(f"/console/persons/{person.id}").text
    assert "created" in page  # the account has no letter yet
    assert "Mes analyses" not in page and "personal_document" not in page
    with platform.sessions() as session:
        entries = list(session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record.id),
                                                                TraceEntry.action == "console.account.view")))
        assert entries and entries[0].actor_kind == "agency"
        assert not session.scalars(select(TraceEntry).where(TraceEntry.actor_kind == "agency",
                                                            TraceEntry.action == "document.consult")).first()


def test_send_a_new_letter_unlock_and_reset_a_second_factor(
    platform: Platform, clock: FrozenClock, helpdesk: Browser
) -> None:
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    helpdesk.get(f"/console/persons/{person.id}")
    assert helpdesk.submit(f"/console/persons/{person.id}/letter").status_code == 200
    assert "letter sent" in helpdesk.page
    assert list(platform.settings.letters_dir.glob("*.pdf"))  # type: ignore[union-attr]

    letter = letter_for(platform, person)
    holder = Browser(platform)
    credentials = activate(holder, clock, person.national_number, letter.activation)
    for _ in range(platform.settings.login_max_failures):
        Browser(platform).submit("/login", {"identifier": person.national_number, "password": "wrong password!!"},
                                 form_page="/login")
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.person_id == person.id)).one()
    page = helpdesk.get(f"/console/persons/{person.id}").text
    assert "locked" in page
    assert helpdesk.submit(f"/console/accounts/{account.id}/unlock").status_code == 200
    assert login(Browser(platform), clock, credentials).status_code == 303

    # Resetting a lost second factor needs two identity checks and a ticket reference.
    helpdesk.get(f"/console/persons/{person.id}")
    assert helpdesk.submit(f"/console/accounts/{account.id}/reset-second-factor",
                           {"checks": ["identity_document"], "reference": ""}).status_code == 400
    helpdesk.get(f"/console/persons/{person.id}")
    response = helpdesk.submit(f"/console/accounts/{account.id}/reset-second-factor",
                               {"checks": ["identity_document", "call_back"], "reference": "T-1234"})
    assert response.status_code == 200
    assert holder.get("/account").status_code == 303  # every session ended
    with platform.sessions() as session:
        account = session.get(Account, account.id)
        assert account.state is AccountState.letter_sent and account.totp_secret is None
    # The person activates again with the new letter.
    _renew(platform, clock, person)


def _renew(platform: Platform, clock: FrozenClock, person) -> Credentials:  # type: ignore[no-untyped-def]
    letter = letter_for(platform, person)
    clock.advance(timedelta(seconds=30))
    return activate(Browser(platform), clock, person.national_number, letter.activation)


def test_administrators_register_organisations_and_professionals(platform: Platform, clock: FrozenClock) -> None:
    admin = staff_browser(platform, clock, "administrator")
    admin.get("/console/organisations/new")
    assert admin.submit("/console/organisations/new", {"identifier": "ORG-X", "name": "Cabinet X", "kind": "practice",
                                                       "city": "Esch"}).status_code == 200
    with platform.sessions() as session:
        from opendsp.professionals.models import Organisation

        organisation = session.scalars(select(Organisation).where(Organisation.identifier == "ORG-X")).one()
    admin.get("/console/professionals/new")
    response = admin.submit("/console/professionals/new", {
        "licence_number": "L-1", "family_name": "Weber", "given_name": "Jo", "profession": "physician",
        "specialties": ["general_practice"], "organisations": [str(organisation.id)]})
    assert response.status_code == 200 and 'id="activation-code"' in admin.page


def test_helpdesk_staff_do_not_register_professionals(platform: Platform, clock: FrozenClock, helpdesk: Browser) -> None:
    assert helpdesk.get("/console/professionals/new").status_code == 403


def test_figures_are_pictures_with_their_table(platform: Platform, clock: FrozenClock, helpdesk: Browser) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        make_organisation(session, platform)
    page = helpdesk.get("/console/statistics").text
    assert page.count("<svg xmlns") == 3 and 'role="img"' in page
    assert "Record activations per month" in page and "by professionals" in page
