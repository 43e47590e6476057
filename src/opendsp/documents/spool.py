"""Content received but not yet deposited: in memory while small, else sealed in a temporary file.

A Provide Document Bundle carries its documents before the checks that decide
whether they may be deposited (the patient, the codes, the policy), and the
record's data key is known only once they pass. Meanwhile each document is
written here as it is decoded: the first ``memory_limit`` bytes in memory,
beyond that in an anonymous temporary file (unlinked at once, so the system
removes it when it is closed or the process dies), sealed with AES-256-GCM in
segments under a key that lives only in this object. No plaintext reaches the
disk and the server's memory does not grow with the document
(docs/adr/0034-streamed-submissions.md).

The SHA-1 (which an MHD attachment declares) and the size are computed as the
bytes arrive; the SHA-256 the document keeps is computed by the sealed store
when the content is deposited.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendsp.clock import Randomness
from opendsp.content.service import ContentUnavailable

MEMORY_LIMIT = 1024 * 1024
SEGMENT_SIZE = 256 * 1024
_TAG = 16


class SpoolBroken(ContentUnavailable):
    """The temporary file no longer opens as it was written (the disk altered or lost it): the deposit fails
    as a temporary failure (503), and nothing of it is kept."""


class Spool:
    """Bytes written once, then read back as chunks of at most ``segment_size`` bytes (as often as needed)."""

    def __init__(self, *, randomness: Randomness, folder: Path | None = None, memory_limit: int = MEMORY_LIMIT,
                 segment_size: int = SEGMENT_SIZE) -> None:
        self._randomness = randomness
        self._folder = folder
        self._memory_limit = memory_limit
        self._segment_size = segment_size
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._aead: AESGCM | None = None
        self._segments = 0
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self.size = 0
        self.finished = False

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: bytes) -> None:
        assert not self.finished, "a spool is written once"
        if not data:
            return
        self._sha1.update(data)
        self.size += len(data)
        self._buffer += data
        if self._file is None and len(self._buffer) > self._memory_limit:
            if self._folder is not None:
                self._folder.mkdir(parents=True, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=self._folder, prefix="opendsp-spool-")
            self._aead = AESGCM(self._randomness.bytes(32))
        if self._file is not None:
            while len(self._buffer) >= self._segment_size:
                self._seal(bytes(self._buffer[: self._segment_size]))
                del self._buffer[: self._segment_size]

    def finish(self) -> None:
        """No more bytes: the remainder goes to the file when there is one."""
        if self._file is not None and self._buffer:
            self._seal(bytes(self._buffer))
            self._buffer = bytearray()
        self.finished = True

    @property
    def sha1(self) -> str:
        """The SHA-1 of the content, base64 (the form of an MHD attachment's hash)."""
        return base64.b64encode(self._sha1.digest()).decode()

    def _nonce(self, index: int) -> bytes:
        return struct.pack(">8xI", index)  # the key is used for this spool only: the index is enough

    def _seal(self, segment: bytes) -> None:
        assert self._file is not None and self._aead is not None
        sealed = self._aead.encrypt(self._nonce(self._segments), segment, None)
        self._file.write(struct.pack(">I", len(sealed)) + sealed)
        self._segments += 1

    def chunks(self) -> Iterator[bytes]:
        """The content, verified segment by segment; a file shortened or altered raises SpoolBroken."""
        assert self.finished, "finish the spool before reading it"
        if self._file is None:
            if self._buffer:
                yield bytes(self._buffer)
            return
        assert self._aead is not None
        self._file.flush()
        self._file.seek(0)
        for index in range(self._segments):
            head = self._file.read(4)
            length = struct.unpack(">I", head)[0] if len(head) == 4 else 0
            sealed = self._file.read(length)
            if not length or len(sealed) != length:
                raise SpoolBroken(f"segment {index} of the received content is missing from its temporary file")
            try:
                yield self._aead.decrypt(self._nonce(index), sealed, None)
            except InvalidTag:
                raise SpoolBroken(f"segment {index} of the received content was altered on disk") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._buffer = bytearray()

    @classmethod
    def of(cls, content: bytes, *, randomness: Randomness) -> Spool:
        """Content already whole in memory, behind the same interface."""
        spool = cls(randomness=randomness, memory_limit=max(len(content), 1))
        spool.write(content)
        spool.finish()
        return spool
