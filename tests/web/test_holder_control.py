"""The holder's control pages over HTTP: trace, professionals, consents, assistants, passwords, close and
reopen, download everything, languages — each flow, its refusals and its bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from opendsp import actors
from opendsp.access import export as exporting
from opendsp.access.models import AccessSettings, AssistantDelegation, BlockedProfessional, CircleMember, Wish
from opendsp.access.services import RecordAccess
from opendsp.access.wishes import WishKind, WishValue
from opendsp.clock import FrozenClock
from opendsp.persons.models import Language, LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.professionals.models import Professional
from opendsp.records.models import Record, RecordState
from opendsp.stays.models import InstitutionalRefusal
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import PDF, as_holder, as_professional, holder_draft, make_record, professional_draft
from tests.web.holder_world import World, build, entries, log_in, logged_in

CONTROL_PAGES = ["/record/trace", "/record/professionals", "/record/consents", "/record/assistants",
                 "/record/passwords", "/record/state", "/record/export"]


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> World:
    return build(platform, clock)


@pytest.fixture
def holder(platform: Platform, clock: FrozenClock, world: World) -> Browser:
    return log_in(platform, clock, world.credentials)


def rows(page: str) -> list[str]:
    return re.findall(r"<tr[^>]*data-action=\"([^\"]+)\"", page)


def done(browser: Browser, response) -> str:  # type: ignore[no-untyped-def]
    """Follow a form's redirect; the page it leads to."""
    assert response.status_code == 303, browser.page[-2000:]
    return browser.get(response.headers["location"]).text


# -- Traçabilité ----------------------------------------------------------------------------


def test_the_trace_tells_who_did_what_and_marks_emergencies(platform: Platform, world: World,
                                                            holder: Browser) -> None:
    page = holder.get("/record/trace").text
    assert holder.get("/record/trace").status_code == 200
    # Who: name, profession and specialties, organisation; what; on which basis.
    assert "Dr Urbain" in page and "Physician – Emergency medicine" in page and "Urgences Sud" in page
    assert "Opened the record in an emergency" in page and "Reason given: unconscious after a fall" in page
    assert "Jo Weber" in page and "Physician – General practice" in page and "Cabinet Weber" in page
    assert "Consulted a document" in page and "Bilan lipidique" in page and "Trusted circle" in page
    assert "wrong presence code" in page  # a refusal, with its reason
    # The delayed result's title stays hidden until its release; its deposit is still told.
    assert "Résultat à expliquer" not in page and page.count("Deposited a document") == 3
    # Emergency accesses stand out: their rows are marked, and say so in words.
    emergency_rows = re.findall(r'<tr class="opendsp-emergency[^"]*" data-action="([^"]+)"', page)
    assert emergency_rows == ["document.consult", "emergency.open"]
    assert page.count('govuk-tag--red govuk-!-margin-bottom-1">Emergency<') == 2

    # Reading the trace is traced, with the filters read.
    last = entries(platform, world.record_id)[-1]
    assert last.action == "trace.read" and last.basis == "holder" and last.context["filters"] == {"who": "not_holder_side"}


def test_the_trace_shows_the_accesses_by_others_first(platform: Platform, world: World, holder: Browser) -> None:
    """Regression: the holder's own page views flooded Traçabilité and pushed professionals' accesses off it."""
    for _ in range(60):  # the holder reads their own record, page after page
        holder.get(f"/record/documents/{world.document_id}")
    first = holder.get("/record/trace").text
    assert "Dr Urbain" in first and "Opened the record in an emergency" in first
    assert set(re.findall(r'data-actor-kind="([^"]+)"', first)) <= {"professional", "agency", "institution",
                                                                   "system", "anonymous"}
    own = holder.get("/record/trace?who=holder_side").text
    assert "Consulted a document" in own and 'value="holder_side" selected' in own
    everyone = holder.get("/record/trace?who=everyone")
    assert everyone.status_code == 200 and 'value="everyone" selected' in everyone.text


