"""Seal, store, open and check document content.

Content is written to the blob store *before* the metadata commits. If the
transaction then rolls back, the blob is deleted at once; if the process dies
in between, ``store check`` finds the blob without a document and removes it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from opendsp.clock import Clock, Randomness
from opendsp.content.keys import KeyProvider
from opendsp.content.models import RecordKey
from opendsp.content.sealing import SealBroken, seal, unseal
from opendsp.content.stores import BlobMissing, BlobStore


class ContentUnavailable(Exception):
    """Content cannot be given back: missing, altered, or its key destroyed."""


@dataclass(frozen=True)
class StoredContent:
    key: str
    size: int
    sha256: str


@dataclass
class StoreCheckReport:
    blobs_seen: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    orphans_too_recent: list[str] = field(default_factory=list)
    missing_content: list[str] = field(default_factory=list)
    broken_content: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (self.missing_content or self.broken_content)


def content_key(record_id: uuid.UUID, content_id: uuid.UUID) -> str:
    return f"records/{record_id}/{content_id}"


def _context(record_id: uuid.UUID) -> bytes:
    return b"opendsp/record-key/" + str(record_id).encode()


def on_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` if the session's transaction rolls back; forget it on commit."""
    pending: list[Callable[[], None]] = session.info.setdefault("on_rollback", [])
    if not session.info.get("on_rollback_listening"):
        session.info["on_rollback_listening"] = True

        @event.listens_for(session, "after_commit")
        def _forget(sess: Session) -> None:
            sess.info["on_rollback"].clear()

        @event.listens_for(session, "after_rollback")
        def _undo(sess: Session) -> None:
            actions = list(sess.info["on_rollback"])
            sess.info["on_rollback"].clear()
            for undo in actions:
                undo()

    pending.append(action)


class SealedContentStore:
    def __init__(self, *, blobs: BlobStore, keys: KeyProvider, clock: Clock, randomness: Randomness) -> None:
        self.blobs = blobs
        self.keys = keys
        self.clock = clock
        self.randomness = randomness

    # -- data keys -------------------------------------------------------

    def _data_key(self, session: Session, record_id: uuid.UUID, *, create: bool) -> bytes:
        row = session.get(RecordKey, record_id)
        if row is None:
            if not create:
                raise ContentUnavailable("this record has no content key")
            data_key = self.randomness.bytes(32)
            master_key_id, wrapped = self.keys.wrap(data_key, _context(record_id), self.randomness)
            session.add(
                RecordKey(
                    record_id=record_id, master_key_id=master_key_id, wrapped_key=wrapped, created_at=self.clock.now()
                )
            )
            session.flush()
            return data_key
        if row.wrapped_key is None or row.master_key_id is None:
            raise ContentUnavailable("the content key of this record was destroyed")
        return self.keys.unwrap(row.master_key_id, row.wrapped_key, _context(record_id))

    def rotate(self, session: Session, *, batch: int = 500, progress: Callable[[int], None] | None = None) -> int:
        """Rewrap every data key under the current master key; content is untouched."""
        current = self.keys.current_key_id
        rewrapped = 0
        rows = session.scalars(
            select(RecordKey).where(RecordKey.wrapped_key.is_not(None), RecordKey.master_key_id != current)
        ).yield_per(batch)
        for row in rows:
            assert row.master_key_id is not None and row.wrapped_key is not None
            context = _context(row.record_id)
            data_key = self.keys.unwrap(row.master_key_id, row.wrapped_key, context)
            row.master_key_id, row.wrapped_key = self.keys.wrap(data_key, context, self.randomness)
            row.rewrapped_at = self.clock.now()
            rewrapped += 1
            if progress:
                progress(1)
        session.flush()
        return rewrapped

    def destroy_key(self, session: Session, record_id: uuid.UUID) -> None:
        """Crypto-shred a record: its sealed content can never be opened again."""
        row = session.get(RecordKey, record_id)
        if row is None:
            return
        row.wrapped_key = None
        row.master_key_id = None
        row.destroyed_at = self.clock.now()
        session.flush()

    # -- content ---------------------------------------------------------

    def put(self, session: Session, record_id: uuid.UUID, content: Iterable[bytes]) -> StoredContent:
        data_key = self._data_key(session, record_id, create=True)
        key = content_key(record_id, uuid.uuid4())
        digest = hashlib.sha256()
        size = 0

        def measured() -> Iterator[bytes]:
            nonlocal size
            for chunk in content:
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        on_rollback(session, lambda: self.blobs.delete(key))
        self.blobs.put(key, seal(measured(), key=data_key, context=key.encode(), randomness=self.randomness))
        return StoredContent(key=key, size=size, sha256=digest.hexdigest())

    def open(self, session: Session, record_id: uuid.UUID, key: str, *, sha256: str, size: int) -> Iterator[bytes]:
        """Stream the plaintext; the hash and size are checked when the stream ends."""
        data_key = self._data_key(session, record_id, create=False)
        try:
            sealed = self.blobs.open(key)
        except BlobMissing:
            raise ContentUnavailable(f"the content {key} is missing from the store") from None
        return self._verified(unseal(sealed, key=data_key, context=key.encode()), key, sha256, size)

    @staticmethod
    def _verified(plain: Iterator[bytes], key: str, sha256: str, size: int) -> Iterator[bytes]:
        digest = hashlib.sha256()
        seen = 0
        try:
            for chunk in plain:
                digest.update(chunk)
                seen += len(chunk)
                yield chunk
        except SealBroken as broken:
            raise ContentUnavailable(f"the content {key} was altered: {broken}") from None
        if seen != size or digest.hexdigest() != sha256:
            raise ContentUnavailable(f"the content {key} does not match its recorded hash")

    def read(self, session: Session, record_id: uuid.UUID, key: str, *, sha256: str, size: int) -> bytes:
        """The whole plaintext, returned only once it has been verified."""
        return b"".join(self.open(session, record_id, key, sha256=sha256, size=size))

    # -- checking --------------------------------------------------------

    def check(
        self,
        session: Session,
        *,
        grace: timedelta,
        remove: bool = True,
        verify: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> StoreCheckReport:
        """Compare the blob store with the documents; remove orphans older than ``grace``."""
        from opendsp.documents.models import Document

        report = StoreCheckReport()
        known = {
            row.content_key: row
            for row in session.execute(
                select(Document.content_key, Document.record_id, Document.sha256, Document.size)
            )
        }
        # Content of crypto-shredded records is unreadable on purpose: not "broken".
        shredded = set(session.scalars(select(RecordKey.record_id).where(RecordKey.wrapped_key.is_(None))))
        cutoff: datetime = self.clock.now() - grace
        seen: set[str] = set()
        for blob in self.blobs.list("records/"):
            report.blobs_seen += 1
            seen.add(blob.key)
            if progress:
                progress(1)
            if blob.key in known:
                continue
            if blob.modified_at > cutoff:
                report.orphans_too_recent.append(blob.key)
                continue
            if remove:
                self.blobs.delete(blob.key)
            report.orphans_removed.append(blob.key)
        for key, row in known.items():
            if key not in seen:
                report.missing_content.append(key)
            elif verify and row.record_id not in shredded:
                try:
                    for _ in self.open(session, row.record_id, key, sha256=row.sha256, size=row.size):
                        pass
                except ContentUnavailable:
                    report.broken_content.append(key)
        return report
