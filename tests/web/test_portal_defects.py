"""Defects a new user met in the portals (issue 16), each proven over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.web.test_holder_documents import holder_browser, with_doctor


def test_each_notification_link_says_which_document_and_who(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    with_doctor(platform, record, "Bilan sanguin", "Radiographie du genou")
    clock.advance(timedelta(minutes=5))
    with_doctor(platform, record, "Bilan sanguin")  # the same title, later
    page = browser.get("/record/notifications").text
    links = re.findall(r'<a href="/record/documents/[^"]+">(.*?)</a>', page, flags=re.S)
    assert len(links) == 3
    assert len(set(links)) == 3  # no two links say the same (WCAG 2.4.4)
    assert all("Kieffer" in link for link in links)
    assert sum("Bilan sanguin" in link for link in links) == 2 and any("genou" in link for link in links)
    home = browser.get("/record").text
    assert "Radiographie du genou, deposited by" in home


def test_a_person_switches_records_from_the_record_s_menu_and_lands_in_the_record(platform: Platform,
                                                                                 clock: FrozenClock) -> None:
    from tests.accounts.portal import Browser, activate, letter_for
    from tests.factories import as_holder, make_record

    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        helper_record = make_record(session, platform, active=False)
        stranger = make_record(session, platform, active=False).holder
        helper, holder_name = helper_record.holder, record.holder.display_name
        as_holder(session, platform, record).designate_assistant(record.id, helper.id)
        holder_id, stranger_id = record.holder.id, stranger.id
    assistant = Browser(platform)
    activate(assistant, clock, helper.national_number, letter_for(platform, helper).activation)
    page = assistant.get("/record").text
    switch = page.split('id="record-switch-wide"')[1].split("</form>")[0]
    assert f'value="{holder_id}"' in switch and holder_name in switch and "as assistant" in switch
    assert str(stranger_id) not in switch  # only the records the policy lets this person enter
    response = assistant.submit("/account/act-for", {"person": str(holder_id), "next": "/record"})
    assert response.status_code == 303 and response.headers["location"] == "/record"
    page = assistant.get("/record").text
    assert 'id="acting-badge"' in page and holder_name in page.split('id="record-menu-title"')[1][:200]
    # Someone else's record, by a forged form: refused, and still in the record one was in.
    response = assistant.submit("/account/act-for", {"person": str(stranger_id), "next": "/record"},
                                form_page="/record")
    assert response.status_code == 403
    assert holder_name in assistant.get("/record").text.split('id="record-menu-title"')[1][:200]
