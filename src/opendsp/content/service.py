"""Seal, store, open and check document content.

Content is written to the blob store *before* the metadata commits, and named
as pending content before it is written (``opendsp.content.pending``). If the
transaction then rolls back, the blob is deleted at once; if the process dies
in between, ``store check`` finds the blob with neither a document nor a
running deposit and removes it once the grace has passed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from opendsp.clock import Clock, Randomness
from opendsp.content import pending
from opendsp.content.checking import StoreCheckReport, check_store
from opendsp.content.keys import KeyProvider, MasterKeyError
from opendsp.content.models import RecordKey
from opendsp.content.sealing import SealBroken, seal, unseal
from opendsp.content.stores import BlobMissing, BlobStore


class ContentUnavailable(Exception):
    """Content cannot be given back: missing, altered, or its key destroyed."""


class ContentAltered(ContentUnavailable):
    """The content opens no more as it was sealed, or does not match its recorded hash."""


class ContentKeyUnavailable(ContentUnavailable):
    """The record's data key was destroyed, or its master key is not available."""


@dataclass(frozen=True)
class StoredContent:
    key: str
    size: int
    sha256: str


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
            raise ContentKeyUnavailable("the content of this record was erased: its key was destroyed")
        try:
            return self.keys.unwrap(row.master_key_id, row.wrapped_key, _context(record_id))
        except MasterKeyError as error:
            raise ContentKeyUnavailable(str(error)) from None
        except InvalidTag:
            raise ContentKeyUnavailable(
                f"the data key of record {record_id} does not unwrap with master key {row.master_key_id!r}"
            ) from None

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

        pending.register(session, key=key, record_id=record_id, now=self.clock.now())
        try:
            pending.claim(session, key=key, record_id=record_id)
        except pending.PendingContentLost as lost:
            raise ContentUnavailable(str(lost)) from None

        def undo() -> None:
            self.blobs.delete(key)
            pending.forget(session, key=key, record_id=record_id)

        on_rollback(session, undo)
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
            raise ContentAltered(f"the content {key} was altered: {broken}") from None
        if seen != size or digest.hexdigest() != sha256:
            raise ContentAltered(f"the content {key} does not match its recorded hash")

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
        return check_store(self, session, grace=grace, remove=remove, verify=verify, progress=progress)
