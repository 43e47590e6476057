"""Pages in French and German: times in Luxembourg, the language's formats, coded values in words (issue 16).

Each page is read as its reader sees it — the visible text, without tags and
attributes (the original display kept on hover is in a ``title``) — and must
show no ISO date, no UTC time and no raw or English code.
"""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import Browser
from tests.console.test_console import staff_browser
from tests.factories import as_holder, deposit_pdf, make_organisation, make_record
from tests.web.professional import professional_with_account, record_with_code
from tests.web.test_reading import deposit_lab_reports, logged_in

ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
ISO_MONTH = re.compile(r"\b\d{4}-(0[1-9]|1[0-2])\b")
# The moment: 06:49 UTC is 07:49 in Luxembourg in December.
DEPOSITED = datetime(2026, 12, 7, 6, 49, tzinfo=UTC)


def visible(page: str) -> str:
    """The text a reader sees: no scripts or styles, no tags (their attributes, ``title`` included)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page)))


def read_in(browser: Browser, language: str, path: str) -> str:
    browser.client.cookies.set(LANGUAGE_COOKIE, language)
    response = browser.get(path)
    assert response.status_code == 200, response.text[:500]
    return visible(response.text)


def assert_no_iso_date(text: str) -> None:
    assert not ISO_DAY.search(text), ISO_DAY.search(text)
    assert not ISO_MONTH.search(text), ISO_MONTH.search(text)


@pytest.mark.parametrize(("language", "words", "deposited", "value"), [
    ("fr", ("Hémoglobine", "Plaquettes"), "07/12/2026 07:49", "11,5"),
    ("de", ("Hämoglobin", "Thrombozyten"), "7.12.2026 07:49", "11,5"),
])
def test_a_laboratory_result_in_the_readers_language_and_zone(platform: Platform, clock: FrozenClock,
                                                              language, words, deposited, value) -> None:
    clock.current = DEPOSITED
    browser, record = logged_in(platform, clock)
    *_, latest = deposit_lab_reports(platform, record, [(date(2025, 7, 15), 13.1), (date(2025, 8, 15), 11.5)])
    text = read_in(browser, language, f"/record/documents/{latest}")
    text = re.sub(r"Blood count \d{4}-\d{2}-\d{2}", "", text)  # the titles the author typed are theirs
    assert deposited in text and "06:49" not in text  # the deposit's time in Luxembourg, not UTC
    assert_no_iso_date(text)  # neither the document's date nor the chart's table
    for word in words:
        assert word in text
    assert "Hemoglobin" not in text and "Platelets" not in text and "[Mass/volume]" not in text
    assert value in text and "11.5" not in text  # the result's decimal comma, in the table and the series
    page = browser.page
    assert 'title="Hemoglobin [Mass/volume] in Blood"' in page  # the original display on hover


@pytest.mark.parametrize(("language", "words", "english"), [
    ("fr", ("Pénicilline", "Hypertension artérielle", "Grippe saisonnière", "Créatinine", "confirmée"),
     ("Penicillin", "Hypertensive disorder", "Influenza", "Creatinine [Mass")),
    ("de", ("Arterielle Hypertonie", "Saisonale Influenza", "Kreatinin", "bestätigt"),
     ("Hypertensive disorder", "Influenza, seasonal", "Creatinine [Mass", "Confirmed")),
])
def test_a_summary_shows_allergies_problems_and_results_in_words(platform: Platform, clock: FrozenClock,
                                                                 language, words, english) -> None:
    pro = professional_with_account(platform, clock)
    lab = professional_with_account(platform, clock, kind=OrganisationKind.laboratory, name="Labo Est",
                                    profession="laboratory_biologist", specialties=())
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.merge(record))
        holder.add_to_circle(record.id, pro.id)
        holder.set_referring_doctor(record.id, pro.id)
    pro.browser.submit(f"/pro/patients/{record.id}/deposit/summary", {
        "title": "Patient summary", "care_date": "2025-03-01", "confidentiality": "normal",
        "allergy": "764146007", "condition": ["hypertension"], "onset_hypertension": "2019-05-01",
        "medicine": ["C08CA01"], "vaccine": ["influenza"], "given_influenza": "2024-10-15", "batch_influenza": "FL123",
    }, form_page=f"/pro/patients/{record.id}/deposit/summary")
    lab.browser.submit(f"/pro/patients/{record.id}/deposit/laboratory",
                       {"title": "Check-up", "care_date": "2025-02-01", "test_0": "creatinine", "value_0": "1.45"},
                       form_page=f"/pro/patients/{record.id}/deposit/laboratory")
    text = read_in(pro.browser, language, f"/pro/patients/{record.id}/summary")
    for word in words:
        assert word in text, word
    for word in english:
        assert word not in text, word
    assert "1,45 mg/dL" in text and "1.45" not in text
    assert_no_iso_date(text)
    assert "01/05/2019" in text or "1.5.2019" in text  # the problem's onset, in the language's format


@pytest.mark.parametrize(("language", "word"), [("fr", "Document personnel"), ("de", "Persönliches Dokument")])
def test_the_consoles_statistics_legend_in_words(platform: Platform, clock: FrozenClock, language, word) -> None:
    helpdesk = staff_browser(platform, clock, "helpdesk")
    with platform.transaction() as session:
        deposit_pdf(session, platform, make_record(session, platform))
    text = read_in(helpdesk, language, "/console/statistics")
    assert word in text and "personal_document" not in text  # the legend, the table's heading
    assert_no_iso_date(text)  # the months are words, not 2026-01
    chart = helpdesk.page.split("<svg", 1)[1]
    assert "personal_document" not in chart and word in chart  # the chart's own legend and tooltips


@pytest.mark.parametrize(("language", "words", "raw"), [
    ("fr", ("Médecin", "Médecine générale", "Pédiatrie"), ("Physician", "General practice")),
    ("de", ("Arzt", "Allgemeinmedizin", "Kinderheilkunde"), ("Physician", "General practice")),
])
def test_the_consoles_professionals_in_words(platform: Platform, clock: FrozenClock, language, words, raw) -> None:
    admin = staff_browser(platform, clock, "administrator")
    with platform.transaction() as session:
        make_organisation(session, platform, OrganisationKind.home_care_provider, name="Soins Sud")
    text = read_in(admin, language, "/console/professionals/new")
    for word in words:
        assert word in text, word
    for word in raw:
        assert word not in text, word
    kinds = read_in(admin, language, "/console/organisations/new")
    assert "home_care_provider" not in kinds and "imaging_centre" not in kinds
    assert ("Réseau de soins à domicile" if language == "fr" else "Häuslicher Pflegedienst") in kinds


def test_the_consoles_person_pages_have_no_iso_date(platform: Platform, clock: FrozenClock) -> None:
    helpdesk = staff_browser(platform, clock, "helpdesk")
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        number, person_id = record.holder.national_number, record.holder.id
    helpdesk.client.cookies.set(LANGUAGE_COOKIE, "de")
    found = helpdesk.submit("/console", {"q": number}, form_page="/console")
    assert found.status_code == 200 and f"/console/persons/{person_id}" in found.text
    assert_no_iso_date(visible(found.text))
    assert_no_iso_date(read_in(helpdesk, "fr", f"/console/persons/{person_id}"))


def test_the_trace_and_the_notifications_in_the_readers_format_and_zone(platform: Platform,
                                                                       clock: FrozenClock) -> None:
    """The trace's page, its CSV and its PDF, and the notifications: 07:49 in Luxembourg, in German's format."""
    clock.current = DEPOSITED
    browser, record = logged_in(platform, clock)
    deposit_lab_reports(platform, record, [(date(2025, 8, 15), 11.5)])
    german = "7.12.2026 07:49"
    assert german in read_in(browser, "de", "/record/trace")
    assert german in read_in(browser, "de", "/record/notifications")
    table = list(csv.reader(io.StringIO(browser.get("/record/trace.csv").content.decode("utf-8-sig"))))
    assert table[1][0] == german and all(row[0] == german for row in table[1:])  # not 2026-12-07 06:49:00
    printed = browser.get("/record/trace.pdf")
    assert printed.status_code == 200
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(printed.content)).pages).split())
    assert german in text and "06:49" not in text
