"""A hidden document's page says it is hidden (issue 16), on the holder's side only."""

from __future__ import annotations

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.web.test_holder_documents import holder_browser, with_doctor


def test_a_hidden_document_s_page_says_it_is_hidden(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    _, (document_id,) = with_doctor(platform, record, "Bilan psychologique")
    page = f"/record/documents/{document_id}"
    assert 'id="hidden-notice"' not in browser.get(page).text
    browser.submit(f"/record/hidden/{document_id}/hide", {"next": page}, form_page=page)
    shown = browser.get(page).text
    assert 'id="hidden-notice"' in shown
    assert "You have hidden this document: professionals do not see it." in shown
    browser.submit(f"/record/hidden/{document_id}/unhide", {"next": page}, form_page=page)
    assert 'id="hidden-notice"' not in browser.get(page).text
