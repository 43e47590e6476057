"""The spool: received content in memory while small, sealed in an unlinked temporary file beyond."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from opendsp.clock import SeededRandomness
from opendsp.content.service import ContentUnavailable
from opendsp.documents.spool import Spool, SpoolBroken


def test_small_content_stays_in_memory_and_reads_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(randomness=SeededRandomness(1), folder=tmp_path, memory_limit=100)
    spool.write(b"abc")
    spool.write(b"def")
    spool.finish()
    assert not spool.on_disk and list(tmp_path.iterdir()) == []
    assert b"".join(spool.chunks()) == b"abcdef" and spool.size == 6
    assert spool.sha1 == base64.b64encode(hashlib.sha1(b"abcdef").digest()).decode()


def test_large_content_is_sealed_on_disk_never_in_clear_and_reads_back_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = os.urandom(10_000) + b"PLAINTEXT-MARKER" * 1000 + os.urandom(7)
    spool = Spool(randomness=SeededRandomness(1), folder=tmp_path, memory_limit=1000, segment_size=4096)
    for start in range(0, len(content), 777):
        spool.write(content[start:start + 777])
    spool.finish()
    assert spool.on_disk
    chunks = list(spool.chunks())
    assert b"".join(chunks) == content and max(map(len, chunks)) <= 4096
    assert b"".join(spool.chunks()) == content  # read again: the deposit may be retried with emergency access
    assert spool.size == len(content)
    assert spool.sha1 == base64.b64encode(hashlib.sha1(content).digest()).decode()
    # The file is unlinked as soon as it is made: nothing in the folder, even while it is open.
    assert list(tmp_path.iterdir()) == []
    raw = spool._file
    assert raw is not None
    raw.seek(0)
    assert b"PLAINTEXT-MARKER" not in raw.read()
    spool.close()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_temporary_file_fails_as_unavailable_content(tmp_path, damage: str) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(randomness=SeededRandomness(1), folder=tmp_path, memory_limit=10, segment_size=64)
    spool.write(bytes(1000))
    spool.finish()
    raw = spool._file
    assert raw is not None
    if damage == "truncate":
        raw.truncate(300)
    else:
        raw.seek(200)
        raw.write(b"\xff")
    with pytest.raises(SpoolBroken) as broken:
        b"".join(spool.chunks())
    assert isinstance(broken.value, ContentUnavailable)  # every adapter answers it as a temporary failure
