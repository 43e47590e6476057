"""The published figures (/statistics): anyone reads them, no cookie is set, small counts are withheld (page and
CSV), only closed months are published, the CSV is for programs, and an empty database gives a readable page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from opendsp.accounts.models import Account, AccountKind, AccountState
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.web.app import create_app
from tests.accounts.portal import Browser, activate, letter_for
from tests.accounts.portal import settings  # noqa: F401 - the portal's test settings
from tests.factories import deposit_pdf, make_person, make_record, read_as_holder

HEADER = ["figure", "series", "month", "value", "note"]


def anonymous(platform: Platform, language: str = "en") -> TestClient:
    return TestClient(create_app(platform=platform), follow_redirects=False, headers={"Accept-Language": language})


def activated_accounts(platform: Platform, kind: AccountKind, count: int) -> None:
    with platform.transaction() as session:
        for n in range(count):
            person = make_person(session, platform) if kind is AccountKind.person else None
            session.add(Account(
                kind=kind, login=person.national_number if person else f"LIC-figures-{n}", person_id=person.id if person else None,
                display_name="Someone", roles=[], state=AccountState.active, created_at=platform.clock.now(),
                activated_at=platform.clock.now(), failures=0,
            ))


def rows(response_text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(response_text))
    assert reader.fieldnames == HEADER
    return list(reader)


def test_an_empty_database_gives_a_readable_page_without_login_or_cookie(platform: Platform) -> None:
    client = anonymous(platform)
    page = client.get("/statistics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "The platform in figures" in page.text and "Accounts activated per month" in page.text
    assert "set-cookie" not in page.headers
    assert page.headers["cache-control"] == "public, max-age=900"
    assert "Accept-Language" in page.headers["vary"]
    # Nothing of a visitor in a page that caches keep: no form, no CSRF token.
    assert "csrf_token" not in page.text and "<form" not in page.text
    # Nor what the page loads: the stylesheet and the favicon set no cookie either (a cache would share it).
    for asset in ("/favicon.ico", "/static/opendsp/portal.css", "/static/opendsp/favicon.svg"):
        loaded = client.get(asset)
        assert loaded.status_code == 200 and "set-cookie" not in loaded.headers
    data = client.get("/statistics/figures.csv")
    assert data.status_code == 200 and data.headers["content-type"].startswith("text/csv")
    assert "set-cookie" not in data.headers and data.headers["cache-control"] == "public, max-age=900"
    found = rows(data.text)
    assert found and all(row["value"] == "0" for row in found)  # zero says nothing about anyone: published


def test_small_counts_are_withheld_on_the_page_and_in_the_csv(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        records = [make_record(session, platform) for _ in range(3)]
        documents = [deposit_pdf(session, platform, records[n % 3]) for n in range(23)]
        for document in documents[:3]:  # three consultations by holders: too few to publish
            read_as_holder(session, platform, document)
    activated_accounts(platform, AccountKind.person, 12)
    activated_accounts(platform, AccountKind.professional, 4)
    month = f"{clock.now():%Y-%m}"
    assert month not in anonymous(platform).get("/statistics/figures.csv").text  # the month is not over yet
    clock.advance(timedelta(days=31))

    table = {(row["figure"], row["series"], row["month"]): row
             for row in rows(anonymous(platform).get("/statistics/figures.csv").text)}
    assert all(re.fullmatch(r"\d{4}-\d{2}", month) for _, _, month in table)
    assert table["documents_deposited", "all", month]["value"] == "23"
    assert table["accounts_activated", "holders", month]["value"] == "12"
    for withheld in (("accounts_activated", "professionals", month), ("documents_consulted", "holders", month)):
        assert table[withheld]["value"] == "" and table[withheld]["note"].startswith("withheld")
    assert table["documents_total", "all", month]["value"] == "20"  # 23 rounded down to the ten

    page = anonymous(platform).get("/statistics?lang=en").text
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert "fewer than 10" in cells and "23" in cells and "12" in cells
    assert "4" not in cells and "3" not in cells  # the withheld counts appear nowhere
    assert "<title>" in page and ": 4</title>" not in page and ": 3</title>" not in page  # nor in the chart
    # One figure's file holds that figure only.
    one = rows(anonymous(platform).get("/statistics/documents_deposited.csv").text)
    assert {row["figure"] for row in one} == {"documents_deposited"}


def test_the_page_speaks_the_chosen_language_with_its_formats(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        for _ in range(12):
            deposit_pdf(session, platform, record)
    clock.advance(timedelta(days=31))
    for language, word in (("fr", "moins de 10"), ("de", "weniger als 10"), ("pt", "menos de 10")):
        page = anonymous(platform).get(f"/statistics?lang={language}").text
        assert f'<html lang="{language}"' in page and word in page
        assert f"{clock.now():%Y-%m}" not in re.sub(r'href="[^"]*"', "", page)  # months in words, not ISO
    # Without ?lang= the browser's language; an unknown one changes nothing.
    assert '<html lang="de"' in anonymous(platform, "de").get("/statistics").text
    assert '<html lang="de"' in anonymous(platform, "de").get("/statistics?lang=xx").text


def test_a_logged_in_visitor_gets_the_same_public_page(platform: Platform, clock: FrozenClock) -> None:
    """A cache may keep the page: it must carry nothing of the person who asked (name, CSRF token)."""
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
    browser = Browser(platform)
    activate(browser, clock, person.national_number, letter_for(platform, person).activation)  # and logged in
    assert browser.get("/record").status_code == 200
    token = browser.csrf()
    response = browser.get("/statistics")
    assert response.status_code == 200 and "set-cookie" not in response.headers
    assert person.given_name not in response.text and token not in response.text
    assert "Log out" not in response.text


@pytest.mark.parametrize("path", ["/statistics/secret.csv", "/statistics/..%2Fetc.csv",
                                  "/statistics/" + "x" * 5000 + ".csv"])
def test_unknown_files_are_not_found(platform: Platform, path: str) -> None:
    assert anonymous(platform).get(path).status_code == 404


def test_the_login_page_links_the_figures(platform: Platform) -> None:
    assert 'href="/statistics"' in anonymous(platform).get("/login").text
    assert 'href="/statistics"' not in anonymous(platform).get("/console/login").text


def test_each_count_falls_in_its_month(platform: Platform, clock: FrozenClock) -> None:
    activated_accounts(platform, AccountKind.person, 10)
    then = f"{clock.now():%Y-%m}"
    clock.advance(timedelta(days=40))
    activated_accounts(platform, AccountKind.person, 15)  # this month: not published before it ends
    table = {(row["figure"], row["series"], row["month"]): row["value"]
             for row in rows(anonymous(platform).get("/statistics/accounts_activated.csv").text)}
    assert table["accounts_activated", "holders", then] == "10"
    assert ("accounts_activated", "holders", f"{clock.now():%Y-%m}") not in table
    assert len({month for _, _, month in table}) == 12 and max(month for _, _, month in table) == then


def test_only_the_platform_or_the_agency_reads_the_figures_through_the_door(platform: Platform) -> None:
    from opendsp import actors
    from opendsp.access.services import InvalidRequest, RecordAccess
    from tests.factories import make_professional

    with platform.transaction() as session:
        record = make_record(session, platform)
        doctor = make_professional(session, platform)
        people = [actors.holder(record.holder), actors.professional(doctor, organisation=doctor.organisations[0])]
        for actor in people:
            with pytest.raises(InvalidRequest):
                RecordAccess(session=session, platform=platform, actor=actor).public_figures()
        for actor in (actors.PUBLIC_FIGURES, actors.agency("staff-1", "Marie")):
            assert RecordAccess(session=session, platform=platform, actor=actor).public_figures().figures
