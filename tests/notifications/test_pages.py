"""The portal's side of notifications: the list of what happened, and the choice of what comes by e-mail."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.notifications import services as notifications
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, letter_for
from tests.factories import PDF, as_holder, as_professional, make_organisation, make_professional, make_record
from tests.factories import professional_draft
from tests.notifications.helpers import outbox

CHECKBOX = re.compile(r'<input class="govuk-checkboxes__input" type="checkbox" id="(by-email-\d+)" name="by_email" value="([a-z.]+)"( checked)?>')


def holder_in_browser(platform: Platform, clock: FrozenClock):  # type: ignore[no-untyped-def]
    """A holder who activated their account in the portal (with the e-mail address anne@example.lu)."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
    browser = Browser(platform)
    activate(browser, clock, holder.national_number, letter_for(platform, holder).activation)
    return browser, record, holder


def test_the_holder_chooses_what_comes_by_e_mail(platform: Platform, clock: FrozenClock) -> None:
    browser, record, holder = holder_in_browser(platform, clock)
    assert 'href="/account/notifications"' in browser.get("/account").text
    page = browser.get("/account/notifications").text
    boxes = CHECKBOX.findall(page)
    assert [kind for _, kind, _ in boxes] == list(notifications.KINDS) and all(on for _, _, on in boxes)
    assert all(f'<label class="govuk-label govuk-checkboxes__label" for="{box}">' in page for box, _, _ in boxes)  # every box is labelled
    assert "anne@example.lu" in page and "never contains health information" in page

    wanted = ["presence.opened", "emergency.opened", "presence.locked", "assistant.changed"]
    response = browser.submit("/account/notifications", {"by_email": wanted})
    assert response.status_code == 200 and "Your choices are saved." in browser.page
    assert {kind: bool(on) for _, kind, on in CHECKBOX.findall(browser.page)} == {
        kind: kind in wanted for kind in notifications.KINDS}
    with platform.sessions() as session:
        assert notifications.email_choices(session, holder.id)["document.new"] is False
        (entry,) = session.scalars(select(TraceEntry).where(TraceEntry.action == "account.notifications")).all()
        assert entry.context["by_email"] == sorted(wanted) and entry.actor_id == str(holder.id)

    # Chosen: a new document is in the portal, not in the mailbox; the rest still comes by e-mail.
    with platform.transaction() as session:
        lab = make_organisation(session, platform, OrganisationKind.laboratory)
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report, "Bilan"), [PDF])
    assert outbox(platform) == []

    # Nothing at all is a choice too; an unknown kind changes nothing; a form without its token is refused.
    assert browser.submit("/account/notifications", {}).status_code == 200
    assert not any(on for _, _, on in CHECKBOX.findall(browser.page))
    assert browser.submit("/account/notifications", {"by_email": ["document.new", "nonsense"]}).status_code == 400
    assert browser.client.post("/account/notifications", data={"by_email": "document.new"}).status_code == 403
    with platform.sessions() as session:
        assert not any(notifications.email_choices(session, holder.id).values())

    browser.choose_language("fr", "/account/notifications")  # the holder chooses French
    assert "Notifications par e-mail" in browser.get("/account/notifications").text


def test_the_portal_lists_what_happened_and_marks_it_read(platform: Platform, clock: FrozenClock) -> None:
    browser, record, _holder = holder_in_browser(platform, clock)
    assert "Nothing yet." in browser.get("/record/notifications").text
    with platform.transaction() as session:
        lab = make_organisation(session, platform, OrganisationKind.laboratory)
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(),
                                      organisation=lab)
        as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report, "Bilan"), [PDF])
        cardiologist = make_professional(session, platform, specialties=("cardiology",), family_name="Reuter")
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
    with platform.transaction() as session:
        as_professional(session, platform, cardiologist).open_with_presence_code(record.id, code)
        helper = make_record(session, platform).holder
        helper.given_name = "Jos"
        holder_side = as_holder(session, platform, record)
        holder_side.designate_assistant(record.id, helper.id)
        holder_side.designate_assistant(record.id, helper.id, until=clock.now() + timedelta(days=30))
        holder_side.end_assistant(record.id, helper.id)

    page = browser.get("/record/notifications").text
    assert "A new document, or a new version of a document" in page and "Laboratory report" in page
    assert "A professional opened the record with the presence code" in page and "By Dr Reuter" in page
    assert "Jos Schmit was added." in page and "Jos Schmit was removed." in page
    assert "The end date of the delegation to Jos Schmit changed." in page
    assert "Not read yet: 5" in page and page.count('opendsp-tag--new') == 5
    response = browser.submit("/record/notifications/read", {})
    assert response.status_code == 303 and response.headers["location"] == "/record/notifications"
    page = browser.get("/record/notifications").text
    assert "Not read yet" not in page and "opendsp-tag--new" not in page and "Laboratory report" in page
    with platform.sessions() as session:
        reads = session.scalars(select(TraceEntry).where(TraceEntry.action == "trace.read")).all()
        assert [e.context.get("change") for e in reads if e.context.get("part") == "notifications"] == [
            None, None, "read", None]

    assert browser.client.post("/record/notifications/read", data={}).status_code == 403  # no CSRF token
    assert Browser(platform).get("/record/notifications").status_code == 303  # not logged in
