"""A professional is told of held-back logins in the language of their portal, not always in French.

A person's e-mails follow their preferred language (the national register's,
or the one they chose). A professional has no register language: their
account keeps the language they chose with the portal's switch, else the one
their portal was first used in; an account from before that falls back to the
platform's default.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import select

from opendsp.accounts import services
from opendsp.accounts.mailer import MailFolder
from opendsp.accounts.models import Account
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.notifications.worker import OutboxWorker
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate
from tests.factories import make_organisation, make_professional

OWNER = "198.51.100.20"
SUBJECTS = {
    "en": "Shared care record: failed logins to your account",
    "de": "Elektronische Patientenakte: fehlgeschlagene Anmeldungen bei Ihrem Konto",
    "fr": "Dossier de soins partagé : connexions échouées à votre compte",
    "pt": "Processo clínico partilhado: inícios de sessão falhados na sua conta",
}


def professional_activated_in(platform: Platform, clock: FrozenClock, language: str) -> tuple[Credentials, Browser]:
    with platform.transaction() as session:
        pro = make_professional(session, platform, organisation=make_organisation(session, platform))
        account = services.account_of_professional(session=session, platform=platform, professional=pro)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence = pro.licence_number
    browser = Browser(platform, language=language, address=OWNER)
    return activate(browser, clock, licence, code, realm="/pro"), browser


def held_notice(platform: Platform, credentials: Credentials, tmp_path: Path) -> email.message.Message:
    """Strangers guess from many addresses until the account's total holds; the e-mail the worker sends."""
    settings = platform.settings
    for n in range(settings.login_account_max_failures // (settings.login_max_failures - 1) + 1):
        stranger = Browser(platform, address=f"192.0.2.{n + 1}")
        for attempt in range(settings.login_max_failures - 1):
            stranger.submit("/login", {"identifier": credentials.identifier, "password": f"guess {attempt}"},
                            form_page="/login")
    folder = MailFolder(tmp_path / "mail")
    assert OutboxWorker(platform, folder).run(once=True).sent == 1
    (sent,) = list(folder.path.glob("*.eml"))
    return email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)


def account_language(platform: Platform, login: str) -> str | None:
    with platform.sessions() as session:
        return session.scalars(select(Account.language).where(Account.login == login)).one()


@pytest.mark.parametrize("portal", ["de", "en", "pt"])
def test_the_notice_is_in_the_language_the_professional_first_used(platform: Platform, clock: FrozenClock,
                                                                   tmp_path: Path, portal: str) -> None:
    credentials, _ = professional_activated_in(platform, clock, portal)
    assert account_language(platform, credentials.identifier) == portal
    message = held_notice(platform, credentials, tmp_path)
    assert message["Content-Language"] == portal and message["Subject"].strip() == SUBJECTS[portal]


def test_the_notice_is_in_the_language_chosen_with_the_portal_switch(platform: Platform, clock: FrozenClock,
                                                                     tmp_path: Path) -> None:
    credentials, browser = professional_activated_in(platform, clock, "en")
    assert browser.choose_language("de", "/pro").status_code == 303
    assert account_language(platform, credentials.identifier) == "de"
    with platform.sessions() as session:  # the choice is the owner's act, traced
        entry = session.scalars(select(TraceEntry).where(TraceEntry.action == "account.language")).one()
        assert entry.actor_kind == "professional" and entry.context["language"] == "de"
    message = held_notice(platform, credentials, tmp_path)
    assert message["Content-Language"] == "de" and message["Subject"].strip() == SUBJECTS["de"]


def test_an_account_without_a_kept_language_is_told_in_the_default_language(platform: Platform, clock: FrozenClock,
                                                                           tmp_path: Path) -> None:
    credentials, _ = professional_activated_in(platform, clock, "en")
    with platform.transaction() as session:  # as an account activated before languages were kept
        session.scalars(select(Account).where(Account.login == credentials.identifier)).one().language = None
    message = held_notice(platform, credentials, tmp_path)
    assert message["Content-Language"] == "fr" and message["Subject"].strip() == SUBJECTS["fr"]