def test_the_trace_is_filtered_in_the_query_and_paged(platform: Platform, clock: FrozenClock, world: World,
                                                      holder: Browser) -> None:
    assert rows(holder.get("/record/trace?kind=opening").text) == ["presence.open", "emergency.open"]
    assert rows(holder.get("/record/trace?basis=emergency").text) == ["document.consult", "emergency.open"]
    assert rows(holder.get("/record/trace?outcome=refused").text) == ["presence.open"]
    who = rows(holder.get("/record/trace?who=professionals&kind=consultation").text)
    assert who == ["document.consult", "document.consult"]
    today = clock.now().date().isoformat()
    assert rows(holder.get(f"/record/trace?until={(clock.now().date() - timedelta(days=1)).isoformat()}").text) == []
    assert "No act matches these filters." in holder.page
    assert len(rows(holder.get(f"/record/trace?since={today}&until={today}&who=everyone").text)) > 10
    assert entries(platform, world.record_id)[-1].context["filters"] == {"since": today, "until": today,
                                                                         "who": "everyone"}

    # Bad input: a clear message, the bad filter left out, nothing else changed.
    response = holder.get("/record/trace?since=2025-13-45&kind=everything")
    assert response.status_code == 400
    assert "Enter the dates as YYYY-MM-DD" in response.text and "Choose one of the values offered." in response.text
    response = holder.get("/record/trace?since=2026-02-01&until=2026-01-01")
    assert response.status_code == 400 and "The start of the period is after its end." in response.text

    # Paged by fifty, newest first.
    with platform.transaction() as session:
        gp = as_professional(session, platform, session.get(Professional, world.gp))
        for _ in range(60):
            gp.list_documents(world.record_id)
    first = holder.get("/record/trace?who=everyone").text
    total = int(re.search(r"Acts 1 to 50 of (\d+)", first).group(1))  # type: ignore[union-attr]
    assert total > 60 and len(rows(first)) == 50 and rows(first)[0] == "trace.read"
    second = holder.get("/record/trace?who=everyone&page=2").text
    assert f"Acts 51 to {min(total + 1, 100)} of {total + 1}" in second  # one more: the first page's reading
    # By default, the accesses by others: the holder's own readings are not among them.
    assert "trace.read" not in rows(holder.get("/record/trace").text)
    assert holder.get("/record/trace?page=99").text.count("There is no act on this page.") == 1


def test_the_trace_downloads_as_csv_and_pdf(platform: Platform, world: World, holder: Browser) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, world.record_id)).deposit(
            world.record_id, holder_draft(title="=HYPERLINK(1)"), [PDF])
    response = holder.get("/record/trace.csv?basis=emergency")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="dsp-trace-schmit.csv"' == response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0][:5] == ["Date and time", "Who", "Profession", "Organisation", "Act"]
    assert [row[4] for row in table[1:]] == ["Consulted a document", "Opened the record in an emergency"]
    assert all(row[8] == "Yes" for row in table[1:]) and table[2][9] == "unconscious after a fall"
    download = entries(platform, world.record_id)[-1]
    assert download.action == "trace.read" and download.context == {"format": "csv",
                                                                   "filters": {"basis": "emergency"}}

    everything = list(csv.reader(io.StringIO(holder.get("/record/trace.csv").content.decode("utf-8-sig"))))
    deposit = next(row for row in everything if row[4] == "Deposited a document" and row[1] == "Anne Schmit")
    assert deposit[5] == "'=HYPERLINK(1)"  # a title, never a spreadsheet formula
    assert not any(cell.startswith("=") for row in everything for cell in row)

    response = holder.get("/record/trace.pdf?kind=opening")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages).split())
    assert "Anne Schmit" in text and "EMERGENCY: unconscious after a fall" in text and "wrong presence code" in text
    assert "Consulted a document" not in text  # filtered
    assert entries(platform, world.record_id)[-1].context["format"] == "pdf"


# -- Professionnels de santé ------------------------------------------------------------------


