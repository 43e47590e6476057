"""Keywords, names and national numbers never travel in an address (issue 13, "search forms by POST").

Every form of the portals that sends by GET may hold only closed choices and
dates (docs/security.md, "Searches and filters"); words typed by a person are
sent in a CSRF-checked POST body, and an address that carries them anyway (an
old bookmark, a forged link) is not searched with them.
"""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.documents.types import DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, professional_draft, run_jobs
from tests.web.professional import professional_with_account, real_pdf, record_with_code
from tests.web.test_holder_documents import holder_browser, with_doctor

# What a form sent by GET may carry: a value chosen from a list, a date, or a page number.
CLOSED_INPUT_TYPES = {"date", "hidden", "submit", "radio", "checkbox"}
HOLDER_PAGES = ["/record", "/record/documents", "/record/trace", "/record/timeline", "/record/professionals",
                "/record/search", "/record/notifications"]


class GetForms(HTMLParser):
    """The free-text fields (``<input>`` of another type, ``<textarea>``) inside each ``<form method="get">``."""

    def __init__(self) -> None:
        super().__init__()
        self.inside_get = False
        self.free_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.inside_get = (found.get("method") or "get").lower() == "get"
        elif self.inside_get and tag == "textarea":
            self.free_text.append(str(found.get("name")))
        elif self.inside_get and tag == "input" and (found.get("type") or "text") not in CLOSED_INPUT_TYPES:
            self.free_text.append(str(found.get("name")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside_get = False


def free_text_sent_by_get(html: str) -> list[str]:
    parser = GetForms()
    parser.feed(html)
    return parser.free_text


def _record_of_a_circle_member(platform: Platform, clock: FrozenClock):  # type: ignore[no-untyped-def]
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
        as_professional(session, platform, session.get(Professional, pro.id)).deposit(
            record.id, professional_draft(DocumentType.consultation_report, "Bilan sanguin"),
            [real_pdf("Bilan sanguin")])
    run_jobs(platform)
    return pro, record


def _last_list(platform: Platform, record_id) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.record_id == record_id,
                                                         TraceEntry.action == "documents.list")
                                .order_by(TraceEntry.id.desc()).limit(1)).one()
        return dict(entry.context)


def test_no_holder_page_offers_a_free_text_field_sent_by_get(platform: Platform, clock: FrozenClock) -> None:
    browser, _record = holder_browser(platform, clock)
    for path in HOLDER_PAGES:
        page = browser.get(path)
        assert page.status_code == 200, path
        assert free_text_sent_by_get(page.text) == [], path


def test_no_professional_page_offers_a_free_text_field_sent_by_get(platform: Platform, clock: FrozenClock) -> None:
    pro, record = _record_of_a_circle_member(platform, clock)
    for path in ["/pro", "/pro/find", f"/pro/patients/{record.id}", f"/pro/patients/{record.id}/timeline"]:
        page = pro.browser.get(path)
        assert page.status_code == 200, path
        assert free_text_sent_by_get(page.text) == [], path


def test_the_keyword_filter_on_a_record_is_posted_and_an_address_with_terms_is_not_searched(
        platform: Platform, clock: FrozenClock) -> None:
    pro, record = _record_of_a_circle_member(platform, clock)
    page = f"/pro/patients/{record.id}"
    found = pro.browser.submit(page, {"q": "bilan"}, form_page=page)
    assert found.status_code == 200 and "Documents found: 1" in found.text
    assert _last_list(platform, record.id)["criteria"]["keyword_terms"] == 1
    assert "Documents found: 0" in pro.browser.submit(page, {"q": "introuvable"}).text
    assert "Documents found: 0" in pro.browser.submit(page, {"author": "Nobody"}).text

    bookmarked = pro.browser.get(f"{page}?q=introuvable&author=Nobody&type=consultation_report")
    assert bookmarked.status_code == 200 and "Documents found: 1" in bookmarked.text  # only the type is read
    assert 'value="introuvable"' not in bookmarked.text and 'value="Nobody"' not in bookmarked.text
    assert "keyword_terms" not in _last_list(platform, record.id).get("criteria", {})

    forged = pro.browser.client.post(page, data={"q": "bilan"})  # no CSRF token: another site's form
    assert forged.status_code == 403


def test_the_holder_posts_author_names_and_directory_searches(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    with_doctor(platform, record, "Vaccins")
    assert "Documents: 1" in browser.get("/record/documents").text
    posted = browser.submit("/record/documents", {"author": "nobody"})
    assert posted.status_code == 200 and "Documents: 0" in posted.text
    assert "Documents: 1" in browser.get("/record/documents?author=nobody").text  # a name in an address: ignored
    assert browser.get("/record/documents?author=holder").status_code == 200  # "only my own documents" stays a link

    searched = browser.submit("/record/professionals", {"q": "zzz"}, form_page="/record/professionals")
    assert searched.status_code == 200 and "No professional matches « zzz »." in searched.text
    assert "No professional matches" not in browser.get("/record/professionals?q=zzz").text
    assert browser.client.post("/record/professionals", data={"q": "zzz"}).status_code == 403
    assert browser.client.post("/record/documents", data={"author": "x"}).status_code == 403
