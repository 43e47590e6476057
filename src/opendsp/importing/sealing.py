"""The work done in the process pool: read a content file, check it, seal it, write it, index it.

Each job carries the record's data key and search key (computed once per record in the main
process), so a worker needs no database and no master key. Blobs are written under their new
name but not fsynced: the main process makes a whole batch durable at once (``make_durable``)
before the batch's rows commit. On PostgreSQL a worker also returns each document's search-term
rows already encoded for ``COPY … (FORMAT BINARY)``, so that the main process does no work per
term (``copy_binary``).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from opendsp.clock import SystemRandomness
from opendsp.content.sealing import seal
from opendsp.search import text
from opendsp.search.index import BODY_WEIGHT, METADATA_WEIGHT, TITLE_WEIGHT, body_text, damped, token

_metadata_terms = lru_cache(maxsize=4096)(text.terms)
# Content larger than this is refused by the import (the deposit path streams; a job holds content in memory).
MAX_IMPORTED_CONTENT = 64 * 1024 * 1024


@dataclass(frozen=True)
class SealJob:
    line: int
    path: str  # the content file, absolute
    content_key: str
    media_type: str
    title: str
    metadata_text: str
    size: int | None
    sha256: str | None
    sha1: str | None
    document_id: bytes = b""  # 16 bytes; needed for the binary search-term rows only


@dataclass(frozen=True)
class SealedRecordJobs:
    """One record's jobs, with that record's keys: what one task of the pool receives."""

    data_key: bytes
    search_key: bytes
    blob_root: str | None  # a local content folder to write into; None: the sealed bytes are returned
    jobs: tuple[SealJob, ...]
    record_id: bytes = b""  # 16 bytes
    master_key_id: str = ""  # the master key the search key comes from
    binary_terms: bool = False  # return the search-term rows as COPY binary data rather than tokens


@dataclass(frozen=True)
class Sealed:
    line: int
    size: int
    sha256: str
    tokens: tuple[tuple[str, int], ...]
    sealed: bytes | None = None  # only when the main process stores the blob itself
    error: str | None = None
    terms_copy: bytes = b""  # with ``binary_terms``: the search-term rows, COPY binary, no header
    term_rows: int = 0


# COPY binary framing (PostgreSQL's "Binary Format" of COPY): a signature, flags and header extension,
# then per row a field count and each field as a length and bytes, and -1 as a field count at the end.
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_BINARY_TRAILER = struct.pack(">h", -1)
# The order the worker encodes a search-term row in (constant fields first).
TERM_BINARY_COLUMNS = ("record_id", "document_id", "master_key_id", "id", "token", "weight")
_UUID_FIELD = struct.pack(">i", 16)
_TOKEN_FIELD = struct.pack(">i", 64)
_WEIGHT = struct.Struct(">ii")


def seal_record_jobs(work: SealedRecordJobs) -> list[Sealed]:
    randomness = SystemRandomness()
    folders: set[Path] = set()
    return [_seal_one(work, job, randomness, folders) for job in work.jobs]


def term_rows_binary(record_id: bytes, document_id: bytes, master_key_id: str,
                     tokens: tuple[tuple[str, int], ...]) -> bytes:
    """A document's search-term rows in COPY binary (``TERM_BINARY_COLUMNS``), each with a new random id."""
    key = master_key_id.encode()
    constant = (struct.pack(">h", len(TERM_BINARY_COLUMNS)) + _UUID_FIELD + record_id + _UUID_FIELD + document_id
                + struct.pack(">i", len(key)) + key + _UUID_FIELD)
    parts = []
    for hexdigest, weight in tokens:
        parts += (constant, time_ordered_id(), _TOKEN_FIELD, hexdigest.encode("ascii"), _WEIGHT.pack(4, weight))
    return b"".join(parts)


def time_ordered_id() -> bytes:
    """A version 7 UUID (RFC 9562: 48 bits of Unix milliseconds, then random bits), as 16 bytes.

    The ids of the rows a batch writes then land at the right edge of the primary key's index
    instead of at random pages of it: at hundreds of millions of search terms, that is the
    difference between appending and reading a random index page for every row.
    """
    value = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    value[6] = (value[6] & 0x0F) | 0x70
    value[8] = (value[8] & 0x3F) | 0x80
    return bytes(value)


