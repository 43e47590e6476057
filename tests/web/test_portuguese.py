"""Portuguese, the fourth language: its catalogues lack nothing, and the portals, the account and the forms speak it.

Every page below is made with a fallback on the Portuguese catalogue that
notes each message it lacked: a page that would show an English string to a
Portuguese reader fails the test, as a gap in the catalogue files does.
"""

from __future__ import annotations

import email
import io
import email.policy
import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from opendsp.accounts.mailer import MailFolder
from opendsp.accounts.models import Account
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentType
from opendsp.locale import HERE, LANGUAGES, translations
from opendsp.locale.gaps import all_gaps, gaps
from opendsp.notifications.worker import OutboxWorker
from opendsp.persons.models import Language
from opendsp.records.models import Record
from opendsp.records.services import record_of
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, letter_for, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import PDF, as_holder, as_professional, make_professional, make_record, professional_draft
from tests.notifications.helpers import Inbox, person_with_account
from tests.web.professional import professional_with_account, record_with_code
from tests.web.test_holder_control import Misses
from tests.web.test_holder_documents import holder_browser, with_doctor

PORTUGUESE = 'lang="pt"'


@contextmanager
def untranslated() -> Iterator[set[str]]:
    """The messages the Portuguese catalogue lacked while the block ran."""
    catalogue = translations("pt")
    misses = Misses()
    catalogue.add_fallback(misses)  # type: ignore[arg-type]
    try:
        yield misses.missing
    finally:
        catalogue._fallback = None  # type: ignore[attr-defined]


# -- the catalogues ------------------------------------------------------------------------


def test_portuguese_is_a_language_of_the_platform() -> None:
    assert "pt" in LANGUAGES and Language("pt") is Language.pt
    assert sorted(p.name for p in (HERE / "pt" / "LC_MESSAGES").glob("*.po")) == \
        sorted(p.name for p in (HERE / "fr" / "LC_MESSAGES").glob("*.po"))


def test_no_language_lacks_a_french_message() -> None:
    found = all_gaps()
    assert not found, "\n".join(f"{g.language} {g.file} {g.problem}: {g.message}" for g in found[:20])


def test_a_missing_an_empty_a_fuzzy_and_a_misplaced_translation_are_each_a_gap(tmp_path: Path) -> None:
    shutil.copytree(HERE / "fr", tmp_path / "fr")
    (tmp_path / "pt" / "LC_MESSAGES").mkdir(parents=True)
    french = (HERE / "fr" / "LC_MESSAGES" / "reading.po").read_text(encoding="utf-8")
    header = french.split("\n\n")[0]
    (tmp_path / "pt" / "LC_MESSAGES" / "reading.po").write_text(header + '''

msgid "Author"
msgstr "Autor"

msgid "Date"
msgstr ""

#, fuzzy
msgid "Status"
msgstr "Estado"

#, python-format
msgid "version %(number)s"
msgstr "versão %(numero)s"
''', encoding="utf-8")
    found = {(g.file, g.message): g.problem for g in gaps("pt", root=tmp_path)}
    assert found[("reading.po", "Date")] == "empty"
    assert found[("reading.po", "Status")] == "fuzzy"
    assert found[("reading.po", "version %(number)s")] == "placeholders"
    assert found[("reading.po", "Value")] == "missing" and found[("holder.po", "Documents")] == "missing"
    assert ("reading.po", "Author") not in found
    french_messages = sum(1 for line in french.splitlines() if line.startswith("msgid \"") and line != 'msgid ""')
    assert sum(1 for file, _ in found if file == "reading.po") == french_messages - 1


def test_the_script_lists_the_gaps_as_a_file_to_fill(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "scripts" / "catalogue_gaps.py"), "pt", "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and json.loads(done.stdout) == {}
    unknown = subprocess.run([sys.executable, str(root / "scripts" / "catalogue_gaps.py"), "xx"],
                             capture_output=True, text=True, check=False)
    assert unknown.returncode == 2 and "not a language of the platform" in unknown.stderr


# -- the pages -----------------------------------------------------------------------------


