"""Both portals' timelines with the structured EHDS categories (issue 18 §2): each document under a readable type
in the reader's language, filters by type and by category, and nothing a filter's value could reveal or break."""

from __future__ import annotations

import html
import re

import pytest

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.web.ehds_world import DOCUMENTS, EhdsWorld, build, pharmacist_browser

# The type labels each of the new documents shows, in the portals' four languages.
LABELS = {
    "fr": {"prescription": "Prescription", "dispensation": "Délivrance de médicaments",
           "imaging": "Compte rendu d'imagerie", "discharge": "Lettre de sortie",
           "vaccination": "Carnet de vaccination"},
    "de": {"prescription": "Verordnung", "dispensation": "Arzneimittelabgabe", "imaging": "Bildgebungsbefund",
           "discharge": "Entlassungsbrief", "vaccination": "Impfnachweis"},
    "en": {"prescription": "Prescription", "dispensation": "Medicine dispensation", "imaging": "Imaging report",
           "discharge": "Hospital discharge letter", "vaccination": "Vaccination record"},
    "pt": {"prescription": "Receita", "dispensation": "Dispensa de medicamentos", "imaging": "Relatório de imagiologia",
           "discharge": "Nota de alta hospitalar", "vaccination": "Boletim de vacinas"},
}


def events(page: str) -> list[tuple[str, str, str]]:
    """(kind, category, the event's text) for each event of the timeline, in order."""
    found = re.findall(r'<li class="[^"]*" data-kind="([^"]+)"(?: data-category="([^"]+)")?>(.*?)</li>', page, re.S)
    return [(kind, category, html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))))
            for kind, category, body in found]


def shown(page: str) -> set[str]:
    """The world's documents on the page, by key."""
    return {key for key, (_, title, _) in DOCUMENTS.items() if title in page}


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> EhdsWorld:
    return build(platform, clock)


@pytest.mark.parametrize("language", ["fr", "de", "en", "pt"])
def test_each_category_shows_with_its_label_in_the_reader_s_language(world: EhdsWorld, language: str) -> None:
    pro_page = f"/pro/patients/{world.record.id}/timeline"
    for browser, path in ((world.holder_browser, "/record/timeline"), (world.gp_browser, pro_page)):
        browser.choose_language(language, path)
        page = browser.get(path).text
        for key, label in LABELS[language].items():
            kind, category, line = next(event for event in events(page) if DOCUMENTS[key][1] in event[2])
            assert label in line and kind == DOCUMENTS[key][0].value, (path, key, line)
        # The filters offer the new type and the categories, in the same language.
        assert 'value="dispensation"' in page and 'value="eprescription"' in page and 'value="imaging-report"' in page


def test_the_filters_narrow_by_type_and_by_category_in_both_portals(world: EhdsWorld) -> None:
    base = {"holder": (world.holder_browser, "/record/timeline"),
            "pro": (world.gp_browser, f"/pro/patients/{world.record.id}/timeline")}
    for browser, path in base.values():
        assert shown(browser.get(path).text) == set(DOCUMENTS)
        assert shown(browser.get(f"{path}?kind=dispensation").text) == {"dispensation"}
        assert shown(browser.get(f"{path}?category=eprescription").text) == {"prescription", "dispensation"}
        assert shown(browser.get(f"{path}?category=imaging-report").text) == {"imaging"}
        assert shown(browser.get(f"{path}?category=discharge-report").text) == {"discharge"}
        assert shown(browser.get(f"{path}?kind=vaccination_record").text) == {"vaccination"}
        # A type and a category that exclude each other: nothing, and the page says so.
        page = browser.get(f"{path}?kind=imaging_report&category=eprescription").text
        assert shown(page) == set() and 'id="timeline-empty"' in page
        # The chosen filters stay selected.
        page = browser.get(f"{path}?kind=prescription&category=eprescription").text
        assert '<option value="eprescription" selected>' in page and '<option value="prescription" selected>' in page
        assert [category for _, category, _ in events(page)] == ["eprescription"]


@pytest.mark.parametrize("value", ["x-rays", "' or 1=1 --", "<script>", "EPRESCRIPTION", "a" * 3000, "stay%00"])
def test_an_unknown_filter_value_is_read_as_all_and_not_echoed_in_the_page(world: EhdsWorld, value: str) -> None:
    for browser, path in ((world.holder_browser, "/record/timeline"),
                          (world.gp_browser, f"/pro/patients/{world.record.id}/timeline")):
        for name in ("kind", "category"):
            response = browser.get(path, params={name: value})
            assert response.status_code == 200
            assert shown(response.text) == set(DOCUMENTS)
            main = response.text.split("<main", 1)[1].split("</main>", 1)[0]
            assert "<script" not in main and value[:40] not in main and " selected>" not in main


def test_a_pharmacist_s_timeline_lists_only_what_the_matrix_gives_them(platform: Platform, clock: FrozenClock,
                                                                      world: EhdsWorld) -> None:
    browser = pharmacist_browser(platform, clock, world)
    path = f"/pro/patients/{world.record.id}/timeline"
    assert shown(browser.get(path).text) == {"prescription", "dispensation", "vaccination"}
    # Asking for a category they may not consult answers like one with nothing in it.
    imaging = browser.get(f"{path}?category=imaging-report")
    assert imaging.status_code == 200 and shown(imaging.text) == set() and 'id="timeline-empty"' in imaging.text