def _failed(job: SealJob, reason: str) -> Sealed:
    return Sealed(line=job.line, size=0, sha256="", tokens=(), error=reason)


def _seal_one(work: SealedRecordJobs, job: SealJob, randomness: SystemRandomness, folders: set[Path]) -> Sealed:
    try:
        # A link is not followed: its target could lie outside the content folder.
        with os.fdopen(os.open(job.path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
            # Sized first: asking read() for the limit would allocate the limit for every file.
            if os.fstat(handle.fileno()).st_size > MAX_IMPORTED_CONTENT:
                return _failed(job, f"the content is larger than {MAX_IMPORTED_CONTENT} bytes")
            content = handle.read()
    except FileNotFoundError:
        return _failed(job, "the content file does not exist")
    except OSError as error:
        if error.errno == errno.ELOOP:
            return _failed(job, "the content file is a symbolic link")
        return _failed(job, f"the content file cannot be read: {error.strerror}")
    if len(content) > MAX_IMPORTED_CONTENT:  # grew while read
        return _failed(job, f"the content is larger than {MAX_IMPORTED_CONTENT} bytes")
    if job.size is not None and len(content) != job.size:
        return _failed(job, f"the content has {len(content)} bytes, the export says {job.size}")
    sha256 = hashlib.sha256(content).hexdigest()
    if job.sha256 is not None and sha256 != job.sha256.lower():
        return _failed(job, "the content does not match its sha256")
    if job.sha1 is not None and hashlib.sha1(content).hexdigest() != job.sha1:  # noqa: S324 - FHIR's Attachment.hash
        return _failed(job, "the content does not match its hash (SHA-1)")
    sealed = b"".join(seal([content], key=work.data_key, context=job.content_key.encode(), randomness=randomness))
    # What ``text.weighted`` gives for (title, metadata, body), with the metadata's terms computed once
    # per author and type in this worker rather than once per document.
    weights: Counter[str] = Counter()
    for terms, weight in ((text.terms(job.title), TITLE_WEIGHT), (_metadata_terms(job.metadata_text), METADATA_WEIGHT),
                          (text.terms(body_text(job.media_type, content)), BODY_WEIGHT)):
        for term, count in terms.items():
            weights[term] += count * weight
    tokens = tuple((token(work.search_key, term), damped(weight)) for term, weight in sorted(weights.items()))
    rows = {}
    if work.binary_terms:
        rows = {"terms_copy": term_rows_binary(work.record_id, job.document_id, work.master_key_id, tokens),
                "term_rows": len(tokens)}
        tokens = ()
    if work.blob_root is None:
        return Sealed(line=job.line, size=len(content), sha256=sha256, tokens=tokens, sealed=sealed, **rows)
    write_blob(Path(work.blob_root), job.content_key, sealed, folders)
    return Sealed(line=job.line, size=len(content), sha256=sha256, tokens=tokens, **rows)


def write_blob(root: Path, key: str, sealed: bytes, folders: set[Path] | None = None) -> None:
    """Write a new blob under its name; not yet durable.

    The name is new (a random content id, named as pending first) and no row names it before the
    batch commits, which happens only after ``make_durable``: a blob cut short by a crash is never
    read, and ``store check`` removes it. So no temporary name and rename are needed. ``folders``:
    the folders this process already made (one ``mkdir`` per record rather than per blob).
    """
    path = root / key
    if folders is None or path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folders is not None:
            folders.add(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(sealed)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def make_durable(root: Path, keys: list[str]) -> None:
    """Everything written under ``root`` reaches the disk: one ``syncfs`` for the whole batch where
    Linux offers it, else an fsync of every blob and of every folder that holds one."""
    if _syncfs(root):
        return
    folders: set[Path] = set()
    for key in keys:
        path = root / key
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        folders.update(f for f in (path.parent, *path.parent.parents) if f.is_relative_to(root))
    for folder in sorted(folders, key=lambda f: -len(f.parts)):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _syncfs(root: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bool(syncfs(descriptor) == 0)
    finally:
        os.close(descriptor)
