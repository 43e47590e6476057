"""Authenticated encryption of content, in segments so that it streams.

Format: a 16-byte header (magic, version, segment size, 7-byte nonce prefix)
then segments sealed with AES-256-GCM. Each segment's nonce is the prefix, its
index and a last-segment flag, and the header plus the content's storage key
are authenticated with every segment: a segment that is altered, dropped,
moved, or a blob copied to another document's place fails to open.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendsp.clock import Randomness

MAGIC = b"ODS1"
SEGMENT_SIZE = 256 * 1024
_TAG = 16
_HEADER = struct.Struct(">4sI8s")  # magic, segment size, nonce prefix (7 bytes + 1 reserved)


class SealBroken(Exception):
    """The content does not open: it was altered, truncated or misplaced."""


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    yield bytes(buffer)


def seal(
    plaintext: Iterable[bytes], *, key: bytes, context: bytes, randomness: Randomness, segment_size: int = SEGMENT_SIZE
) -> Iterator[bytes]:
    """Yield the sealed stream of ``plaintext`` (an iterable of byte chunks)."""
    prefix = randomness.bytes(7)
    header = _HEADER.pack(MAGIC, segment_size, prefix + b"\0")
    aead = AESGCM(key)
    yield header
    aad = header + context
    segments = _rechunk(plaintext, segment_size)
    current = next(segments)
    index = 0
    for following in segments:
        # A full segment followed by an empty remainder is still the last one.
        if following == b"" and len(current) == segment_size:
            break
        yield aead.encrypt(_nonce(prefix, index, False), current, aad)
        current, index = following, index + 1
    yield aead.encrypt(_nonce(prefix, index, True), current, aad)


def unseal(sealed: Iterable[bytes], *, key: bytes, context: bytes) -> Iterator[bytes]:
    """Yield the plaintext of a sealed stream, raising SealBroken on any tampering."""
    chunks = iter(sealed)
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= _HEADER.size:
            break
    if len(buffer) < _HEADER.size:
        raise SealBroken("the sealed content is shorter than its header")
    header = bytes(buffer[: _HEADER.size])
    del buffer[: _HEADER.size]
    magic, segment_size, padded_prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise SealBroken("the sealed content has an unknown format")
    prefix = padded_prefix[:7]
    aead = AESGCM(key)
    aad = header + context
    sealed_size = segment_size + _TAG
    index = 0
    exhausted = False
    while True:
        # Read one byte past a segment so that we know whether it is the last one.
        while not exhausted and len(buffer) <= sealed_size:
            try:
                buffer += next(chunks)
            except StopIteration:
                exhausted = True
        last = exhausted and len(buffer) <= sealed_size
        segment = bytes(buffer[:sealed_size])
        del buffer[:sealed_size]
        try:
            yield aead.decrypt(_nonce(prefix, index, last), segment, aad)
        except InvalidTag:
            raise SealBroken(f"segment {index} of the sealed content fails authentication") from None
        if last:
            return
        index += 1
