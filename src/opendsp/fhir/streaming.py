"""A Provide Document Bundle read as it streams: its documents decoded into spools, the rest kept to be parsed.

``BundleReader`` is fed the body chunk by chunk. It follows the JSON just
enough to know where strings begin and end, and which key a string is the
value of. Every non-empty string value of a ``"data"`` key (``Binary.data``,
``Attachment.data``) is base64-decoded as it arrives into a ``Spool`` and
replaced, in what is kept of the body, by a placeholder: a random token that
is itself valid base64, so that the rest of the Bundle, now a few kilobytes,
is parsed and validated by the same code and the same models as any other
resource (``validation.parse``). Anything the reader does not recognise (a
key written with escapes, say) stays in the body, and is decoded later from
the parsed JSON as before: the reader only moves the bulk out of memory, it
decides nothing about the Bundle's meaning.

The JSON syntax is checked by the parser on what is kept; the reader itself
refuses only what it must understand: malformed base64 (400, ``value``), and
a body that ends inside a string (400, ``structure``).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from opendsp.documents.spool import Spool
from opendsp.fhir.errors import FhirError

_BASE64 = re.compile(rb"[A-Za-z0-9+/=]*")
_STRING_END = re.compile(rb'["\\]')
_WHITESPACE = b" \t\r\n"
_KEY = b"data"
_HEX = frozenset(b"0123456789abcdefABCDEF")


def not_base64(where: str = "Binary.data") -> FhirError:
    return FhirError(400, "value", "the data is not valid base64", expression=where)


class Base64Stream:
    """Decodes base64 text given in pieces of any length, as strictly as ``b64decode(validate=True)``."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        self._pending = b""
        self._ended = False  # a padded quantum was seen: nothing may follow

    def feed(self, text: bytes) -> None:
        data = self._pending + text if self._pending else text
        cut = len(data) - len(data) % 4
        if cut:
            if self._ended:
                raise not_base64()
            quantum = data[:cut]
            padding = quantum.find(b"=")
            if padding >= 0 and (padding < cut - 2 or quantum.count(b"=") != cut - padding):
                raise not_base64()  # "=" pads the last quantum only (a2b_base64 lets "====" through)
            try:
                decoded = binascii.a2b_base64(quantum, strict_mode=True)
            except binascii.Error:
                raise not_base64() from None
            self._ended = quantum.endswith(b"=")
            self._sink(decoded)
        self._pending = data[cut:]

    def finish(self) -> None:
        if self._pending:
            raise not_base64()


@dataclass
class ReceivedBundle:
    """The body without its documents' bytes, and the spools that hold them, by placeholder."""

    body: bytes
    spools: dict[str, Spool] = field(default_factory=dict)

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()


class BundleReader:
    OUTSIDE, STRING, DATA = range(3)

    def __init__(self, new_spool: Callable[[], Spool], token: str) -> None:
        self._new_spool = new_spool
        self._token = token  # 32 hex digits: with an 8-digit index, a placeholder of 40 base64 characters
        self._kept = bytearray()
        self._state = self.OUTSIDE
        self._last = 0  # the last significant byte outside strings
        self._string = bytearray()  # the current string's raw bytes, while it may still be a key ("data")
        self._key: bytes | None = None  # the raw text of the last string that ended
        self._escape = b""  # an escape sequence cut by a chunk's end
        self._spool: Spool | None = None
        self._decoder: Base64Stream | None = None
        self.received = ReceivedBundle(b"")

    def feed(self, chunk: bytes) -> None:
        position, end = 0, len(chunk)
        while position < end:
            if self._state == self.OUTSIDE:
                quote = chunk.find(b'"', position)
                stop = end if quote < 0 else quote
                segment = chunk[position:stop].rstrip(_WHITESPACE)
                if segment:
                    self._last = segment[-1]
                self._kept += chunk[position:stop]
                if quote < 0:
                    return
                position = quote + 1
                if self._last == ord(":") and self._key == _KEY:
                    self._start_data()
                else:
                    self._kept += b'"'
                    self._state, self._string = self.STRING, bytearray()
            elif self._state == self.STRING:
                position = self._in_string(chunk, position, end)
            else:
                position = self._in_data(chunk, position, end)

    def _in_string(self, chunk: bytes, position: int, end: int) -> int:
        if self._escape:  # the byte after a backslash that ended the last chunk
            self._kept += chunk[position:position + 1]
            self._string = bytearray(b"\\")  # an escaped key is not recognised: it is never "data"
            self._escape = b""
            position += 1
        match = _STRING_END.search(chunk, position)
        stop = end if match is None else match.start()
        self._kept += chunk[position:stop]
        if len(self._string) <= len(_KEY):  # enough to tell "data" from a longer key
            self._string += chunk[position:min(stop, position + 2 * len(_KEY))]
        if match is None:
            return end
        if chunk[stop] == ord("\\"):
            self._kept += b"\\"
            self._string += b"\\"
            if stop + 1 < end:
                self._kept += chunk[stop + 1:stop + 2]
                return stop + 2
            self._escape = b"\\"
            return end
        self._kept += b'"'
        self._key, self._last, self._state = bytes(self._string), ord('"'), self.OUTSIDE
        return stop + 1

    def _start_data(self) -> None:
        spool = self._new_spool()
        self._spool, self._decoder, self._state = spool, Base64Stream(spool.write), self.DATA

    def _in_data(self, chunk: bytes, position: int, end: int) -> int:
        assert self._decoder is not None
        while self._escape and position < end:  # rare: taken a byte at a time, across chunks if need be
            self._escape += chunk[position:position + 1]
            position += 1
            if len(self._escape) == (6 if self._escape[1:2] == b"u" else 2):
                self._decoder.feed(self._unescaped(self._escape))
                self._escape = b""
        if self._escape:
            return end
        match = _STRING_END.search(chunk, position)
        stop = end if match is None else match.start()
        if stop > position:
            self._decoder.feed(chunk[position:stop])
        if match is None:
            return end
        if chunk[stop] == ord("\\"):
            self._escape = b"\\"
            return stop + 1
        self._end_data()
        return stop + 1

    @staticmethod
    def _unescaped(escape: bytes) -> bytes:
        """JSON writers may escape ``/`` (``\\/``) or any character (``\\u0041``); nothing else belongs in base64."""
        if escape == b"\\/":
            return b"/"
        if len(escape) == 6 and escape[1:2] == b"u" and all(c in _HEX for c in escape[2:]):
            character = bytes([int(escape[2:], 16)]) if int(escape[2:], 16) < 128 else b"!"
            if _BASE64.fullmatch(character):
                return character
        raise not_base64()

    def _end_data(self) -> None:
        assert self._spool is not None and self._decoder is not None
        self._decoder.finish()
        self._spool.finish()
        if self._spool.size == 0:
            self._spool.close()
            self._kept += b'""'  # an empty value is left to the validation, as it always was
        else:
            placeholder = f"{self._token}{len(self.received.spools):08x}"
            self.received.spools[placeholder] = self._spool
            self._kept += b'"' + placeholder.encode() + b'"'
        self._spool = self._decoder = None
        self._key, self._last, self._state = None, ord('"'), self.OUTSIDE

    def finish(self) -> ReceivedBundle:
        if self._state != self.OUTSIDE:
            raise FhirError(400, "structure", "the request body is not valid JSON: it ends inside a string")
        self.received.body = bytes(self._kept)
        return self.received

    def close(self) -> None:
        """Drop every spool (a body refused half-way)."""
        if self._spool is not None:
            self._spool.close()
        self.received.close()