def test_the_holder_finds_professionals_and_manages_the_circle(platform: Platform, clock: FrozenClock,
                                                               world: World, holder: Browser) -> None:
    page = holder.get("/record/professionals").text
    assert "Jo Weber" in page and "Trusted circle" in page  # added when the world was built
    page = holder.submit("/record/professionals", {"q": "kle"}, form_page="/record/professionals").text
    assert "Dr Klein" in page and "Nurse" in page and "Soins Klein" in page and "Licence LIC-" in page
    assert entries(platform, world.record_id)[-1].context == {"query": "kle"}
    response = holder.submit("/record/professionals", {"q": "k"})
    assert response.status_code == 400 and "Type at least two characters" in response.text
    assert "No professional matches « zzz »." in holder.submit("/record/professionals", {"q": "zzz"}).text

    holder.submit("/record/professionals", {"q": "klein"})
    response = holder.submit("/record/professionals/circle",
                             {"professional": str(world.nurse), "comment": "Pansements", "until": "2026-06-30"})
    page = done(holder, response)
    assert "The professional was added to your trusted circle." in page
    assert "Pansements" in page and "01/01/2026" in page and "30/06/2026" in page
    with platform.sessions() as session:
        member = session.scalars(select(CircleMember).where(CircleMember.professional_id == world.nurse)).one()
        assert member.comment == "Pansements" and member.until is not None
        assert member.until.isoformat() == "2026-06-30T22:00:00+00:00"  # the day included, in Luxembourg
    added = entries(platform, world.record_id, "access.manage")[-1]
    assert added.context["change"] == "circle.add" and added.context["professional"] == str(world.nurse)

    # Bad input changes nothing and says why.
    for values, message in [
        ({"professional": str(world.urgentist), "until": "2025-12-31"}, "The end date must be in the future."),
        ({"professional": str(world.urgentist), "until": "31/12/2026"}, "Enter the date as YYYY-MM-DD"),
        ({"professional": "not-an-id"}, "Choose a professional from the search results."),
        ({"professional": str(uuid.uuid4())}, "This professional or organisation is not in the directory."),
        ({"professional": str(world.urgentist), "comment": "x" * 301}, "The comment has at most 300 characters."),
    ]:
        response = holder.submit("/record/professionals/circle", values, form_page="/record/professionals")
        assert response.status_code == 400 and message in holder.page, values
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CircleMember).where(
            CircleMember.removed_at.is_(None))) == 2

    # The referring doctor: a general practitioner yes, a nurse no.
    response = holder.submit("/record/professionals/referring-doctor", {"professional": str(world.gp)},
                             form_page="/record/professionals")
    assert "The referring doctor was designated." in done(holder, response)
    response = holder.submit("/record/professionals/referring-doctor", {"professional": str(world.nurse)})
    assert response.status_code == 400 and "cannot be a referring doctor" in holder.page
    with platform.sessions() as session:
        assert session.get(AccessSettings, world.record_id).referring_doctor_id == world.gp
    response = holder.submit("/record/professionals/referring-doctor", {"professional": ""})
    assert "You no longer have a referring doctor." in done(holder, response)

    # Removing from the circle ends the membership (kept as history).
    response = holder.submit(f"/record/professionals/circle/{world.nurse}/remove", {})
    assert "The professional was removed from your trusted circle." in done(holder, response)
    assert "Pansements" not in holder.page
    with platform.sessions() as session:
        assert session.scalars(select(CircleMember.removed_at).where(
            CircleMember.professional_id == world.nurse)).one() is not None


def test_emergency_access_blocks_and_hospitals(platform: Platform, world: World, holder: Browser) -> None:
    holder.get("/record/professionals")
    response = holder.submit("/record/professionals/emergency", {"allowed": "no"})
    assert "Emergency access is refused." in done(holder, response)
    with platform.sessions() as session:
        assert session.get(AccessSettings, world.record_id).emergency_allowed is False
    response = holder.submit("/record/professionals/emergency", {"allowed": "maybe"})
    assert response.status_code == 400 and "Choose whether emergency access is allowed." in holder.page
    with platform.transaction() as session, pytest.raises(AccessDenied):
        urgent = as_professional(session, platform, session.get(Professional, world.urgentist))
        urgent.open_emergency_access(world.record_id, "again")

    # Block from the search; the blocked professional is refused even in the circle.
    holder.submit("/record/professionals", {"q": "weber"}, form_page="/record/professionals")
    response = holder.submit("/record/professionals/blocked", {"professional": str(world.gp)})
    page = done(holder, response)
    assert "The professional is blocked" in page and 'id="blocked"' in page
    with platform.transaction() as session, pytest.raises(AccessDenied) as refused:
        as_professional(session, platform, session.get(Professional, world.gp)).consult(world.document_id)
    assert refused.value.decision.reason.value == "blocked"
    response = holder.submit(f"/record/professionals/blocked/{world.gp}/remove", {})
    assert "The professional is no longer blocked." in done(holder, response)
    with platform.sessions() as session:
        assert session.scalars(select(BlockedProfessional.removed_at)).one() is not None

    # Hospitals: altogether, or one by one.
    response = holder.submit("/record/professionals/institutions", {"allowed": "no"})
    assert "No hospital may open your record during a stay." in done(holder, response)
    assert "Refused for every hospital" in holder.page
    response = holder.submit("/record/professionals/institutions", {"allowed": "yes"})
    assert "Hospitals may open your record during a stay." in done(holder, response)
    response = holder.submit("/record/professionals/institutions/refused", {"organisation": str(world.hospital)})
    page = done(holder, response)
    assert "This hospital may no longer open your record during a stay." in page
    assert re.search(r'id="refused-institutions">\s*<li[^>]*>Hôpital Kirchberg', page)
    with platform.sessions() as session:
        refusal = session.scalars(select(InstitutionalRefusal).where(InstitutionalRefusal.removed_at.is_(None))).one()
        assert refusal.organisation_id == world.hospital
    response = holder.submit(f"/record/professionals/institutions/refused/{world.hospital}/remove", {})
    assert "This hospital may open your record again during a stay." in done(holder, response)
    response = holder.submit("/record/professionals/institutions/refused", {"organisation": "nowhere"})
    assert response.status_code == 400 and "Choose a hospital from the list." in holder.page


