"""Bodies are limited per route while they stream in, CSRF comes before the body, uploads never reach the disk.

The socket tests speak HTTP/1.1 by hand to a real uvicorn: a server that read a
body it should have refused would wait for bytes that never come, and the test
would fail on its timeout instead of reading the answer.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.platform import Platform
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder
from tests.live import serve
from tests.web.professional import professional_with_account, real_pdf, record_with_code

FORTY_MB = 40 * 1024 * 1024
ANSWER_TIMEOUT = 10  # seconds: an answer comes at once, or the server is waiting for the body it should refuse


@contextmanager
def raw_connection(platform: Platform) -> Iterator[socket.socket]:
    with serve(platform) as (url, _served):
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_TIMEOUT) as sock:
            yield sock


def status_line(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_an_anonymous_40_mb_post_to_login_is_refused_before_it_is_read(platform: Platform) -> None:
    with raw_connection(platform) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: opendsp\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n" % FORTY_MB)
        sock.sendall(b"identifier=" + b"a" * 4096)  # the first bytes of 40 MB that will never all be sent
        assert status_line(sock) == b"HTTP/1.1 413 Request Entity Too Large"


def test_a_chunked_body_is_refused_at_the_chunk_that_crosses_the_limit(platform: Platform) -> None:
    with raw_connection(platform) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: opendsp\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 16 * 1024
        for _ in range(6):  # 96 KiB, past the 64 KiB of a form, and never the final empty chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert status_line(sock) == b"HTTP/1.1 413 Request Entity Too Large"


def test_a_csrf_token_in_the_header_is_checked_before_the_body_is_read(platform: Platform) -> None:
    with raw_connection(platform) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: opendsp\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"X-CSRF-Token: forged\r\nContent-Length: 1000\r\n\r\n")  # and not one byte of the body
        assert status_line(sock) == b"HTTP/1.1 403 Forbidden"


def test_the_413_is_a_page_in_the_visitor_s_language_and_a_right_token_in_the_header_works(
        platform: Platform) -> None:
    browser = Browser(platform, language="de")
    browser.get("/login")
    too_big = browser.client.post("/login", content=b"identifier=" + b"a" * (70 * 1024),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert too_big.status_code == 413 and too_big.headers["content-type"].startswith("text/html")
    assert "Die Anfrage ist zu groß." in too_big.text
    # A script may send the token in the header instead of the form: the same login answer as the form gets.
    by_header = browser.client.post("/login", data={"identifier": "nobody", "password": "x"},
                                    headers={"X-CSRF-Token": browser.csrf()})
    by_form = browser.submit("/login", {"identifier": "nobody", "password": "x"})
    assert by_header.status_code == by_form.status_code != 403


class TemporaryFiles:
    """Counts the files made in the temporary folder while installed (a spooled upload rolls over into one).

    The content store's own ``.partial-`` files, in its folder, hold sealed bytes only: they are not counted.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made = 0
        for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
            original = getattr(tempfile, name)

            def counting(*args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
                if kwargs.get("dir") is None:
                    self.made += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(tempfile, name, counting)


def big_pdf(size: int) -> bytes:
    """A real one-page PDF padded with a comment to ``size`` bytes (still a valid file)."""
    pdf = real_pdf("Compte rendu")
    return pdf + b"\n%" + b"x" * (size - len(pdf) - 3) + b"\n"


def test_a_professional_s_pdf_over_1_mb_never_touches_the_disk_unsealed(
        platform: Platform, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    with platform.transaction() as session:
        as_holder(session, platform, session.merge(record)).add_to_circle(record.id, pro.id)
    browser = pro.browser
    browser.get(f"/pro/patients/{record.id}/deposit")
    fields = {"csrf_token": browser.csrf(), "type": "consultation_report", "title": "Compte rendu",
              "care_date": "2025-03-01", "confidentiality": "normal", "visible_from": ""}
    files = TemporaryFiles(monkeypatch)
    response = browser.client.post(f"/pro/patients/{record.id}/deposit", data=fields,
                                   files={"file": ("big.pdf", big_pdf(3 * 1024 * 1024), "application/pdf")})
    assert response.status_code == 303, response.text
    assert files.made == 0
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id)) == 1


def test_a_file_sent_before_the_form_s_token_is_refused_unread(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    browser = pro.browser
    browser.get(f"/pro/patients/{record.id}/deposit")
    token = browser.csrf()
    boundary = "perimeter"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + real_pdf() + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
        f"--{boundary}--\r\n").encode()
    response = browser.client.post(f"/pro/patients/{record.id}/deposit", content=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 403
    forged = browser.client.post(f"/pro/patients/{record.id}/deposit", data={"csrf_token": "forged"},
                                 files={"file": ("a.pdf", real_pdf(), "application/pdf")})
    assert forged.status_code == 403
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id)) == 0


def test_a_pdf_deposit_over_its_route_limit_is_a_413(platform: Platform, clock: FrozenClock) -> None:
    pro = professional_with_account(platform, clock)
    record, _ = record_with_code(platform)
    browser = pro.browser
    browser.get(f"/pro/patients/{record.id}/deposit")
    response = browser.client.post(f"/pro/patients/{record.id}/deposit", data={"csrf_token": browser.csrf()},
                                   files={"file": ("a.pdf", b"%PDF-" + b"0" * (21 * 1024 * 1024), "application/pdf")})
    assert response.status_code == 413


def test_the_holder_s_upload_checks_its_token_before_the_file_too(platform: Platform, clock: FrozenClock) -> None:
    from tests.search.pdfs import pdf_with_text
    from tests.web.test_holder_documents import holder_browser

    browser, record = holder_browser(platform, clock)
    browser.get("/record/upload")
    boundary = "perimeter"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf_with_text("Carnet") + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{browser.csrf()}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nCarnet\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"care_date\"\r\n\r\n2025-01-15\r\n"
        f"--{boundary}--\r\n").encode()
    response = browser.client.post("/record/upload", content=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 403
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id)) == 0


def test_a_holder_s_upload_over_1_mb_never_touches_the_disk_unsealed(
        platform: Platform, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.web.test_holder_documents import holder_browser, upload

    browser, record = holder_browser(platform, clock)
    files = TemporaryFiles(monkeypatch)
    response = upload(browser, big_pdf(3 * 1024 * 1024), title="Carnet de vaccination")
    assert response.status_code == 303, response.text
    assert files.made == 0
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document).where(Document.record_id == record.id)) == 1
