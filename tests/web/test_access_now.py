"""Who has access right now, and ending a presence-code access (the holder's professionals page); the holder's
wishes on the professional's patient view and summary. Both through RecordAccess, the policy and the trace."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from opendsp.access.models import PresenceGrant
from opendsp.access.wishes import WishKind, WishValue
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.professionals.models import Professional
from opendsp.records.models import Record
from opendsp.stays.models import PatientClass, Stay, StayState
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, make_record
from tests.web.holder_world import World, entries, holder, logged_in, world  # noqa: F401 - fixtures
from tests.web.indistinguishable import answer
from tests.web.professional import Pro, professional_with_account, record_with_code

PAGE = "/record/professionals"


def _open_with_code(platform: Platform, world: World, professional_id: uuid.UUID) -> uuid.UUID:
    with platform.transaction() as session:
        access = as_professional(session, platform, session.get(Professional, professional_id))
        return access.open_with_presence_code(world.record_id, world.presence_code).id


def _running(page: str) -> list[str]:
    section = page.split('id="running-title"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<tr data-basis="([^"]+)"', section)


def test_the_holder_sees_who_has_access_now_and_ends_a_presence_code_access(
    platform: Platform, clock: FrozenClock, world: World, holder: Browser
) -> None:
    grant = _open_with_code(platform, world, world.nurse)
    with platform.transaction() as session:  # a stay in progress at the hospital opens the record too
        session.add(Stay(record_id=world.record_id, organisation_id=world.hospital, visit_number="V-1",
                         patient_class=PatientClass.inpatient, state=StayState.in_progress,
                         admitted_at=clock.now() - timedelta(hours=2), updated_at=clock.now()))
    page = holder.get(PAGE).text
    # The emergency of the world, the nurse's code, the stay: who, how, since, until.
    assert sorted(_running(page)) == ["emergency", "presence_code", "stay"]
    section = page.split('id="running-title"', 1)[1].split("</section>", 1)[0]
    assert "Dr Urbain" in section and "Reason given: unconscious after a fall" in section
    assert "Klein" in section and "With your presence code" in section and "Hôpital Kirchberg" in section
    assert "While the stay lasts" in section
    assert section.count("End this access now") == 1 and f"/accesses/{grant}/end" in section

    # Not confirmed: nothing ends.
    response = holder.submit(f"{PAGE}/accesses/{grant}/end", {})
    assert response.status_code == 400 and "Tick the box to confirm that this access ends now." in holder.page
    with platform.transaction() as session:
        nurse = as_professional(session, platform, session.get(Professional, world.nurse))
        assert nurse.may(world.record_id, Action.list_documents)

    response = holder.submit(f"{PAGE}/accesses/{grant}/end", {"confirm": "yes"}, form_page=PAGE)
    assert response.status_code == 303
    page = holder.get(response.headers["location"]).text
    assert "The access was ended" in page and sorted(_running(page)) == ["emergency", "stay"]

    # The nurse's next request is refused; the trace shows the ending, by whom, of whom.
    with platform.transaction() as session:
        nurse = as_professional(session, platform, session.get(Professional, world.nurse))
        decision = nurse.would(world.record_id, Action.list_documents)
        assert not decision.permitted and decision.reason.value == "no_access"
    ended = entries(platform, world.record_id, "access.manage")[-1]
    assert ended.context["change"] == "presence_access.end" and ended.basis == "holder"
    assert ended.context["professional"] == str(world.nurse) and ended.context["grant"] == str(grant)
    trace = holder.get("/record/trace?kind=choices&who=holder_side").text
    assert "Access with the presence code ended" in trace and "Klein" in trace

    # Ending it again: it is not running any more, the same answer as an unknown id.
    again = holder.submit(f"{PAGE}/accesses/{grant}/end", {"confirm": "yes"}, form_page=PAGE)
    unknown = holder.submit(f"{PAGE}/accesses/{uuid.uuid4()}/end", {"confirm": "yes"}, form_page=PAGE)
    assert again.status_code == unknown.status_code == 400 and answer(again) == answer(unknown)
    assert "This access is not open (any more)." in unknown.text


def test_the_professional_whose_access_was_ended_is_refused_over_http(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, code = record_with_code(platform)
    opened = pro.browser.submit(f"/pro/patients/{record.id}/presence-code", {"code": code},
                                form_page=f"/pro/patients/{record.id}")
    assert opened.status_code == 303 and pro.browser.get(f"/pro/patients/{record.id}").status_code == 200
    with platform.transaction() as session:
        grant = session.scalars(select(PresenceGrant).where(PresenceGrant.record_id == record.id)).one()
        as_holder(session, platform, session.get(Record, record.id)).end_presence_access(record.id, grant.id)
    refused = pro.browser.get(f"/pro/patients/{record.id}")
    assert refused.status_code == 403 and "You have no access to this record." in refused.text
    assert 'data-kind="presence_code"' not in pro.browser.get("/pro").text


def test_another_holder_cannot_end_someone_else_s_access(platform: Platform, clock: FrozenClock,
                                                         world: World) -> None:
    grant = _open_with_code(platform, world, world.nurse)
    with platform.transaction() as session:
        other = make_record(session, platform, active=False).holder
    intruder = logged_in(platform, clock, other)
    forged = intruder.submit(f"{PAGE}/accesses/{grant}/end", {"confirm": "yes"}, form_page=PAGE)
    unknown = intruder.submit(f"{PAGE}/accesses/{uuid.uuid4()}/end", {"confirm": "yes"}, form_page=PAGE)
    malformed = intruder.submit(f"{PAGE}/accesses/not-an-id/end", {"confirm": "yes"}, form_page=PAGE)
    assert forged.status_code == 400 and answer(forged) == answer(unknown)
    # A malformed id: the same answer but for the address echoed in the language links.
    assert answer(malformed).body.replace(b"not-an-id", b"<id>") == answer(unknown).body
    assert "Klein" not in forged.text
    with platform.sessions() as session:  # the nurse's access runs on
        assert session.get(PresenceGrant, grant).expires_at > clock.now()  # type: ignore[union-attr]
    assert not [e for e in entries(platform, world.record_id, "access.manage")
                if e.context.get("change") == "presence_access.end"]


def test_an_assistant_ends_an_access_with_the_holder_s_rights(platform: Platform, clock: FrozenClock,
                                                              world: World) -> None:
    grant = _open_with_code(platform, world, world.nurse)
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id)
    assistant = logged_in(platform, clock, helper)
    assistant.submit("/account/act-for", {"person": str(world.holder.id)}, form_page="/account")
    response = assistant.submit(f"{PAGE}/accesses/{grant}/end", {"confirm": "yes"}, form_page=PAGE)
    assert response.status_code == 303
    ended = entries(platform, world.record_id, "access.manage")[-1]
    assert ended.context["change"] == "presence_access.end" and ended.basis == "assistant"
    assert ended.on_behalf_of == str(world.holder.id)


# -- the holder's wishes on the professional's pages -------------------------------------------------------


def _wish(platform: Platform, record: Record, value: WishValue = WishValue.yes) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).set_wish(
            record.id, WishKind.organ_donation, value, comment="Tout sauf les yeux")


def _pro_in_circle(platform: Platform, clock: FrozenClock, record: Record) -> Pro:
    pro = professional_with_account(platform, clock)
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, record.id)).add_to_circle(record.id, pro.id)
    return pro


def test_a_professional_with_access_sees_the_wishes_in_the_patient_view_and_the_summary(
    platform: Platform, clock: FrozenClock
) -> None:
    record, _ = record_with_code(platform)
    pro = _pro_in_circle(platform, clock, record)
    empty = pro.browser.get(f"/pro/patients/{record.id}").text
    wishes = empty.split('id="wishes"', 1)[1].split("</section>", 1)[0]
    assert "Consents and wishes of the patient" in empty and "Organ donation after death" in wishes
    assert "Not stated" in wishes
    _wish(platform, record)
    for path, action in ((f"/pro/patients/{record.id}", "documents.list"),
                         (f"/pro/patients/{record.id}/summary", "document.consult")):
        before = len(entries(platform, record.id))
        page = pro.browser.get(path)
        assert page.status_code == 200
        wishes = page.text.split('id="wishes"', 1)[1].split("</section>", 1)[0]
        assert "<strong>Yes</strong>" in wishes and "Tout sauf les yeux" in wishes
        # One act, one entry: the page's own, which says the wishes went with it.
        (entry,) = entries(platform, record.id)[before:]
        assert entry.action == action and entry.outcome.value == "permitted" and entry.basis == "circle"
        assert entry.context["wishes"] is True and entry.actor_id == str(pro.id)
    # A keyword search of the documents is not the patient view: no wishes, and its entry says none.
    searched = pro.browser.submit(f"/pro/patients/{record.id}", {"q": "bilan"}, form_page=f"/pro/patients/{record.id}")
    assert searched.status_code == 200 and 'id="wishes"' not in searched.text
    assert "wishes" not in entries(platform, record.id, "documents.list")[-1].context
    in_french = pro.browser.get(f"/pro/patients/{record.id}", headers={"accept-language": "fr"})
    assert in_french.status_code == 200


def test_the_holder_reads_in_the_trace_that_a_professional_read_the_wishes(
    platform: Platform, clock: FrozenClock, world: World, holder: Browser
) -> None:
    with platform.sessions() as session:
        record = session.get(Record, world.record_id)
        assert record is not None
        session.expunge(record)
    _wish(platform, record, WishValue.no)
    with platform.transaction() as session:
        gp = as_professional(session, platform, session.get(Professional, world.gp))
        listed = gp.list_documents(world.record_id, with_wishes=True)
        assert listed.wishes is not None and listed.wishes["organ_donation"].value == "no"
    page = holder.get("/record/trace?kind=consultation").text
    line = page.split("with your wishes (organ donation, ...)", 1)[0].rsplit("<tr", 1)[1]
    assert "Weber" in line and "Looked at the list of documents" in line


def test_a_professional_without_access_or_blocked_sees_no_wishes(platform: Platform, clock: FrozenClock) -> None:
    with_wish, _ = record_with_code(platform)
    without, _ = record_with_code(platform)
    _wish(platform, with_wish)
    stranger = professional_with_account(platform, clock, family_name="Fremd")
    pages = [stranger.browser.get(f"/pro/patients/{r.id}{s}") for r in (with_wish, without) for s in ("", "/summary")]
    assert {p.status_code for p in pages} == {403}
    assert answer(pages[0]) == answer(pages[2]) and answer(pages[1]) == answer(pages[3])
    assert all("Tout sauf les yeux" not in p.text and 'id="wishes"' not in p.text for p in pages)

    blocked = _pro_in_circle(platform, clock, with_wish)
    with platform.transaction() as session:
        as_holder(session, platform, session.get(Record, with_wish.id)).block(with_wish.id, blocked.id)
    for path in (f"/pro/patients/{with_wish.id}", f"/pro/patients/{with_wish.id}/summary"):
        page = blocked.browser.get(path)  # as for an unknown record (a block is the holder's to know)
        assert page.status_code == 404 and "Tout sauf les yeux" not in page.text and 'id="wishes"' not in page.text
        refused = entries(platform, with_wish.id)[-1]
        assert refused.outcome.value == "refused" and refused.reason == "blocked" and "wishes" not in refused.context
    with platform.transaction() as session:
        access = as_professional(session, platform, session.get(Professional, blocked.id))
        assert access.would(with_wish.id, Action.read_wishes).reason.value == "blocked"
        with pytest.raises(AccessDenied):
            access.list_documents(with_wish.id, with_wishes=True)
