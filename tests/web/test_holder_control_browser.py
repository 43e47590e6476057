"""The holder's control pages in a real browser (Debian's Chromium), each page photographed and checked by axe-core:
a holder doing everything, then an assistant and a parent acting for others. Few tests, each broad."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

from sqlalchemy import select

from opendsp.access.models import AccessSettings, AssistantDelegation, CircleMember, Wish
from opendsp.clock import FrozenClock
from opendsp.persons.models import Language, LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.factories import as_holder, make_record
from tests.web.holder_world import build, logged_in


def choose(page, element_id: str) -> None:  # type: ignore[no-untyped-def]
    """Tick a radio button or a box as people do: on its label (the design system draws the control there)."""
    page.locator(f"label[for='{element_id}']").click()


def test_a_holder_controls_their_record(platform: Platform, clock: FrozenClock, screens: Screens,
                                        tmp_path: Path) -> None:
    world = build(platform, clock)
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        helper.given_name = "Hélène"
    page = screens.page
    screens.log_in(world.credentials)
    screens.seen("account")

    # Traçabilité: who saw what; emergencies stand out; filters; the CSV.
    screens.visit("/record/trace", "trace")
    emergency = page.locator("tr.opendsp-emergency")
    assert emergency.count() == 2 and emergency.first.locator(".govuk-tag--red").is_visible()
    page.locator("#kind").select_option("opening")
    page.locator("#trace-filters button[type=submit]").click()
    page.wait_for_load_state()
    screens.seen("trace filtered")
    assert page.locator("#trace-table tbody tr").count() == 2
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert [row[4] for row in table[1:]] == ["Opened the record with the presence code",
                                            "Opened the record in an emergency"]

    # Professionnels de santé: search the directory, add with a comment and an end, block, emergency refused.
    screens.visit("/record/professionals", "professionals")
    page.locator("#q").fill("klein")
    page.locator("#q").press("Enter")
    page.wait_for_load_state()
    screens.seen("directory search")
    page.locator(f"#comment-{world.nurse}").fill("Soins à domicile")
    page.locator(f"#until-{world.nurse}").fill("2026-12-31")
    page.locator("#results form[action='/record/professionals/circle'] button").click()
    page.wait_for_load_state()
    screens.seen("added to the circle")
    assert "Soins à domicile" in page.locator("#circle").inner_text()
    page.locator("#q").fill("urbain")
    page.locator("#q").press("Enter")
    page.wait_for_load_state()
    page.get_by_role("button", name="Block Dr Urbain").click()
    page.wait_for_load_state()
    choose(page, "emergency-no")
    page.locator("form[action='/record/professionals/emergency'] button").click()
    page.wait_for_load_state()
    screens.seen("blocked and emergency refused")
    assert "Dr Urbain" in page.locator("#blocked").inner_text()

    # Consentements.
    screens.visit("/record/consents", "consents")
    choose(page, "organ_donation-yes")
    page.locator("form[action='/record/consents'] button").click()
    page.wait_for_load_state()
    screens.seen("wish recorded")
    assert page.locator("#wish-history tbody tr").count() == 1

    # Accompagnateurs: name one by national number.
    screens.visit("/record/assistants", "assistants")
    page.locator("#national_number").fill(helper.national_number)
    page.locator("form[action='/record/assistants'] button").click()
    page.wait_for_load_state()
    screens.seen("assistant named")
    assert helper.display_name in page.locator("#assistants").inner_text()

    # Mots de passe: a new presence code, shown once.
    screens.visit("/record/passwords", "passwords")
    page.locator("#generate").click()
    page.wait_for_load_state()
    screens.seen("new presence code")
    assert len(page.locator("#presence-code").inner_text()) == 9

    # Download everything.
    screens.visit("/record/export", "export")
    with page.expect_download() as download:
        page.locator("#download").click()
    archive = zipfile.ZipFile(download.value.path())
    assert json.loads(archive.read("fhir/bundle.json"))["type"] == "collection"
    assert any(name.endswith(".pdf") for name in archive.namelist())

    # Close, confirmed twice (with the keyboard), then reopen.
    screens.visit("/record/state", "state")
    page.locator("#reason").fill("Je déménage à l'étranger")
    page.locator("form[action='/record/state/close'] button").click()
    page.wait_for_load_state()
    screens.seen("close: confirm")
    page.locator("#confirm-form button[type=submit]").click()  # not ticked: refused, with the reason why
    page.wait_for_load_state()
    screens.seen("close: not confirmed")
    assert page.locator("#confirm-error").is_visible()
    page.locator("#confirm").focus()
    page.keyboard.press("Space")
    page.locator("#confirm-form button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    screens.seen("closed")
    screens.visit("/record/professionals", "professionals while closed")
    assert page.locator("#read-only").is_visible() and page.locator("#q").count() == 0
    screens.visit("/record/state", "reopen")
    page.locator("form[action='/record/state/reopen'] button").click()
    page.wait_for_load_state()
    choose(page, "confirm")
    page.locator("#confirm-form button[type=submit]").click()
    page.wait_for_load_state()
    screens.seen("reopened")

    # Languages: German, kept as the holder's language; the pages on a phone.
    page.get_by_role("button", name="Deutsch").click()
    page.wait_for_load_state()
    screens.seen("state in German")
    assert page.locator("html").get_attribute("lang") == "de"
    for path in ("/record/professionals", "/record/consents", "/record/passwords"):
        screens.visit(path, f"{path} in German")
        assert page.locator("html").get_attribute("lang") == "de"
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/record/trace", "/record/professionals", "/record/assistants", "/record/state"):
        screens.visit(path, f"{path} on a phone")
    page.locator(".opendsp-folded-menu summary").click()  # "Menü der Akte", folded on a phone
    page.get_by_role("link", name="Einwilligungen").wait_for(state="visible")
    screens.seen("menu on a phone")
    screens.visit("/record/trace?who=everyone&page=2", "trace, second page, on a phone")  # every page read is an act
    assert page.locator(".govuk-pagination").is_visible() and page.locator("#trace-table tbody tr").count() >= 1

    with platform.sessions() as session:
        assert session.get(AccessSettings, world.record_id).emergency_allowed is False  # type: ignore[union-attr]
        assert session.scalars(select(CircleMember.comment).where(
            CircleMember.professional_id == world.nurse)).one() == "Soins à domicile"
        assert session.scalars(select(Wish.value)).one() == "yes"
        assert session.scalars(select(AssistantDelegation.assistant_id)).one() == helper.id
        assert session.get(Record, world.record_id).state is RecordState.active  # type: ignore[union-attr]
        assert session.get(Person, world.holder.id).preferred_language is Language.de  # type: ignore[union-attr]


def test_an_assistant_and_a_parent_act_for_others(platform: Platform, clock: FrozenClock, screens: Screens) -> None:
    world = build(platform, clock)
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        helper.given_name = "Hélène"
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id)
        parent = make_record(session, platform, active=False).holder
        parent.given_name = "Paul"
        child = make_record(session, platform, birth=date(2016, 9, 1)).holder
        child.given_name = "Léo"
        session.add(LegalRepresentation(minor_id=child.id, representative_id=parent.id, created_at=clock.now()))
        babysitter = make_record(session, platform).holder
        babysitter.given_name = "Berthe"
        child_id = child.id
    assistant_credentials = logged_in(platform, clock, helper).credentials  # type: ignore[attr-defined]
    parent_credentials = logged_in(platform, clock, parent).credentials  # type: ignore[attr-defined]
    page = screens.page

    # The assistant switches to the holder's record from the assistants' page.
    screens.log_in(assistant_credentials)
    screens.visit("/record/assistants", "assistant: own record")
    choose(page, f"act-{world.holder.id}")
    page.locator(".govuk-grid-column-three-quarters form[action='/account/act-for'] button").click()
    page.wait_for_load_state()
    screens.seen("assistant: acting for the holder")
    assert page.locator("#acting-badge").is_visible() and page.locator("#cannot-name").is_visible()
    screens.visit("/record/trace?basis=emergency", "assistant: emergencies in the trace")
    assert page.locator("tr.opendsp-emergency").count() == 2
    screens.visit("/record/passwords", "assistant: passwords")
    if page.locator("#generate").count():  # the policy lets assistants make a new code
        page.locator("#generate").click()
        page.wait_for_load_state()
        screens.seen("assistant: new presence code")
        assert page.locator("#presence-code").is_visible()
    screens.visit("/record/professionals", "assistant: professionals")
    screens.visit("/record/assistants", "assistant: back")
    choose(page, "act-self")
    page.locator(".govuk-grid-column-three-quarters form[action='/account/act-for'] button").click()
    page.wait_for_load_state()
    assert "You are using your own record." in page.locator("#acting-now").inner_text()
    page.locator("form[action='/logout'] button").first.click()
    page.wait_for_load_state()

    # The parent acts for their minor child: names an assistant for the child, records a wish.
    screens.log_in(parent_credentials)
    screens.visit("/record/assistants", "parent: own record")
    choose(page, f"act-{child_id}")
    page.locator(".govuk-grid-column-three-quarters form[action='/account/act-for'] button").click()
    page.wait_for_load_state()
    screens.seen("parent: acting for the child")
    assert "Léo Schmit" in page.locator("#record-menu-title").inner_text()
    page.locator("#national_number").fill(babysitter.national_number)
    page.locator("form[action='/record/assistants'] button").click()
    page.wait_for_load_state()
    screens.seen("parent: assistant named for the child")
    screens.visit("/record/consents", "parent: the child's consents")
    choose(page, "organ_donation-not_stated")
    page.locator("form[action='/record/consents'] button").click()
    page.wait_for_load_state()
    screens.seen("parent: wish recorded for the child")
    screens.visit("/record/state", "parent: the child's record state")
    screens.visit("/record/export", "parent: download the child's record")

    with platform.sessions() as session:
        assert session.scalars(select(AssistantDelegation.assistant_id).join(
            Record, Record.id == AssistantDelegation.record_id).where(Record.person_id == child_id)).one() == \
            babysitter.id
