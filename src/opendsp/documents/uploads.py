"""Files a person uploads: accepted or refused by what they contain, never by their name or declared type.

A PDF, a JPEG or a PNG is accepted when its bytes say so (``puremagic`` and
the format's signature at offset 0), and a PDF only when it opens (``pypdf``),
is not encrypted and has at least one page. Every refusal carries a message
for the person (an untranslated message id; the portal translates it).
"""

from __future__ import annotations

import io

import puremagic

from opendsp.locale import N_

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
ACCEPTED = {
    "application/pdf": b"%PDF-",
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}


class UploadRefused(ValueError):
    """The file is refused; ``message`` says why, in words for the person (with ``values`` to fill in)."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values


def too_big(limit: int = MAX_UPLOAD_BYTES) -> UploadRefused:
    return UploadRefused(N_("The file is too big: at most %(size)s MB are accepted."), size=limit // (1024 * 1024))


def media_type_of(content: bytes, *, limit: int = MAX_UPLOAD_BYTES) -> str:
    """The file's media type, read from its content, or ``UploadRefused`` saying what is wrong with it."""
    if not content:
        raise UploadRefused(N_("The file is empty."))
    if len(content) > limit:
        raise too_big(limit)
    try:
        found = puremagic.from_string(content[:8192] if len(content) > 8192 else content, mime=True)
    except (puremagic.PureError, ValueError):
        found = ""
    media_type = next((t for t, signature in ACCEPTED.items() if content.startswith(signature)), None)
    if media_type is None or (found and found != media_type and media_type != "application/pdf"):
        raise UploadRefused(N_("This kind of file is not accepted: send a PDF, a JPEG or a PNG image."))
    if media_type == "application/pdf":
        _check_pdf(content)
    elif media_type == "image/png" and b"IEND" not in content[-64:]:
        raise UploadRefused(N_("The image is incomplete or damaged."))
    elif media_type == "image/jpeg" and b"\xff\xd9" not in content[-64:]:
        raise UploadRefused(N_("The image is incomplete or damaged."))
    return media_type


def _check_pdf(content: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise UploadRefused(N_("The PDF is protected by a password: send it without the protection."))
        pages = len(reader.pages)
        if pages:
            reader.pages[0].mediabox  # noqa: B018 - the first page must be readable
    except UploadRefused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError):
        raise UploadRefused(N_("The PDF cannot be opened: it may be damaged.")) from None
    if not pages:
        raise UploadRefused(N_("The PDF has no page."))
