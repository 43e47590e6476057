"""When the content store cannot take or give a document, the portals answer a clear 503 page, never a 500.

The deposit case is the one of ADR 18: ``store check`` took back the pending
content of a deposit that outlived the grace, so the deposit must fail before
writing anything. Here a real ``store check`` runs at the worst moment, between
the deposit naming its blob and claiming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from opendsp.clock import FrozenClock
from opendsp.content.models import PendingContent, RecordKey
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from opendsp.professionals.models import Professional
from tests.factories import as_professional, professional_draft
from tests.web.professional import professional_with_account, real_pdf, record_with_code
from tests.web.test_professional_portal import in_circle

FIELDS = {"type": "consultation_report", "title": "Consultation", "care_date": "2025-03-01",
          "confidentiality": "normal", "visible_from": ""}
PAGES = {  # the page's title, in each language the portal speaks
    "en": "The document could not be stored just now",
    "fr": "Le document n’a pas pu être enregistré pour le moment",
    "de": "Das Dokument konnte gerade nicht gespeichert werden",
}


@pytest.fixture
def store_check_at_the_worst_moment(platform: Platform) -> Iterator[list[list[str]]]:
    """Just before a deposit claims its pending content, store check runs with a grace the deposit outlived.

    A grace of 0 stands for a deposit older than the grace (the frozen clock keeps the sessions alive).
    """
    runs: list[list[str]] = []

    def before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PENDING_CONTENT") and not runs:
            runs.append([])  # first: store check deletes pending rows too, and must not start itself again
            with platform.transaction() as session:
                report = platform.content.check(session, grace=timedelta(0))
            runs[0].extend(report.orphans_removed)

    assert platform.engine is not None
    event.listen(platform.engine, "before_cursor_execute", before)
    yield runs
    event.remove(platform.engine, "before_cursor_execute", before)


def _counts(platform: Platform) -> tuple[int, int, int, int]:
    with platform.sessions() as session:
        def count(model: type) -> int:
            return session.scalar(select(func.count()).select_from(model)) or 0
        return count(Document), count(PendingContent), count(TraceEntry), count(RecordKey)


@pytest.mark.parametrize("language", sorted(PAGES))
def test_a_deposit_whose_pending_content_was_taken_back_is_a_translated_503_and_nothing_is_written(
    platform: Platform, clock: FrozenClock, database_url: str, language: str,
    store_check_at_the_worst_moment: list[list[str]],
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: no pending content, store check never runs during a deposit")
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    browser = pro.browser
    browser.choose_language(language, next=f"/pro/patients/{record.id}/deposit")
    browser.get(f"/pro/patients/{record.id}/deposit")
    before = _counts(platform)
    blobs_before = {blob.key for blob in platform.content.blobs.list("records/")}

    answer = browser.client.post(f"/pro/patients/{record.id}/deposit",
                                 data={**FIELDS, "csrf_token": browser.csrf()},
                                 files={"file": ("letter.pdf", real_pdf(), "application/pdf")})

    # It ran once and took back the deposit's pending content (its blob was not written yet).
    [taken] = store_check_at_the_worst_moment
    assert len(taken) == 1 and taken[0].startswith(f"records/{record.id}/")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "60"
    assert PAGES[language] in answer.text and "Traceback" not in answer.text
    # Nothing half-written: no document, no pending row, no trace entry, no key, no blob.
    assert _counts(platform) == before
    assert {blob.key for blob in platform.content.blobs.list("records/")} == blobs_before
    # And the portal is fine afterwards: the same deposit sent again (from a fresh form) is stored.
    browser.get(f"/pro/patients/{record.id}/deposit")
    again = browser.client.post(f"/pro/patients/{record.id}/deposit",
                                data={**FIELDS, "csrf_token": browser.csrf()},
                                files={"file": ("letter.pdf", real_pdf(), "application/pdf")})
    assert again.status_code == 303, again.text


def test_a_document_whose_content_is_missing_is_a_503_page_to_read(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    in_circle(platform, record, pro.id)
    with platform.transaction() as session:
        letter = as_professional(session, platform, session.get(Professional, pro.id)).deposit(
            record.id, professional_draft(), [real_pdf()])
        key = letter.content_key
    platform.content.blobs.delete(key)  # a blob lost on disk: store check --verify reports it as MISSING
    answer = pro.browser.get(f"/pro/patients/{record.id}/documents/{letter.id}/content")
    assert answer.status_code == 503, answer.text
    assert "The document cannot be opened just now" in answer.text and "Traceback" not in answer.text


def test_a_holder_upload_whose_pending_content_was_taken_back_is_a_503_and_nothing_is_written(
    platform: Platform, clock: FrozenClock, database_url: str, store_check_at_the_worst_moment: list[list[str]],
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: no pending content, store check never runs during a deposit")
    from tests.search.pdfs import pdf_with_text
    from tests.web.test_holder_documents import holder_browser, upload

    browser, record = holder_browser(platform, clock)
    before = _counts(platform)
    answer = upload(browser, pdf_with_text("Carnet de vaccination"))
    assert len(store_check_at_the_worst_moment) == 1
    assert answer.status_code == 503 and answer.headers["retry-after"] == "60", answer.text
    assert "Nothing was saved. Please send it again in a moment." in answer.text
    assert _counts(platform) == before
    assert list(platform.content.blobs.list(f"records/{record.id}/")) == []
