"""Driving the portals over HTTP as a browser would: cookies, forms and their CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from opendsp.accounts import totp
from opendsp.accounts.letters import issue_letters
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.app import create_app

PASSWORD = "violet tram borrows seven quiet lanterns"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # Cheap argon2 for the suite (refused in production); the portal's address as the test client sees it.
    return Settings(
        var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
        public_base_url="http://testserver",
    )


class Browser:
    def __init__(self, platform: Platform, language: str = "en", address: str = "testclient") -> None:
        self.platform = platform
        self.app = create_app(platform=platform)
        # Tests read the English messages; the portal's own default is French. ``address``: the TCP peer.
        self.client = TestClient(self.app, follow_redirects=False, headers={"Accept-Language": language},
                                 client=(address, 50000))
        self.page = ""

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        response = self.client.get(path, **kwargs)
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response.text
        return response

    def csrf(self) -> str:
        found = CSRF.search(self.page)
        assert found, "the page has no form with a CSRF token"
        return found.group(1)

    def choose_language(self, language: str, next: str = "/"):  # type: ignore[no-untyped-def]
        """Press a language of the page ``next`` (each is a small form: POST with the page's CSRF token)."""
        self.get(next)
        return self.client.post("/language", data={"lang": language, "next": next, "csrf_token": self.csrf()})

    def submit(self, path: str, data: dict[str, object] | None = None, *, form_page: str | None = None):  # type: ignore[no-untyped-def]
        """Open the form's page (for its token), then post the form as the browser would."""
        if form_page is not None:
            self.get(form_page)
        response = self.client.post(path, data={**(data or {}), "csrf_token": self.csrf()})
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response.text
        return response


@dataclass
class LetterCodes:
    national_number: str
    activation: str
    presence: str
    text: str = field(repr=False)


def read_letters(pdf: Path) -> list[LetterCodes]:
    letters = []
    for page in PdfReader(pdf).pages:
        text = page.extract_text()
        number = re.search(r"\b(\d{13})\b", text)
        activation = re.search(r"([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})", text)
        presence = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b(?!-)", text.split(activation.group(1))[1] if activation else "")
        assert number and activation and presence, text
        letters.append(LetterCodes(number.group(1), activation.group(1), presence.group(1), text))
    return letters


def letter_for(platform: Platform, person: Person) -> LetterCodes:
    report = issue_letters(platform=platform, person_ids=[person.id], actor=SYSTEM)
    (letter,) = read_letters(report.files[-1])
    return letter


def totp_secret(page: str) -> str:
    found = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page)
    assert found, "no TOTP key on the page"
    return found.group(1).replace(" ", "")


@dataclass
class Credentials:
    identifier: str
    password: str
    secret: str
    recovery: list[str]


def activate(browser: Browser, clock: FrozenClock, identifier: str, code: str, *, realm: str = "") -> Credentials:
    """Both activation steps over HTTP; the browser ends logged in."""
    response = browser.submit(f"{realm}/activate", {"identifier": identifier, "code": code}, form_page=f"{realm}/activate")
    assert response.status_code == 303, browser.page
    browser.get(response.headers["location"])
    secret = totp_secret(browser.page)
    response = browser.submit(
        f"{realm}/activate/account",
        {"email": "anne@example.lu", "mobile": "", "password": PASSWORD, "confirmation": PASSWORD,
         "code": totp.code_at(secret, clock.now())},
    )
    assert response.status_code == 200, browser.page
    recovery = re.findall(r'<code class="opendsp-code">([A-Z2-9-]+)</code>', browser.page)
    return Credentials(identifier, PASSWORD, secret, recovery)


def login(browser: Browser, clock: FrozenClock, credentials: Credentials, *, realm: str = ""):  # type: ignore[no-untyped-def]
    """Password then a fresh authenticator code; returns the last response."""
    response = browser.submit(f"{realm}/login", {"identifier": credentials.identifier, "password": credentials.password},
                              form_page=f"{realm}/login")
    assert response.status_code == 303, browser.page
    browser.get(response.headers["location"])
    clock.advance(timedelta(seconds=30))  # a new time step: the previous code is spent
    return browser.submit(f"{realm}/login/code", {"code": totp.code_at(credentials.secret, clock.now())})

