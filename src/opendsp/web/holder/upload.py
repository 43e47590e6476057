"""Déposer un document: the holder's own PDF or image, into the personal space.

The form is read from the request stream as it arrives (not with
``request.form()``, which spools large files to a temporary file in clear):
the file is kept in memory up to the size limit and no further, checked by
its content (``documents.uploads``), then sealed by ``RecordAccess.deposit``.
A refused file leaves nothing behind, and the page says why it was refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from opendsp.accounts.models import AccountKind
from opendsp.documents.services import DocumentDraft, DocumentRefused
from opendsp.documents.types import DocumentType
from opendsp.documents.uploads import MAX_UPLOAD_BYTES, UploadRefused, media_type_of, too_big
from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.web.auth_views import PlatformDep, require_viewer, see_other
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.security import check_csrf_token
from opendsp.web.templating import translate

router = APIRouter()
# The form is streamed: its CSRF token is checked in ``upload`` (the dependency would read the body first).
CHECKS_ITS_OWN_CSRF_TOKEN = True
FIELDS = ("csrf_token", "title", "care_date", "type")
MAX_FIELD = 2000  # bytes of a text field
# The types the holder deposits in the personal space.
PERSONAL_TYPES = (DocumentType.personal_document,)


class UploadForm:
    """The fields and the file of a multipart form, read chunk by chunk with bounded memory."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        self.fields: dict[str, str] = {}
        self.file = bytearray()
        self.file_name = ""
        self.too_big = False
        self.file_before_token = False
        self.limit = limit
        self._name = ""
        self._is_file = False
        self._header_field = b""
        self._headers: dict[bytes, bytes] = {}
        self._value = bytearray()
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": self._field, "on_header_value": self._header_value,
            "on_headers_finished": self._headers_done,
        })

    def _begin(self) -> None:
        self._headers, self._value, self._header_field = {}, bytearray(), b""

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field = data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header_field] = self._headers.get(self._header_field, b"") + data[start:end]

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options
        if self._is_file and "csrf_token" not in self.fields:
            self.file_before_token = True  # the page puts its token first: a file before it is refused unread
        if self._is_file and self._name == "file":
            self.file_name = options[b"filename"].decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file and self._name == "file":
            if len(self.file) + (end - start) > self.limit:
                self.too_big = True
                self.file.clear()  # past the limit nothing more is kept; the rest is read and dropped
            elif not self.too_big:
                self.file.extend(data[start:end])
        elif self._name in FIELDS and len(self._value) < MAX_FIELD:
            self._value.extend(data[start:end][: MAX_FIELD - len(self._value)])

    def _end(self) -> None:
        if not self._is_file and self._name in FIELDS:
            self.fields[self._name] = self._value.decode("utf-8", "replace")


async def read_form(request: Request, limit: int) -> UploadForm:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(400, N_("The form could not be read: please send it again."))
    form = UploadForm(options[b"boundary"], limit)
    checked = False
    async for chunk in request.stream():
        form.parser.write(chunk)
        if not checked and (form.file_before_token or "csrf_token" in form.fields):
            check_csrf_token(request, None if form.file_before_token else form.fields["csrf_token"])
            checked = True
    form.parser.finalize()
    return form


def _page(request: Request, platform: Any, status: int = 200, **context: Any) -> HTMLResponse:
    with holder_view(request, platform) as view:
        return render_holder(request, view, "holder/upload.html", status, types=PERSONAL_TYPES,
                             limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024), today=view.access.now.date().isoformat(),
                             **{"error": None, "title": "", "care_date": "", **context})


@router.get("/record/upload", response_class=HTMLResponse)
def upload_form(request: Request, platform: PlatformDep) -> HTMLResponse:
    return _page(request, platform)


@router.post("/record/upload")
async def upload(request: Request, platform: PlatformDep) -> Response:
    require_viewer(request, AccountKind.person)  # who is logged in, before a byte of the file is read
    form = await read_form(request, MAX_UPLOAD_BYTES)
    check_csrf_token(request, form.fields.get("csrf_token"))
    return await run_in_threadpool(_deposit, request, platform, form)


def _deposit(request: Request, platform: Platform, form: UploadForm) -> Response:
    title = form.fields.get("title", "").strip()
    day = form.fields.get("care_date", "")
    kept = {"title": title, "care_date": day}
    try:
        if not title:
            raise UploadRefused(N_("Give the document a title."))
        if len(title) > 500:
            raise UploadRefused(N_("The title is too long: at most 500 characters."))
        if "\x00" in title:
            raise UploadRefused(N_("The form holds a character that is not allowed."))
        try:
            care_date = date.fromisoformat(day)
        except ValueError:
            raise UploadRefused(N_("Give the date of the document.")) from None
        if care_date > platform.clock.now().date():
            raise UploadRefused(N_("The date of the document cannot be in the future."))
        kind = form.fields.get("type", DocumentType.personal_document.value)
        if kind not in {t.value for t in PERSONAL_TYPES}:
            raise UploadRefused(N_("Choose the type of the document."))
        if form.too_big:
            raise too_big(MAX_UPLOAD_BYTES)
        if not form.file_name and not form.file:
            raise UploadRefused(N_("Choose a file to send."))
        media_type = media_type_of(bytes(form.file), limit=MAX_UPLOAD_BYTES)
    except UploadRefused as refused:
        message = translate(request, refused.message)
        return _page(request, platform, 422, error=message % refused.values if refused.values else message, **kept)
    content = bytes(form.file)
    form.file.clear()
    draft = DocumentDraft(type=DocumentType(kind), title=title, care_date=care_date, media_type=media_type)
    with holder_view(request, platform) as view:
        try:
            document = view.access.deposit(view.record.id, draft, _chunks(content))
        except DocumentRefused:
            raise HTTPException(422, N_("The document could not be stored: please check the form.")) from None
        document_id = document.id
    return see_other(f"/record/documents/{document_id}")


def _chunks(content: bytes, size: int = 64 * 1024):  # type: ignore[no-untyped-def]
    for start in range(0, len(content), size):
        yield content[start:start + size]
