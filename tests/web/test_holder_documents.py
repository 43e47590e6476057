"""The holder's documents over HTTP: home and notifications, search, the documents list, uploads, hiding."""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentStatus
from opendsp.documents.uploads import MAX_UPLOAD_BYTES
from opendsp.locale import LANGUAGES
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.search.services import search
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, activate, letter_for, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, make_professional, make_record, professional_draft, run_jobs
from tests.search.pdfs import pdf_with_text


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
            + chunk(b"IEND", b""))


def person_browser(platform: Platform, clock: FrozenClock, person) -> Browser:  # type: ignore[no-untyped-def]
    browser = Browser(platform)
    activate(browser, clock, person.national_number, letter_for(platform, person).activation)
    return browser


def holder_browser(platform: Platform, clock: FrozenClock) -> tuple[Browser, Record]:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
    return person_browser(platform, clock, holder), record


def with_doctor(platform: Platform, record: Record, *titles: str):  # type: ignore[no-untyped-def]
    """A doctor in the record's circle who deposited a report per title, once the worker has done the deposits'
    jobs (the keyword index); returns the doctor's id and the documents."""
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Kieffer")
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        access = as_professional(session, platform, doctor)
        made = [access.deposit(record.id, professional_draft(title=title), [pdf_with_text(f"{title} texte")]).id
                for title in titles]
        doctor_id = doctor.id
    run_jobs(platform)
    return doctor_id, made


def upload(browser: Browser, content: bytes, *, title: str = "Carnet de vaccination", day: str = "2025-01-15",
           name: str = "file.pdf", content_type: str = "application/pdf"):  # type: ignore[no-untyped-def]
    browser.get("/record/upload")
    response = browser.client.post("/record/upload", data={"csrf_token": browser.csrf(), "title": title,
                                                           "care_date": day, "type": "personal_document"},
                                   files={"file": (name, content, content_type)})
    browser.page = response.text if response.headers.get("content-type", "").startswith("text/html") else ""
    return response


def count_documents(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def blobs(platform: Platform) -> list[str]:
    folder = platform.settings.var_dir
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and "content" in str(p).lower())


