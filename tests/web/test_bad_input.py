"""Hostile input to the portals: a clear 4xx page or form error, nothing stored, and the server keeps serving."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.records.models import Record
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder
from tests.search.pdfs import pdf_with_text
from tests.web.professional import Pro, professional_with_account, real_pdf, record_with_code
from tests.web.test_holder_documents import holder_browser, upload


def documents(platform: Platform) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF file around the given objects (1 0 obj is the catalogue), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, table)
    return bytes(out)


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
DEPTH = 20_000  # far over the interpreter's recursion limit (1000)
# The page tree is an object of arrays nested DEPTH deep. pypdf wraps a recursion inside a dictionary into its
# own PdfReadError, but an indirect object that is itself an array is parsed by plain recursion: counting the
# pages, reading the first page and extracting the text all end in a bare RecursionError (proved below), which
# the deposit's check on main before issue 13 did not catch (a 500). Attacked in tests/web/test_crafted_pdf.py.
RECURSING_PDF = pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", b"[" * DEPTH + b"]" * DEPTH])
CRAFTED_PDFS = {  # each caught by pypdf itself; RECURSING_PDF's attacks are in tests/web/test_crafted_pdf.py
    # Arrays nested far deeper than the interpreter's recursion limit: the parser recurses into each.
    "deep nesting": pdf_of([b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * 50_000 + b"]" * 50_000 + b" >>",
                            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE]),
    "a page tree of itself": pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>",
                                     b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]),
    "a chain of references": pdf_of([b"<< /Type /Catalog /Pages 4 0 R >>", b"null", PAGE]
                                    + [b"%d 0 R" % (n + 5) for n in range(2000)]
                                    + [b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]),
}


def pro_in_circle(platform: Platform, clock: FrozenClock) -> tuple[Pro, Record]:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
    return pro, record


def deposit(pro: Pro, record: Record, content: bytes, title: str = "Compte rendu"):  # type: ignore[no-untyped-def]
    browser = pro.browser
    browser.get(f"/pro/patients/{record.id}/deposit")
    fields = {"csrf_token": browser.csrf(), "type": "consultation_report", "title": title,
              "care_date": "2025-03-01", "confidentiality": "normal", "visible_from": ""}
    return browser.client.post(f"/pro/patients/{record.id}/deposit", data=fields,
                               files={"file": ("a.pdf", content, "application/pdf")})


@pytest.mark.parametrize("crafted", list(CRAFTED_PDFS))
def test_a_crafted_pdf_in_a_professional_s_deposit_is_a_form_error(platform: Platform, clock: FrozenClock,
                                                                   crafted: str) -> None:
    pro, record = pro_in_circle(platform, clock)
    response = deposit(pro, record, CRAFTED_PDFS[crafted])
    assert response.status_code == 400 and "The PDF file is damaged and cannot be read." in response.text
    assert documents(platform) == 0
    assert deposit(pro, record, real_pdf()).status_code == 303  # and the server keeps serving


def test_a_nul_in_a_title_is_refused_on_both_portals(platform: Platform, clock: FrozenClock) -> None:
    pro, record = pro_in_circle(platform, clock)
    refused = deposit(pro, record, real_pdf(), title="Compte\x00rendu")
    assert refused.status_code == 400 and "The form holds a character that is not allowed." in refused.text
    holder, _record = holder_browser(platform, clock)
    mine = upload(holder, pdf_with_text("Carnet"), title="Carnet\x00de vaccination")
    assert mine.status_code == 422 and "The form holds a character that is not allowed." in mine.text
    assert documents(platform) == 0
    assert holder.get("/record").status_code == 200


def test_a_nul_in_a_search_is_refused_in_the_form_and_in_the_address(platform: Platform,
                                                                      clock: FrozenClock) -> None:
    holder, _record = holder_browser(platform, clock)
    refused = holder.submit("/record/search", {"q": "rapport\x00"}, form_page="/record/search")
    assert refused.status_code == 400 and "The form holds a character that is not allowed." in refused.text
    for address in ("/record/documents?type=%00", "/record/trace?since=2025%00", "/record/timeline?kind=%00"):
        response = holder.get(address)
        assert response.status_code == 400 and "The address holds a character" in response.text, address
    pro, record = pro_in_circle(platform, clock)
    assert pro.browser.get(f"/pro/patients/{record.id}?q=%00").status_code == 400
    found = pro.browser.submit("/pro/find", {"national_number": "\x00"}, form_page="/pro/find")
    assert found.status_code == 400
    assert holder.submit("/record/search", {"q": "rapport"}, form_page="/record/search").status_code == 200
