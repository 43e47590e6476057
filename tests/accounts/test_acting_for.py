"""Assistants and parents switch between their own record and the records they act for; professionals choose
the organisation they act for."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.persons.models import LegalRepresentation
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, letter_for, login
from tests.factories import as_holder, make_organisation, make_professional, make_record


def logged_in_person(platform: Platform, clock: FrozenClock, person) -> Browser:  # type: ignore[no-untyped-def]
    letter = letter_for(platform, person)
    browser = Browser(platform)
    browser.credentials = activate(browser, clock, person.national_number, letter.activation)  # type: ignore[attr-defined]
    return browser


def test_an_assistant_switches_to_the_holder_s_record_until_the_delegation_ends(
    platform: Platform, clock: FrozenClock
) -> None:
    with platform.transaction() as session:
        holder_record = make_record(session, platform)
        holder_record.holder.given_name = "Berthe"
        assistant = make_record(session, platform, active=False).holder
        as_holder(session, platform, holder_record).designate_assistant(
            holder_record.id, assistant.id, until=clock.now() + timedelta(days=2))
        holder = holder_record.holder
    browser = logged_in_person(platform, clock, assistant)
    assert holder.display_name in browser.get("/account").text
    response = browser.submit("/account/act-for", {"person": str(holder.id)})
    assert response.status_code == 303
    assert "You are acting for" in browser.get("/account").text
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(holder_record.id),
                                                         TraceEntry.action == "record.enter")).one()
        assert entry.basis == "assistant" and entry.on_behalf_of == str(holder.id)

    browser.submit("/account/act-for", {"person": ""}, form_page="/account")
    clock.advance(timedelta(days=3))  # the delegation has ended (and the session too: log in again)
    login(browser, clock, browser.credentials)  # type: ignore[attr-defined]
    assert holder.display_name not in browser.get("/account").text
    response = browser.submit("/account/act-for", {"person": str(holder.id)})
    assert response.status_code == 403, response.headers.get("location")
    assert "You are using your own record" in browser.get("/account").text
    with platform.sessions() as session:
        reasons = list(session.scalars(select(TraceEntry.reason).where(TraceEntry.chain == str(holder_record.id),
                                                                       TraceEntry.action == "record.enter")))
    assert reasons[-1] == "delegation_ended"


def test_a_holder_names_an_assistant_by_national_number(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
        helper = make_record(session, platform).holder
    browser = logged_in_person(platform, clock, holder)
    assert 'href="/record/assistants"' in browser.get("/account").text
    browser.get("/record/assistants")
    response = browser.submit("/record/assistants", {"national_number": helper.national_number, "until": ""})
    assert response.status_code == 303
    assert "The assistant was added" in browser.get(response.headers["location"]).text
    assert helper.display_name in browser.page
    response = browser.submit("/record/assistants", {"national_number": "1234", "until": ""})
    assert response.status_code == 400 and "No person with this national number can be named" in browser.page


def test_a_parent_sees_the_minor_child_s_record(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        parent = make_record(session, platform, active=False).holder
        child_record = make_record(session, platform, birth=date(2018, 3, 1))
        child_record.holder.given_name = "Léo"
        session.add(LegalRepresentation(minor_id=child_record.person_id, representative_id=parent.id,
                                        created_at=clock.now()))
        child = child_record.holder
    browser = logged_in_person(platform, clock, parent)
    assert "as legal representative" in browser.get("/account").text
    assert browser.submit("/account/act-for", {"person": str(child.id)}).status_code == 303
    assert child.display_name in browser.get("/account").text


def test_a_professional_logs_in_and_chooses_an_organisation(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        practice = make_organisation(session, platform, name="Cabinet Weber")
        hospital = make_organisation(session, platform, name="Hôpital du Nord")
        professional = make_professional(session, platform, organisation=practice)
        professional.organisations.append(hospital)
        account = services.account_of_professional(session=session, platform=platform, professional=professional)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence = professional.licence_number
        hospital_id = hospital.id
    credentials = activate(Browser(platform), clock, licence, code, realm="/pro")
    browser = Browser(platform)
    assert login(browser, clock, credentials).status_code == 303
    assert "Choose the organisation you act for" in browser.get("/account").text
    browser.submit("/account/organisation", {"organisation": str(hospital_id)})
    assert "Hôpital du Nord" in browser.get("/account").text


def test_the_records_offered_to_act_for_are_those_the_policy_lets_one_enter(platform: Platform,
                                                                            clock: FrozenClock) -> None:
    """Acting-for is decided by the policy, not by a copy of its rules: each option is one the policy permits."""
    from opendsp.accounts.delegations import acting_options

    with platform.transaction() as session:
        helper = make_record(session, platform).holder
        ongoing = make_record(session, platform)  # an assistant without an end date
        ending = make_record(session, platform)  # an assistant until tomorrow
        closed = make_record(session, platform)  # the holder side enters a closed record too
        child = make_record(session, platform, birth=date(2015, 6, 1))  # a minor the helper represents
        grown = make_record(session, platform, birth=date(2000, 6, 1))  # came of age: no longer represented
        for record, until in ((ongoing, None), (ending, clock.now() + timedelta(days=1)), (closed, None)):
            as_holder(session, platform, record).designate_assistant(record.id, helper.id, until=until)
        as_holder(session, platform, closed).close(closed.id)
        for minor in (child, grown):
            session.add(LegalRepresentation(minor_id=minor.person_id, representative_id=helper.id,
                                            created_at=clock.now()))
        session.flush()
        offered = {option.person_id: option.relation for option in acting_options(session, helper,
                                                                                   platform=platform)}
        assert offered == {ongoing.person_id: "assistant", ending.person_id: "assistant",
                           closed.person_id: "assistant", child.person_id: "representative"}
    clock.advance(timedelta(days=2))
    with platform.sessions() as session:
        offered_later = {o.person_id for o in acting_options(session, session.merge(helper), platform=platform)}
        assert ending.person_id not in offered_later and ongoing.person_id in offered_later


def test_a_former_legal_representative_who_is_an_assistant_switches_as_the_assistant(
    platform: Platform, clock: FrozenClock
) -> None:
    """Regression: the record was offered (as an assistant) but the switch was refused, because ``actor_for``
    preferred the representative role on file although the child had come of age."""
    with platform.transaction() as session:
        parent = make_record(session, platform, active=False).holder
        grown_record = make_record(session, platform, birth=date(2000, 6, 1))  # of age now
        as_holder(session, platform, grown_record).designate_assistant(grown_record.id, parent.id)
        session.add(LegalRepresentation(minor_id=grown_record.person_id, representative_id=parent.id,
                                        created_at=clock.now()))
        grown = grown_record.holder
    browser = logged_in_person(platform, clock, parent)
    assert grown.display_name in browser.get("/account").text
    response = browser.submit("/account/act-for", {"person": str(grown.id)})
    assert response.status_code == 303
    assert "You are acting for" in browser.get("/account").text
    assert browser.get("/record/documents").status_code == 200  # every page acts as the assistant too
    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(grown_record.id),
                                                           TraceEntry.action == "record.enter")).all()
        assert [(e.outcome.value, e.basis) for e in entries] == [("permitted", "assistant")]