# -- Consentements --------------------------------------------------------------------------


def test_wishes_and_their_history(platform: Platform, clock: FrozenClock, world: World, holder: Browser) -> None:
    page = holder.get("/record/consents").text
    assert "Organ donation after my death" in page and "You have not stated any wish yet." in page
    response = holder.submit("/record/consents", {"kind": "organ_donation", "value": "yes", "comment": ""})
    assert "Your wish was recorded." in done(holder, response)
    clock.advance(timedelta(minutes=1))
    response = holder.submit("/record/consents", {"kind": "organ_donation", "value": "no",
                                                  "comment": "Après réflexion"})
    page = done(holder, response)
    assert re.search(r'id="current-organ_donation">Your answer: <strong>No</strong>', page)
    history = re.findall(r"<td data-label=\"Answer\">(Yes|No)</td>", page)
    assert history == ["No", "Yes"] and "Après réflexion" in page
    for values in ({"kind": "organ_donation", "value": "perhaps"}, {"kind": "haircut", "value": "yes"},
                   {"kind": "organ_donation", "value": "yes", "comment": "x" * 501}):
        assert holder.submit("/record/consents", values).status_code == 400
    assert "Choose one of the answers." in holder.submit("/record/consents", {"kind": "x", "value": "y"}).text
    with platform.sessions() as session:
        assert [w.value for w in session.scalars(select(Wish).order_by(Wish.set_at))] == ["yes", "no"]


# -- Accompagnateurs --------------------------------------------------------------------------


def test_assistants_end_dates_removal_and_the_switch(platform: Platform, clock: FrozenClock, world: World,
                                                     holder: Browser) -> None:
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        helper.given_name = "Hélène"
    holder.get("/record/assistants")
    response = holder.submit("/record/assistants", {"national_number": helper.national_number, "until": "2026-03-31"})
    page = done(holder, response)
    assert "Hélène Schmit" in page and "Assistant DSP" in page and "31/03/2026" in page
    for values, message in [({"national_number": "12", "until": ""}, "No person with this national number"),
                            ({"national_number": world.holder.national_number, "until": ""},
                             "No person with this national number"),
                            ({"national_number": helper.national_number, "until": "2025-01-01"},
                             "The end date must be in the future.")]:
        response = holder.submit("/record/assistants", values)
        assert response.status_code == 400 and message in holder.page

    response = holder.submit(f"/record/assistants/{helper.id}/until", {"until": ""})
    assert "The end date was changed." in done(holder, response) and "no end date" in holder.page
    response = holder.submit(f"/record/assistants/{world.gp}/until", {"until": ""})
    assert response.status_code == 400 and "This person is not an assistant of the record." in holder.page

    # The assistant acts for the holder, switching from this page; they cannot name assistants.
    assistant = logged_in(platform, clock, helper)
    page = assistant.get("/record/assistants").text
    assert "You act for nobody else" not in page and "Anne Schmit" in page
    response = assistant.submit("/account/act-for", {"person": str(world.holder.id), "next": "/record/assistants"})
    assert response.status_code == 303 and response.headers["location"] == "/record/assistants"
    page = assistant.get("/record/assistants").text
    assert "You are acting for Anne Schmit." in page and "an assistant cannot designate further assistants" in page
    assert 'action="/record/assistants/invite"' not in page
    response = assistant.submit(f"/record/assistants/{helper.id}/end", {})
    assert response.status_code == 403 and "an assistant cannot designate further assistants" in assistant.page
    assert assistant.submit("/account/act-for", {"person": "", "next": "//evil.example"}).headers[
        "location"] == "/account"

    # The holder removes the assistant: their next page of the record is refused, saying why.
    assistant.submit("/account/act-for", {"person": str(world.holder.id), "next": "/record/trace"},
                     form_page="/account")
    response = holder.submit(f"/record/assistants/{helper.id}/end", {}, form_page="/record/assistants")
    assert "The assistant was removed" in done(holder, response)
    with platform.sessions() as session:
        assert session.scalars(select(AssistantDelegation.ended_at)).one() is not None
    for path in CONTROL_PAGES:
        response = assistant.get(path)
        assert response.status_code == 403 and "You cannot open this page" in response.text, path
        assert "only the holder, their assistants and legal representatives act on the record" in response.text


