"""The portals' web layer: languages from the catalogues, the design system, security headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from opendsp.locale import LANGUAGES, catalogue, catalogue_paths
from opendsp.platform import Platform
from tests.accounts.portal import Browser, settings  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/login", "/activate", "/pro/activate", "/console/login", "/console/activate"]


def extracted_messages() -> set[str]:
    """What ``pybabel extract -F babel.cfg -k translate:2 -k N_`` finds (see docs/identity.md)."""
    keywords = {**DEFAULT_KEYWORDS, "translate": (2,), "N_": None}
    found = extract_from_dir(
        str(ROOT / "src" / "opendsp"),
        method_map=[("**/templates/**.html", "jinja2"), ("**.py", "python")],
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=keywords,
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def test_every_message_is_translated_in_french_german_and_portuguese() -> None:
    wanted = extracted_messages()
    assert "Activate your account" in wanted
    for language in ("fr", "de", "pt"):
        translated = {m.id: m.string for m in catalogue(language) if m.id}
        missing = sorted(m for m in wanted if not translated.get(m))
        assert not missing, f"{language}: untranslated {missing[:5]}"
    english = {m.id: m.string for m in catalogue("en") if m.id}
    assert all(english.get(m) for m in wanted if ":" in m and " " not in m)  # composed labels need English text



@pytest.mark.parametrize("language", LANGUAGES)
def test_a_message_lives_in_one_catalogue_file(language: str) -> None:
    seen: dict[str, str] = {}
    for path in catalogue_paths(language):
        for message in read_po(path.open("rb")):
            if message.id:
                assert message.id not in seen, f"{message.id!r} is in {seen[message.id]} and {path.name}"
                seen[message.id] = path.name


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_speak_the_chosen_language(platform: Platform, language: str) -> None:
    browser = Browser(platform, language="")
    response = browser.choose_language(language, "/login")
    assert response.headers["location"] == "/login"
    for path in PAGES:
        page = browser.get(path)
        assert page.status_code == 200 and f'<html lang="{language}"' in page.text
    expected = {"fr": "Se connecter", "de": "Anmelden", "en": "Log in", "pt": "Iniciar sessão"}[language]
    assert expected in browser.get("/login").text


def test_french_is_the_default_and_the_browser_s_language_is_heard(platform: Platform) -> None:
    assert '<html lang="fr"' in Browser(platform, language="").get("/login").text
    assert '<html lang="de"' in Browser(platform, language="de-LU,de;q=0.9").get("/login").text


def test_pages_carry_security_headers_and_labelled_fields(platform: Platform) -> None:
    response = Browser(platform).get("/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert '<label class="govuk-label" for="identifier">' in response.text and 'href="#content"' in response.text
