"""The medication list (the holder's and the professional's), the vaccination record and the form to declare a
vaccination, in Chromium with axe-core, in every language of the portal (French, German, English, Portuguese),
on a desktop screen and on a 390 px phone: no page wider than the screen, no raw code, no ISO date, the
reader's words for the medicines and vaccines, and a declared vaccination marked as such everywhere."""

from __future__ import annotations

from datetime import date

import pytest

from opendsp.clock import FrozenClock
from opendsp.demo.clinical import AMOXICILLIN, CONDITIONS
from opendsp.demo.fhir import Prescribed
from opendsp.documents.types import DocumentType
from opendsp.platform import Platform
from opendsp.web.security import LANGUAGE_COOKIE
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.browser import Screens, chromium, live, screens  # noqa: F401
from tests.web.professional import professional_with_account
from tests.web.test_declared_vaccinations import declare
from tests.web.test_every_page_browser import ISO_DATE, RAW_CODE
from tests.web.test_medication_list import authors, circle, deposit, dispensed, prescribed
from tests.web.test_vaccination_record import deposit_summary, record_with_doctor

SCREENS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# What each language calls the things the pages must show in the reader's words.
WORDS = {
    "fr": {"flu": "Grippe saisonnière", "amoxicillin": "Amoxicilline", "declared": "Déclarée par le titulaire"},
    "de": {"flu": "Saisonale Influenza", "amoxicillin": "Amoxicillin", "declared": "Von der Inhaberin / dem Inhaber angegeben"},
    "en": {"flu": "Seasonal influenza", "amoxicillin": "Amoxicillin", "declared": "Declared by the holder"},
    "pt": {"flu": "Gripe sazonal", "amoxicillin": "Amoxicilina", "declared": "Declarada pelo titular"},
}


def world(platform: Platform, clock: FrozenClock):  # type: ignore[no-untyped-def]
    """A holder (logged in over HTTP) with a doctor in the circle: two prescriptions and a dispensation, a
    patient summary with a vaccination, and a vaccination the holder declared."""
    record, doctor, browser = record_with_doctor(platform, clock)
    statin = CONDITIONS["hyperlipidaemia"].medicine
    _doctor, pharmacist = authors(platform)
    circle(platform, record.id, pharmacist)
    deposit(platform, record.id, doctor, DocumentType.prescription, "Ordonnance", date(2025, 3, 1),
            prescribed(date(2025, 3, 1), Prescribed(AMOXICILLIN, "0123456", (2, "boîtes")), Prescribed(statin)))
    deposit(platform, record.id, pharmacist, DocumentType.dispensation, "Délivrance", date(2025, 3, 2),
            dispensed(date(2025, 3, 2), Prescribed(AMOXICILLIN, "0123456", (2, "boîtes"))))
    deposit_summary(platform, record.id, doctor, date(2025, 3, 2), ("covid", date(2025, 1, 10), "COV-25"))
    assert declare(browser, lot="FLU-OWN").status_code == 303
    return record, browser


def shown(screens: Screens, path: str, name: str) -> str:
    response = screens.visit(path, name)
    assert response is not None and response.status == 200, path
    text = screens.page.locator("main").inner_text()
    assert not ISO_DATE.search(text), f"{path}: an ISO date in the page: {ISO_DATE.findall(text)[:3]}"
    assert not RAW_CODE.search(text), f"{path}: a raw code in the page: {RAW_CODE.findall(text)[:3]}"
    return text


def _in(screens: Screens, language: str, size: str) -> None:
    screens.page.set_viewport_size(SCREENS[size])
    screens.page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language, "url": screens.base_url}])


@pytest.mark.parametrize("language", ["fr", "de", "en", "pt"])
def test_the_holder_s_pages_in_every_language_on_a_desktop_and_a_phone(platform: Platform, clock: FrozenClock,
                                                                       screens: Screens, language: str) -> None:
    _record, browser = world(platform, clock)
    words = WORDS[language]
    screens.log_in(browser.credentials)  # type: ignore[attr-defined]
    for size in SCREENS:
        _in(screens, language, size)
        medications = shown(screens, "/record/medications", f"medication list {language} {size}")
        assert words["amoxicillin"] in medications and screens.page.locator("#medications tbody tr").count() == 2
        vaccinations = shown(screens, "/record/vaccinations", f"vaccination record {language} {size}")
        assert screens.page.locator("#vaccinations tbody tr").count() == 2
        declared_row = screens.page.locator("#vaccinations tbody tr", has_text="FLU-OWN")
        assert words["flu"] in declared_row.inner_text() and words["declared"] in declared_row.inner_text()
        assert words["declared"] not in screens.page.locator("#vaccinations tbody tr", has_text="COV-25").inner_text()
        assert "2024" in vaccinations
        form = shown(screens, "/record/vaccinations/declare", f"declare a vaccination {language} {size}")
        assert words["flu"] in screens.page.locator("#vaccine").inner_text() and form

    # The form in the browser: a date before the birth is refused on the page, then a good one is added.
    page = screens.page
    page.locator("#vaccine").select_option("21")
    page.locator("#given").fill("1979-01-01")
    page.locator("#declare").click()
    page.wait_for_load_state()
    screens.seen(f"declaration refused {language}")
    assert page.locator("#form-error").count() == 1 and page.locator("#vaccine").input_value() == "21"
    page.locator("#given").fill("2020-05-04")
    page.locator("#dose").fill("2")
    page.locator("#lot").fill("VAR-20")
    page.locator("#declare").click()
    page.wait_for_load_state()
    screens.seen(f"vaccination declared {language}")
    assert page.url.endswith("/record/vaccinations?done=declared")
    assert page.locator("#vaccinations tbody tr").count() == 3
    assert words["declared"] in page.locator("#vaccinations tbody tr", has_text="VAR-20").inner_text()


@pytest.mark.parametrize("language", ["fr", "de", "en", "pt"])
def test_the_professional_s_pages_in_every_language_on_a_desktop_and_a_phone(
        platform: Platform, clock: FrozenClock, screens: Screens, language: str) -> None:
    record, _browser = world(platform, clock)
    pro = professional_with_account(platform, clock, family_name="Muller")
    circle(platform, record.id, pro.id)
    words = WORDS[language]
    screens.log_in(pro.credentials)
    for size in SCREENS:
        _in(screens, language, size)
        medications = shown(screens, f"/pro/patients/{record.id}/medications",
                            f"professional medication list {language} {size}")
        assert words["amoxicillin"] in medications and screens.page.locator("#medications tbody tr").count() == 2
        shown(screens, f"/pro/patients/{record.id}/summary", f"professional summary {language} {size}")
        immunisations = screens.page.locator("#immunisations li")
        assert immunisations.count() == 2
        declared = screens.page.locator("#immunisations li", has_text=words["flu"]).inner_text()
        assert words["declared"] in declared