def test_an_assistant_whose_delegation_ended_is_refused_everywhere(platform: Platform, clock: FrozenClock,
                                                                   world: World) -> None:
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id, until=clock.now() + timedelta(minutes=10))
    assistant = logged_in(platform, clock, helper)
    assert assistant.submit("/account/act-for", {"person": str(world.holder.id)},
                            form_page="/account").status_code == 303
    assert assistant.get("/record/professionals").status_code == 200
    clock.advance(timedelta(minutes=10))  # the delegation ends while the assistant's session goes on
    for path in CONTROL_PAGES:
        response = assistant.get(path)
        assert response.status_code == 403 and "the delegation to this assistant has ended" in response.text, path
    assistant.get("/account")
    for path in ["/record/professionals/emergency", "/record/passwords/presence-code", "/record/export",
                 "/record/state/close/confirm"]:
        response = assistant.client.post(path, data={"csrf_token": assistant.csrf(), "allowed": "no",
                                                     "confirm": "yes"})
        assert response.status_code == 403, path
    with platform.sessions() as session:
        assert session.get(AccessSettings, world.record_id).emergency_allowed is True
        assert session.get(Record, world.record_id).state is RecordState.active
    refused = [e for e in entries(platform, world.record_id) if e.reason == "delegation_ended"]
    assert len(refused) >= len(CONTROL_PAGES) and all(e.outcome.value == "refused" for e in refused)


def test_a_parent_acts_for_a_minor_child(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        parent = make_record(session, platform, active=False).holder
        child_record = make_record(session, platform, birth=date(2015, 6, 1))
        child_record.holder.given_name = "Léo"
        session.add(LegalRepresentation(minor_id=child_record.person_id, representative_id=parent.id,
                                        created_at=clock.now()))
        helper = make_record(session, platform).holder
        child, child_record_id = child_record.holder, child_record.id
    browser = logged_in(platform, clock, parent)
    page = browser.get("/record/assistants").text
    assert "Léo Schmit" in page and "as legal representative" in page
    browser.submit("/account/act-for", {"person": str(child.id), "next": "/record/assistants"})
    page = browser.get("/record/assistants").text
    assert "You are acting for Léo Schmit." in page and "Legal representative" in page and parent.display_name in page
    response = browser.submit("/record/assistants", {"national_number": helper.national_number, "until": ""})
    assert "The assistant was added." in done(browser, response)
    added = entries(platform, child_record_id, "assistants.manage")[-1]
    assert added.actor_id == str(parent.id) and added.basis == "representative"
    for path in CONTROL_PAGES:
        assert browser.get(path).status_code == 200, path


# -- Mots de passe ----------------------------------------------------------------------------


def test_a_new_presence_code_is_shown_once_and_the_old_one_stops(platform: Platform, clock: FrozenClock,
                                                                 world: World, holder: Browser) -> None:
    page = holder.get("/record/passwords").text
    assert world.holder.national_number in page and "Keep it with you at all times" in page
    assert "The current presence code was made on" in page and 'id="presence-code"' not in page
    response = holder.submit("/record/passwords/presence-code", {})
    assert response.status_code == 200
    code = re.search(r'id="presence-code">([A-Z2-9]{4}-[A-Z2-9]{4})<', holder.page).group(1)  # type: ignore[union-attr]
    assert "It is shown only this once" in holder.page
    assert code not in holder.get("/record/passwords").text  # once
    assert entries(platform, world.record_id, "access.manage")[-1].context["change"] == "presence_code.regenerate"
    with platform.transaction() as session:
        nurse = as_professional(session, platform, session.get(Professional, world.nurse))
        with pytest.raises(AccessDenied):
            nurse.open_with_presence_code(world.record_id, world.presence_code)
    with platform.transaction() as session:
        nurse = as_professional(session, platform, session.get(Professional, world.nurse))
        assert nurse.open_with_presence_code(world.record_id, code).expires_at == clock.now() + timedelta(hours=24)


def test_an_assistant_generates_a_presence_code_as_the_policy_says(platform: Platform, clock: FrozenClock,
                                                                   world: World) -> None:
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id)
        helper_person = session.get(Person, helper.id)
        holder_person = session.get(Person, world.holder.id)
        assert helper_person is not None and holder_person is not None
        permitted = RecordAccess(session=session, platform=platform, actor=actors.assistant(
            helper_person, acting_for=holder_person)).may(world.record_id, Action.manage_access)
    assistant = logged_in(platform, clock, helper)
    assistant.submit("/account/act-for", {"person": str(world.holder.id)}, form_page="/account")
    page = assistant.get("/record/passwords").text
    assert helper.national_number in page and "You act for Anne Schmit with your own identifier" in page
    assert ('id="generate"' in page) is permitted
    response = assistant.submit("/record/passwords/presence-code", {})
    assert (response.status_code == 200) is permitted
    assert (re.search(r'id="presence-code">', assistant.page) is not None) is permitted
    generated = entries(platform, world.record_id, "access.manage")[-1]
    assert generated.context["change"] == "presence_code.regenerate" and generated.basis == "assistant"


