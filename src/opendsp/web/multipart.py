"""Multipart forms read in memory, with the CSRF token checked before any file is read.

Starlette's ``request.form()`` spools every file over 1 MB to a temporary
file, in clear: a professional's PDF would touch the disk before it is
sealed. Here the form is parsed from the request stream as it arrives and
kept in memory, bounded by the route's body limit (``web.limits``), so a file
exists only in this process until ``RecordAccess`` seals it.

Browsers send the fields in the order of the page, and every form puts its
``csrf_token`` first: the token is checked as soon as it has arrived, and a
file that comes before any token is refused before its content is read.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile

from opendsp.locale import N_

TOKEN_FIELD = "csrf_token"
MAX_PARTS = 200
UNREADABLE = N_("The form could not be read: please send it again.")


class _Parts:
    """The parser's callbacks: collects (name, text or file) pairs and notices the token."""

    def __init__(self, boundary: bytes) -> None:
        self.items: list[tuple[str, str | UploadFile]] = []
        self.token: str | None = None
        self.file_before_token = False
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._name = ""
        self._filename: str | None = None
        self._data = bytearray()
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
            "on_headers_finished": self._headers_done, "on_part_data": self._part_data, "on_part_end": self._end,
        })

    def _begin(self) -> None:
        self._headers, self._header_field, self._data = {}, b"", bytearray()

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field = data[start:end].lower()

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header_field] = self._headers.get(self._header_field, b"") + data[start:end]

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._filename = filename.decode("utf-8", "replace") if filename is not None else None
        if self._filename is not None and self.token is None:
            self.file_before_token = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.file_before_token:
            self._data.extend(data[start:end])

    def _end(self) -> None:
        if len(self.items) >= MAX_PARTS:
            raise HTTPException(400, UNREADABLE)
        if self._filename is None:
            text = self._data.decode("utf-8", "replace")
            if self._name == TOKEN_FIELD and self.token is None:
                self.token = text
            self.items.append((self._name, text))
            return
        headers = Headers(raw=[(k, v) for k, v in self._headers.items()])
        upload = UploadFile(io.BytesIO(bytes(self._data)), size=len(self._data), filename=self._filename,
                            headers=headers)
        self.items.append((self._name, upload))


async def read_multipart(request: Request, check_token: Callable[[str | None], None]) -> FormData:
    """The form, in memory; ``check_token`` is called with the token before any file's content is kept."""
    cached = getattr(request.state, "multipart_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise HTTPException(400, UNREADABLE)
    parts = _Parts(options[b"boundary"])
    checked = False
    async for chunk in request.stream():
        parts.parser.write(chunk)
        if parts.file_before_token:
            check_token(None)  # refuses: no file is read before the form's token
        if parts.token is not None and not checked:
            check_token(parts.token)
            checked = True
    parts.parser.finalize()
    if not checked:
        check_token(parts.token)
    form = FormData(parts.items)
    request.state.multipart_form = form
    return form


async def read_form(request: Request) -> FormData:
    """The form the route's CSRF check already read (``csrf_protect``), or a plain one."""
    cached = getattr(request.state, "multipart_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        from opendsp.web.security import check_csrf_token

        return await read_multipart(request, lambda sent: check_csrf_token(request, sent))
    return await request.form()