def test_the_login_pages_speak_portuguese_chosen_or_asked_by_the_browser(platform: Platform) -> None:
    with untranslated() as missing:
        asked = Browser(platform, language="pt-PT,pt;q=0.9,en;q=0.5").get("/login")
        assert PORTUGUESE in asked.text and "Iniciar sessão" in asked.text
        browser = Browser(platform, language="fr")
        assert browser.choose_language("pt", "/login").headers["location"] == "/login"
        for path in ("/login", "/activate", "/pro/activate", "/console/login", "/console/activate"):
            page = browser.get(path)
            assert page.status_code == 200 and PORTUGUESE in page.text, path
        assert "Ative a sua conta" in browser.get("/activate").text
        assert "Consola da agência" in browser.get("/console/login").text
    assert not missing, sorted(missing)
    # Every page offers Portuguese beside the other languages.
    assert 'name="lang" value="pt"' in asked.text and "Português" in asked.text


def test_a_holder_reads_their_record_in_portuguese_and_keeps_the_choice(platform: Platform,
                                                                       clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    _, (document_id,) = with_doctor(platform, record, "Rapport")
    assert browser.choose_language("pt", "/record").status_code == 303
    with platform.sessions() as session:
        assert session.get(Record, record.id).holder.preferred_language is Language.pt  # type: ignore[union-attr]
        changed = session.scalars(select(TraceEntry).where(TraceEntry.action == "account.language")).one()
        assert changed.context["language"] == "pt"
    pages = ["/record", "/record/documents", f"/record/documents/{document_id}", "/record/upload", "/record/hidden",
             "/record/professionals", "/record/consents", "/record/trace", "/record/assistants", "/account"]
    text = ""
    with untranslated() as missing:
        for path in pages:
            response = browser.get(path)
            assert response.status_code == 200 and PORTUGUESE in response.text, path
            text += response.text
    assert not missing, sorted(missing)
    for words in ("Documentos ocultos", "Adicionar um documento", "Profissionais de saúde", "Rastreabilidade",
                  "Doação de órgãos após a minha morte", "Terminar sessão"):
        assert words in text, words
    with untranslated() as missing:  # the export, its read-me and its trace, in Portuguese
        exported = browser.submit("/record/export", {}, form_page="/record/export")
        assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
        trace = browser.get("/record/trace.csv")
        assert trace.status_code == 200
    assert not missing, sorted(missing)
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert "O seu processo clínico partilhado (DSP)" in archive.read("LEIA-ME.txt").decode()


def test_a_professional_works_in_portuguese(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.merge(record))
        holder.add_to_circle(record.id, pro.id)
        holder.set_referring_doctor(record.id, pro.id)
    browser = pro.browser
    assert browser.choose_language("pt", "/pro").status_code == 303
    with platform.sessions() as session:  # an account without a person keeps its language itself
        account = session.scalars(select(Account).where(Account.login == pro.credentials.identifier)).one()
        assert account.language == "pt"
    base = f"/pro/patients/{record.id}"
    with untranslated() as missing:
        home = browser.get("/pro")
        assert PORTUGUESE in home.text and "Os meus pacientes" in home.text
        # (The laboratory form is the laboratory's: a general practitioner is refused it at once, below it is read.)
        for path in (base, f"{base}/deposit", f"{base}/deposit/summary", f"{base}/summary", f"{base}/timeline"):
            page = browser.get(path)
            assert page.status_code == 200 and PORTUGUESE in page.text, path
        form = browser.get(f"{base}/deposit/summary").text  # the vocabulary of the form, in Portuguese
        assert "Penicilina" in form and "Hipertensão arterial" in form and "1 comprimido de manhã" in form
        done = browser.submit(f"{base}/deposit/summary", {
            "title": "Resumo", "care_date": "2025-03-01", "confidentiality": "normal", "allergy": "764146007",
            "condition": ["hypertension"], "onset_hypertension": "2019-05-01", "medicine": ["C08CA01"]},
            form_page=f"{base}/deposit/summary")
        assert done.status_code == 303, browser.page
        lab = professional_with_account(platform, clock, kind=OrganisationKind.laboratory, name="Labo Est",
                                        profession="laboratory_biologist", specialties=())
        lab.browser.choose_language("pt", "/pro")
        laboratory = lab.browser.submit(f"{base}/deposit/laboratory", {
            "title": "Check-up", "care_date": "2025-02-01", "test_0": "glucose", "value_0": "130"},
            form_page=f"{base}/deposit/laboratory")
        assert laboratory.status_code == 303, lab.browser.page
        with platform.sessions() as session:
            report = session.scalars(select(Document).where(
                Document.record_id == record.id, Document.type == DocumentType.laboratory_report)).one()
        shown = browser.get(f"{base}/documents/{report.id}").text
        assert PORTUGUESE in shown and "Análise" in shown and "Valores de referência" in shown
    assert not missing, sorted(missing)


def test_a_forged_or_unknown_language_changes_nothing(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    browser.choose_language("pt", "/record")
    forged = browser.client.post("/language", data={"lang": "pt", "next": "/record", "csrf_token": "forged"})
    assert forged.status_code == 403
    for code in ("pt-BR", "xx", "p", "pt" * 500):
        browser.choose_language(code, "/record")
    with platform.sessions() as session:
        assert session.get(Record, record.id).holder.preferred_language is Language.pt  # type: ignore[union-attr]
        assert len(session.scalars(select(TraceEntry).where(TraceEntry.action == "account.language")).all()) == 1
    assert PORTUGUESE in browser.get("/record").text


def test_a_person_whose_language_is_portuguese_gets_a_portuguese_letter(platform: Platform) -> None:
    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
        person.preferred_language = Language.pt
        session.flush()
        session.expunge(person)
    with untranslated() as missing:
        letter = letter_for(platform, person)
    assert not missing, sorted(missing)
    text = " ".join(letter.text.split())
    assert "O seu processo clínico partilhado: como o ativar" in text and "Código de presença" in text
    assert "de 2026" in text  # the code's expiry date, written out in Portuguese ("1 de abril de 2026")


def test_a_portuguese_holder_is_told_of_a_new_document_in_portuguese(platform: Platform, tmp_path: Path) -> None:
    with platform.transaction() as session:
        holder = person_with_account(session, platform, email="ana@example.lu", given_name="Ana",
                                     language=Language.pt, record=True)
        record = record_of(session, holder.id)
        doctor = make_professional(session, platform)
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        as_professional(session, platform, doctor).deposit(record.id, professional_draft(), [PDF])
    folder = MailFolder(tmp_path / "mail")
    with untranslated() as missing:
        assert OutboxWorker(platform, folder).run(once=True).sent == 1
    assert not missing, sorted(missing)
    (written,) = folder.path.glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["Content-Language"] == "pt"
    assert message["Subject"].strip() == "Processo clínico partilhado: um novo documento"
    assert "Olá Ana," in Inbox.text(message)  # type: ignore[arg-type]


def test_the_agency_s_console_speaks_portuguese(platform: Platform, clock: FrozenClock) -> None:
    from tests.console.test_console import staff_browser

    with platform.transaction() as session:
        person = make_record(session, platform, active=False).holder
        person_id, family_name = person.id, person.family_name
    staff = staff_browser(platform, clock, "administrator", "helpdesk")
    assert staff.choose_language("pt", "/console").status_code == 303
    text = ""
    with untranslated() as missing:
        for path in ("/console", f"/console/persons/{person_id}", "/console/professionals/new",
                     "/console/organisations/new", "/console/statistics"):
            page = staff.get(path)
            assert page.status_code == 200 and PORTUGUESE in page.text, path
            text += page.text
        found = staff.submit("/console", {"q": family_name}, form_page="/console")
        assert found.status_code == 200 and PORTUGUESE in found.text
    assert not missing, sorted(missing)
    for words in ("Consola da agência", "Procurar uma pessoa", "Registar um profissional de saúde", "Estatísticas"):
        assert words in text, words