def test_a_person_lands_on_the_record_s_home_with_notifications_and_latest_documents(platform: Platform,
                                                                                     clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        holder = record.holder
    browser = Browser(platform)
    credentials = activate(browser, clock, holder.national_number, letter_for(platform, holder).activation)
    assert credentials
    home = browser.get("/record")
    assert home.status_code == 200 and 'id="no-notification"' in home.text and "No notification" in home.text
    assert "/account" in home.text  # the account stays reachable from the menu
    with platform.transaction() as session:
        stranger = make_professional(session, platform)
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
        as_professional(session, platform, stranger).open_with_presence_code(record.id, code)
    with_doctor(platform, record, "Compte rendu de consultation")
    page = browser.get("/record").text
    assert "A new document, or a new version of a document" in page and "Consultation report" in page
    assert "A professional opened the record with the presence code" in page and "2 new" in page
    assert "Compte rendu de consultation" in page.split('id="latest"')[1]
    response = browser.submit("/record/notifications/read", {"next": "/record"})
    assert response.status_code == 303
    page = browser.get(response.headers["location"]).text
    assert "Notifications marked as read." in page and 'id="mark-read"' not in page


def test_login_lands_on_the_record(platform: Platform, clock: FrozenClock) -> None:
    from tests.accounts.portal import login

    with platform.transaction() as session:
        holder = make_record(session, platform, active=False).holder
    browser = Browser(platform)
    credentials = activate(browser, clock, holder.national_number, letter_for(platform, holder).activation)
    browser.client.cookies.clear()
    response = login(browser, clock, credentials)
    assert response.headers["location"] == "/record"


def test_search_finds_what_the_holder_may_see_ranked(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    with_doctor(platform, record, "Échographie abdominale", "Radiographie du genou")
    page = browser.submit("/record/search", {"q": "echographies"}, form_page="/record/search").text
    assert "Documents found: 1" in page and "Échographie abdominale" in page and "genou" not in page
    assert "Documents found: 2" in browser.submit("/record/search", {"q": "kieffer"}, form_page="/record/search").text
    assert "Documents found: 0" in browser.submit("/record/search", {"q": "scanner"}, form_page="/record/search").text
    assert browser.get("/record/search").status_code == 200  # no query: the form only


def test_the_documents_list_filters_shows_versions_and_pages(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    with platform.transaction() as session:
        doctor = make_professional(session, platform, family_name="Hoffmann")
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        access = as_professional(session, platform, doctor)
        old = access.deposit(record.id, professional_draft(title="Lettre"), [pdf_with_text("a")])
        new = access.replace(old.id, professional_draft(title="Lettre corrigée"), [pdf_with_text("b")])
        for n in range(21):
            access.deposit(record.id, professional_draft(title=f"Note {n}"), [pdf_with_text("c")])
    page = browser.get("/record/documents").text
    assert "Documents: 23" in page and 'aria-current="page"' in page and 'name="page" value="2"' in page
    page = browser.get("/record/documents?status=superseded").text
    assert "Documents: 1" in page and "Lettre" in page and f'href="/record/documents/{new.id}"' in page
    assert "version 2" in page and "replaced" in page
    assert "Documents: 0" in browser.submit("/record/documents", {"author": "nobody"}).text
    assert "Documents: 23" in browser.submit("/record/documents", {"author": "hoffm"}).text
    assert "Documents: 0" in browser.get("/record/documents?until=2000-01-01").text
    assert "Documents: 0" in browser.get("/record/documents?kind=personal_document").text
    assert browser.get("/record/documents?page=2").text.count("<tr data-document=") == 3


def test_a_holder_uploads_a_pdf_and_an_image_then_withdraws_one(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    response = upload(browser, pdf_with_text("Rappel tétanos 2024"), name="scan.bin", content_type="text/plain")
    assert response.status_code == 303, browser.page
    document_id = uuid.UUID(response.headers["location"].rsplit("/", 1)[1])
    assert upload(browser, png(), title="Photo ordonnance", name="x.pdf").status_code == 303

    def searched() -> list[str]:
        with platform.transaction() as session:
            shown = session.get(Record, record.id)
            assert shown is not None
            return [d.title for d in search(as_holder(session, platform, shown), record.id, "tetanos").items]

    assert searched() == []  # the upload's request does not index: its job waits for the worker
    assert run_jobs(platform) == 2
    assert searched() == ["Carnet de vaccination"]
    with platform.transaction() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.media_type == "application/pdf" and document.authored_by_holder
    page = browser.get(f"/record/documents/{document_id}").text
    assert 'id="withdraw-link"' in page
    confirm = browser.get(f"/record/documents/{document_id}/withdraw")
    assert "Yes, withdraw this document" in confirm.text
    assert browser.submit(f"/record/documents/{document_id}/withdraw", {}).status_code == 303  # not confirmed
    response = browser.submit(f"/record/documents/{document_id}/withdraw", {"confirm": "yes"},
                              form_page=f"/record/documents/{document_id}/withdraw")
    assert response.headers["location"] == "/record/documents?done=withdrawn"
    assert "The document was withdrawn." in browser.get(response.headers["location"]).text
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.status is DocumentStatus.withdrawn


REFUSALS = [
    (b"", "The file is empty."),
    (b"PK\x03\x04" + b"\x00" * 40, "This kind of file is not accepted: send a PDF, a JPEG or a PNG image."),
    (b"Hello, I am text in a file named .pdf", "This kind of file is not accepted"),
    (b"%PDF-1.4\nnot really a pdf", "The PDF cannot be opened: it may be damaged."),
    (pdf_with_text("secret", encrypt=True), "The PDF is protected by a password: send it without the protection."),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "The image is incomplete or damaged."),
    (b"%PDF-" + b"0" * MAX_UPLOAD_BYTES, "The file is too big: at most 10 MB are accepted."),
]


def test_every_refused_file_says_why_and_nothing_is_stored(platform: Platform, clock: FrozenClock) -> None:
    browser, _ = holder_browser(platform, clock)
    before_documents, before_blobs = count_documents(platform), blobs(platform)
    for content, message in REFUSALS:
        response = upload(browser, content)
        assert response.status_code == 422 and message in response.text, (message, response.text[-3000:])
        assert 'id="form-error"' in response.text
    good = pdf_with_text("ok")
    for fields, message in [({"title": " "}, "Give the document a title."),
                            ({"day": "soon"}, "Give the date of the document."),
                            ({"day": (clock.now() + timedelta(days=3)).date().isoformat()}, "cannot be in the future")]:
        response = upload(browser, good, **fields)  # type: ignore[arg-type]
        assert response.status_code == 422 and message in response.text
    assert count_documents(platform) == before_documents and blobs(platform) == before_blobs
    # Without the form's token nothing is read into the record.
    response = browser.client.post("/record/upload", data={"title": "x", "care_date": "2025-01-01"},
                                   files={"file": ("a.pdf", good, "application/pdf")})
    assert response.status_code == 403 and count_documents(platform) == before_documents


def test_hiding_and_showing_a_document_again(platform: Platform, clock: FrozenClock) -> None:
    browser, record = holder_browser(platform, clock)
    doctor_id, (document_id,) = with_doctor(platform, record, "Bilan psychologique")
    page = browser.get("/record/hidden").text
    assert "No document is hidden." in page and "no professional sees it" in page
    response = browser.submit(f"/record/hidden/{document_id}/hide", {})
    assert response.headers["location"] == "/record/hidden?done=hidden"
    page = browser.get("/record/hidden").text
    assert "Bilan psychologique" in page.split('id="hidden-list"')[1]

    def professional_sees() -> bool:
        with platform.transaction() as session:
            from opendsp.professionals.models import Professional

            doctor = session.get(Professional, doctor_id)
            assert doctor is not None
            return bool(as_professional(session, platform, doctor).list_documents(record.id).total)

    assert not professional_sees()
    response = browser.submit(f"/record/hidden/{document_id}/unhide",
                              {"next": f"/record/documents/{document_id}"}, form_page="/record/hidden")
    assert response.headers["location"] == f"/record/documents/{document_id}?done=shown"
    assert "shown to professionals again" in browser.get(response.headers["location"]).text
    assert professional_sees()
    with platform.sessions() as session:
        changes = [c.get("change") for c in session.scalars(select(TraceEntry.context).where(
            TraceEntry.record_id == record.id, TraceEntry.action == "access.manage"))]
    assert "document.hide" in changes and "document.unhide" in changes


def test_another_holder_and_professionals_get_nothing(platform: Platform, clock: FrozenClock) -> None:
    owner, record = holder_browser(platform, clock)
    _, (document_id,) = with_doctor(platform, record, "Compte rendu privé")
    other, _ = holder_browser(platform, clock)
    assert "Compte rendu privé" not in other.get("/record/documents").text
    assert "Documents found: 0" in other.submit("/record/search", {"q": "prive"}, form_page="/record/search").text
    assert other.get(f"/record/documents/{document_id}/withdraw").status_code == 404
    other.get("/record/hidden")
    assert other.submit(f"/record/hidden/{document_id}/hide", {}).status_code == 404
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.hidden_at is None
    # The holder cannot withdraw a professional's document: the policy refuses.
    owner.get(f"/record/documents/{document_id}/withdraw")
    response = owner.submit(f"/record/documents/{document_id}/withdraw", {"confirm": "yes"})
    assert response.status_code == 403
    anonymous = Browser(platform)
    for path in ("/record", "/record/documents", "/record/search", "/record/upload", "/record/hidden"):
        assert anonymous.get(path).status_code in (303, 307), path


def test_an_assistant_acts_with_the_holder_s_rights(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        assistant = make_record(session, platform, active=False).holder
        as_holder(session, platform, record).designate_assistant(record.id, assistant.id)
        holder_id = record.holder.id
    browser = person_browser(platform, clock, assistant)
    browser.get("/account")
    browser.submit("/account/act-for", {"person": str(holder_id)})
    assert "You act for this person" in browser.get("/record").text
    response = upload(browser, pdf_with_text("Directives anticipées"), title="Directives")
    assert response.status_code == 303
    document_id = response.headers["location"].rsplit("/", 1)[1]
    assert "Directives" in browser.get("/record/documents").text
    assert browser.submit(f"/record/hidden/{document_id}/hide", {}, form_page="/record/hidden").status_code == 303
    with platform.sessions() as session:
        document = session.get(Document, uuid.UUID(document_id))
        assert document is not None and document.record_id == record.id and document.hidden_at is not None
        entry = session.scalars(select(TraceEntry).where(TraceEntry.action == "document.deposit",
                                                         TraceEntry.record_id == record.id)).one()
        assert entry.basis == "assistant" and entry.on_behalf_of == str(holder_id)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_speak_each_language(platform: Platform, clock: FrozenClock, language: str) -> None:
    browser, record = holder_browser(platform, clock)
    _, (document_id,) = with_doctor(platform, record, "Rapport")
    browser.choose_language(language, "/record")
    expected = {"fr": ["Vie documentaire", "Rechercher un document", "Déposer un document", "Documents bloqués"],
                "de": ["Dokumente", "Dokument suchen", "Dokument hinzufügen", "Ausgeblendete Dokumente"],
                "en": ["Documents", "Search for a document", "Add a document", "Hidden documents"],
                "pt": ["Documentos", "Pesquisar um documento", "Adicionar um documento", "Documentos ocultos"]}[language]
    pages = ["/record", "/record/search", "/record/documents", "/record/upload", "/record/hidden",
             f"/record/documents/{document_id}"]
    text = ""
    for path in pages:
        response = browser.get(path)
        assert response.status_code == 200 and f'<html lang="{language}"' in response.text, path
        text += response.text
    # A professional's document is not the holder's to withdraw: the policy says so before any form.
    refused = browser.get(f"/record/documents/{document_id}/withdraw")
    assert refused.status_code == 403 and f'<html lang="{language}"' in refused.text
    for words in expected:
        assert words in text, words
    if language != "en":
        english = re.findall(r">(No notification|Latest documents|Hide from professionals|Add the document)<", text)
        assert not english, english
