"""A PDF crafted to exhaust the parser's recursion, through every path that opens a PDF.

``RECURSING_PDF`` (tests/web/test_bad_input.py) makes pypdf itself raise a
bare ``RecursionError``: the first test proves it, so that the others attack
for real. Then the professional's deposit and the holder's upload answer a
clear form error with nothing stored, and the server keeps serving. The
keyword indexer reads no text from it; a client's FHIR deposit of it, which
reaches the indexer unchecked, is in tests/fhir/test_bad_input.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.search.index import pdf_text
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.search.pdfs import pdf_with_text
from tests.web.professional import real_pdf
from tests.web.test_bad_input import RECURSING_PDF, deposit, documents, pro_in_circle
from tests.web.test_holder_documents import holder_browser, upload

PARSER_ENTRIES: dict[str, Callable[[PdfReader], Any]] = {
    "counting the pages": lambda reader: len(reader.pages),
    "reading the first page's box": lambda reader: reader.pages[0].mediabox,
    "extracting the text": lambda reader: [page.extract_text() for page in reader.pages],
}


def test_the_keyword_indexer_reads_no_text_from_it() -> None:
    assert pdf_text(RECURSING_PDF) == ""


@pytest.mark.parametrize("entry", list(PARSER_ENTRIES))
def test_the_crafted_pdf_really_drives_pypdf_into_a_recursion_error(entry: str) -> None:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with pytest.raises(RecursionError):
        PARSER_ENTRIES[entry](PdfReader(io.BytesIO(RECURSING_PDF), strict=False))
    with pytest.raises(RecursionError):
        PARSER_ENTRIES[entry](PdfReader(io.BytesIO(RECURSING_PDF)))


def test_a_professional_s_deposit_of_it_is_a_form_error(platform: Platform, clock: FrozenClock) -> None:
    pro, record = pro_in_circle(platform, clock)
    response = deposit(pro, record, RECURSING_PDF)
    assert response.status_code == 400 and "The PDF file is damaged and cannot be read." in response.text
    assert documents(platform) == 0
    assert deposit(pro, record, real_pdf()).status_code == 303  # and the server keeps serving


def test_a_holder_s_upload_of_it_is_a_form_error(platform: Platform, clock: FrozenClock) -> None:
    holder, _record = holder_browser(platform, clock)
    response = upload(holder, RECURSING_PDF, title="Carnet")
    assert 400 <= response.status_code < 500 and "The PDF cannot be opened: it may be damaged." in response.text
    assert documents(platform) == 0
    assert upload(holder, pdf_with_text("Carnet de vaccination")).status_code == 303
    assert documents(platform) == 1