# -- Close and reopen -----------------------------------------------------------------------


def test_closing_and_reopening_are_confirmed_twice(platform: Platform, world: World, holder: Browser) -> None:
    page = holder.get("/record/state").text
    assert "What closing the record changes" in page and "Nothing is deleted" in page
    response = holder.submit("/record/state/close", {"reason": "  Je déménage  "})
    assert response.status_code == 200 and "Do you really want to close the record of Anne Schmit?" in holder.page
    assert 'name="reason" value="Je déménage"' in holder.page

    def state() -> RecordState:
        with platform.sessions() as session:
            return session.get(Record, world.record_id).state  # type: ignore[union-attr]

    assert state() is RecordState.active  # the first form changes nothing
    response = holder.submit("/record/state/close/confirm", {"reason": "Je déménage"})  # the box not ticked
    assert response.status_code == 400 and "Tick the box to confirm." in holder.page and state() is RecordState.active
    response = holder.submit("/record/state/close/confirm", {"reason": "Je déménage", "confirm": "yes"})
    page = done(holder, response)
    assert "The record is closed. You can reopen it at any time." in page and state() is RecordState.closed
    closed = entries(platform, world.record_id, "record.close")[-1]
    assert closed.context["reason_text"] == "Je déménage" and closed.basis == "holder"
    with platform.transaction() as session, pytest.raises(AccessDenied) as refused:
        as_professional(session, platform, session.get(Professional, world.gp)).consult(world.document_id)
    assert refused.value.decision.reason.value == "record_closed"

    # While closed: read-only pages saying why; changes refused.
    page = holder.get("/record/professionals").text
    assert "This cannot be changed now: the record is closed." in page and 'action="/record/professionals/emergency"' not in page
    response = holder.submit("/record/professionals/emergency", {"allowed": "no"})
    assert response.status_code == 403 and "This was refused: the record is closed." in holder.page
    assert holder.get("/record/trace").status_code == 200 and holder.get("/record/export").status_code == 200
    assert holder.submit("/record/state/close", {}).status_code == 403  # already closed

    page = holder.get("/record/state").text
    assert "What reopening the record changes" in page
    response = holder.submit("/record/state/reopen", {})
    assert "Do you really want to reopen the record of Anne Schmit?" in holder.page
    assert holder.submit("/record/state/reopen/confirm", {}).status_code == 400 and state() is RecordState.closed
    response = holder.submit("/record/state/reopen/confirm", {"confirm": "yes"})
    assert "The record is open again." in done(holder, response) and state() is RecordState.active
    response = holder.submit("/record/state/close", {"reason": "x" * 501})
    assert response.status_code == 400 and "The reason has at most 500 characters." in holder.page


# -- Download everything ----------------------------------------------------------------------


def test_the_export_holds_documents_fhir_and_trace_and_is_traced_once(platform: Platform, world: World,
                                                                     holder: Browser) -> None:
    from fhir.resources.R4B.bundle import Bundle

    assert "Download the record (zip)" in holder.get("/record/export").text
    before = len(entries(platform, world.record_id))
    response = holder.submit("/record/export", {})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="dsp-schmit-anne-2026-01-01.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert {"README.txt", "documents.csv", "fhir/bundle.json", "trace/trace.csv", "trace/trace.json"} <= set(names)
    documents = [n for n in names if n.startswith("documents/")]
    assert len(documents) == 2  # the PDF and the structured report; not the result whose release is delayed
    pdf = next(n for n in documents if "bilan-lipidique" in n)
    assert archive.read(pdf) == PDF
    structured = json.loads(archive.read(next(n for n in documents if n.endswith(".json"))))
    assert structured["resourceType"] == "Bundle" and structured["type"] == "document"
    listing = archive.read("documents.csv").decode("utf-8-sig")
    assert "Bilan lipidique" in listing and "Résultat à expliquer" not in listing

    bundle = json.loads(archive.read("fhir/bundle.json"))
    Bundle.model_validate(bundle)  # valid FHIR
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("DocumentReference") == 2 and "Bundle" in kinds
    assert "Consent" in kinds
    reference = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
                     and e["resource"]["description"] == "Bilan lipidique")
    assert reference["content"][0]["attachment"]["url"] == pdf

    trace = json.loads(archive.read("trace/trace.json"))
    assert [e["seq"] for e in trace] == sorted(e["seq"] for e in trace) and trace[-1]["action"] == "record.export"
    assert any(e["emergency"] and e["emergency_reason"] == "unconscious after a fall" for e in trace)
    assert all(len(e["hash"]) == 64 for e in trace)
    stored = {e.seq: e.hash for e in entries(platform, world.record_id)}
    assert all(stored[e["seq"]] == e["hash"] for e in trace)
    assert "Opened the record in an emergency" in archive.read("trace/trace.csv").decode("utf-8-sig")

    exports = [e for e in entries(platform, world.record_id)[before:] if e.action == "record.export"]
    assert len(exports) == 1 and exports[0].context == {"part": "all"}  # one act, traced once
    assert len(entries(platform, world.record_id)) == before + 1


def test_the_export_is_streamed_piece_by_piece(platform: Platform, world: World) -> None:
    with platform.transaction() as session:
        gp = as_professional(session, platform, session.get(Professional, world.gp))
        big = bytes(range(256)) * 4096  # 1 MiB that does not compress
        document = gp.deposit(world.record_id, professional_draft(title="Grand scanner"), [b"%PDF-1.4\n" + big])
        access = as_holder(session, platform, session.get(Record, world.record_id))
        plan = exporting.prepare(access, world.record_id, language="fr")
    chunks = list(exporting.stream(platform, plan))
    assert len(chunks) > 10 and max(len(c) for c in chunks) < 512 * 1024  # never the whole archive at once
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert "LISEZ-MOI.txt" in archive.namelist()
    assert any(archive.read(n) == b"%PDF-1.4\n" + big for n in archive.namelist() if str(document.id)[:8] in n)


def test_an_export_refused_is_traced_and_sends_nothing(platform: Platform, clock: FrozenClock, world: World) -> None:
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id, until=clock.now() + timedelta(minutes=10))
    assistant = logged_in(platform, clock, helper)
    assistant.submit("/account/act-for", {"person": str(world.holder.id)}, form_page="/account")
    assistant.get("/record/export")
    clock.advance(timedelta(minutes=10))
    response = assistant.submit("/record/export", {})
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")
    refused = entries(platform, world.record_id)[-1]  # refused at the record's door, before any export
    assert refused.action == "record.enter" and refused.outcome.value == "refused"
    assert refused.reason == "delegation_ended" and not entries(platform, world.record_id, "record.export")


# -- who may reach these pages ------------------------------------------------------------------


def test_only_persons_logged_in_reach_the_pages(platform: Platform, clock: FrozenClock, world: World) -> None:
    from opendsp.accounts import services
    from opendsp.actors import SYSTEM
    from tests.accounts.portal import activate, login

    anonymous = Browser(platform)
    for path in CONTROL_PAGES + ["/record/trace.csv", "/record/trace.pdf"]:
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    with platform.transaction() as session:
        professional = session.get(Professional, world.gp)
        account = services.account_of_professional(session=session, platform=platform, professional=professional)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence = professional.licence_number  # type: ignore[union-attr]
    credentials = activate(Browser(platform), clock, licence, code, realm="/pro")
    doctor = Browser(platform)
    login(doctor, clock, credentials)
    before = len(entries(platform, world.record_id))
    for path in CONTROL_PAGES + ["/record/trace.csv"]:
        response = doctor.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    doctor.get("/account")
    response = doctor.client.post("/record/export", data={"csrf_token": doctor.csrf()})
    assert response.status_code == 303 and len(entries(platform, world.record_id)) == before


def test_every_form_of_the_record_needs_a_csrf_token(platform: Platform, world: World, holder: Browser) -> None:
    from opendsp.web.holder import assistants, consents, export, passwords, professionals, state, trace

    posts = [route.path for part in (trace, professionals, consents, assistants, passwords, state, export)
             for route in part.router.routes if "POST" in getattr(route, "methods", set())]
    assert len(posts) >= 20
    for path in posts:
        concrete = re.sub(r"\{[a-z_]+\}", str(world.gp), path)
        response = holder.client.post(concrete, data={"allowed": "no", "confirm": "yes"})
        assert response.status_code == 403, path
    with platform.sessions() as session:
        assert session.get(AccessSettings, world.record_id).emergency_allowed is True


# -- languages --------------------------------------------------------------------------------


def test_the_chosen_language_is_the_person_s_and_comes_back_at_the_next_login(
        platform: Platform, clock: FrozenClock, world: World, holder: Browser) -> None:
    response = holder.choose_language("de", "/record/professionals")
    assert response.status_code == 303 and response.headers["location"] == "/record/professionals"
    assert "Gesundheitsfachkräfte" in holder.get("/record/professionals").text
    with platform.sessions() as session:
        assert session.get(Person, world.holder.id).preferred_language is Language.de  # type: ignore[union-attr]
    changed = [e for e in entries(platform, world.record_id) if e.action == "account.language"]
    assert len(changed) == 1 and changed[0].context["language"] == "de"
    holder.choose_language("xx", "/record/trace")  # not a language: nothing changes
    with platform.sessions() as session:
        assert session.get(Person, world.holder.id).preferred_language is Language.de  # type: ignore[union-attr]

    again = log_in(platform, clock, world.credentials)  # another device, a browser that asks for English
    page = again.get("/record/consents").text
    assert '<html lang="de"' in page and "Organspende nach meinem Tod" in page
    assert "Protokoll der Zugriffe" in again.get("/record/trace").text
    anonymous = Browser(platform, language="fr")
    anonymous.choose_language("en", "/login")  # not logged in: only the browser remembers
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == "account.language")) == 1


class Misses:
    """A gettext fallback that notes every message a catalogue lacked while a page was made."""

    def __init__(self) -> None:
        self.missing: set[str] = set()

    def gettext(self, message: str) -> str:
        self.missing.add(message)
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.missing.add(singular)
        return singular if n == 1 else plural


@pytest.mark.parametrize("language", ["fr", "de", "en", "pt"])
def test_every_control_page_is_translated(platform: Platform, clock: FrozenClock, world: World, language: str) -> None:
    from opendsp.locale import catalogue as catalogue_of
    from opendsp.locale import translations

    browser = log_in(platform, clock, world.credentials)
    browser.choose_language(language, "/record/trace")
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, world.record_id)).set_wish(
            world.record_id, WishKind.organ_donation, WishValue.yes)
    catalogue = translations(language)
    misses = Misses()
    catalogue.add_fallback(misses)  # type: ignore[arg-type]
    try:
        pages = CONTROL_PAGES + ["/record/trace?kind=account", "/record/trace?since=bad", "/account"]
        for path in pages:
            response = browser.get(path)
            assert response.status_code in (200, 400) and f'<html lang="{language}"' in response.text, path
        for search in ("weber", "x"):
            response = browser.submit("/record/professionals", {"q": search}, form_page="/record/professionals")
            assert response.status_code in (200, 400) and f'<html lang="{language}"' in response.text, search
        browser.submit("/record/passwords/presence-code", {}, form_page="/record/passwords")
        browser.submit("/record/state/close", {}, form_page="/record/state")
        browser.submit("/record/state/close/confirm", {})
        browser.submit("/record/professionals/circle", {"professional": "x"}, form_page="/record/professionals")
        browser.get("/record/trace.pdf")
        browser.get("/record/trace.csv")
        browser.submit("/record/export", {}, form_page="/record/export")
    finally:
        catalogue._fallback = None  # type: ignore[attr-defined]
    # English is the source language: a message the English catalogue holds untranslated is its own text.
    known = {m.id for m in catalogue_of(language) if m.id} if language == "en" else set()
    missing = misses.missing - known
    assert not missing, f"{language}: untranslated {sorted(missing)[:10]}"
