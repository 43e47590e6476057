"""``store check``: compare the blob store with the documents, remove what no deposit will ever claim.

A blob is removed only when no document names it, no deposit still running names
it (``opendsp.content.pending``), and both the blob and any pending row are older
than the grace. The blobs are listed *before* their documents and pending rows are
read: a deposit names its blob before writing it and keeps it named until its
document commits, so whatever the listing sees is accounted for by the time it is
looked up.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.content import pending
from opendsp.content.models import RecordKey
from opendsp.content.stores import BlobInfo

if TYPE_CHECKING:
    from opendsp.content.service import SealedContentStore
    from opendsp.settings import Settings

_BATCH = 500
# A half-written blob (the local store's ``.partial-`` files) is left at least this long:
# its deposit may still be writing it, whatever grace the operator chose.
PARTIAL_MINIMUM_AGE = timedelta(hours=1)


@dataclass
class StoreCheckReport:
    blobs_seen: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    orphans_too_recent: list[str] = field(default_factory=list)
    missing_content: list[str] = field(default_factory=list)
    broken_content: list[str] = field(default_factory=list)
    # Content that could not be opened at all, with the reason (a master key missing, ...).
    unreadable_content: list[tuple[str, str]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (self.missing_content or self.broken_content or self.unreadable_content)


class GraceRefused(ValueError):
    """The grace asked for is shorter than the one this platform enforces."""


def enforced_grace(settings: Settings, minutes: int | None) -> timedelta:
    """The grace ``store check`` uses: the one asked for, never below the configured minimum."""
    from opendsp.settings import Mode

    chosen = settings.orphan_grace_minutes if minutes is None else minutes
    if chosen < 0:
        raise GraceRefused("the grace is a number of minutes, 0 or more")
    if chosen == 0 and settings.mode is Mode.production:
        raise GraceRefused(
            "production never removes content without a grace: deposits still running would lose theirs"
        )
    if chosen < settings.orphan_grace_minimum:
        raise GraceRefused(
            f"a grace of {chosen} minutes is below the minimum of {settings.orphan_grace_minimum} "
            "(OPENDSP_ORPHAN_GRACE_MINIMUM_MINUTES)"
        )
    return timedelta(minutes=chosen)


def _batches(items: Iterable[BlobInfo]) -> Iterable[list[BlobInfo]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, _BATCH)):
        yield batch


def _is_partial(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(".partial-")


def check_store(
    store: SealedContentStore,
    session: Session,
    *,
    grace: timedelta,
    remove: bool = True,
    verify: bool = False,
    progress: Callable[[int], None] | None = None,
) -> StoreCheckReport:
    from opendsp.documents.models import Document

    # On SQLite this takes the write lock (BEGIN IMMEDIATE): no deposit is open while we look.
    session.connection()
    report = StoreCheckReport()
    # Read before listing: each of these documents committed after its blob was written.
    known = {
        row.content_key: row
        for row in session.execute(select(Document.content_key, Document.record_id, Document.sha256, Document.size))
    }
    # Records erased for good: their blobs are gone and their key destroyed, on purpose.
    erased = set(session.scalars(select(RecordKey.record_id).where(RecordKey.wrapped_key.is_(None))))
    now = store.clock.now()
    cutoff: datetime = now - grace
    seen: set[str] = set()
    strays: list[BlobInfo] = []
    for blob in store.blobs.list("records/"):
        report.blobs_seen += 1
        seen.add(blob.key)
        if progress:
            progress(1)
        if blob.key not in known:
            strays.append(blob)
    for batch in _batches(strays):
        _settle(store, session, batch, cutoff=cutoff, partial_cutoff=min(cutoff, now - PARTIAL_MINIMUM_AGE),
                remove=remove, report=report)
    # Pending rows of deposits that died before their blob was listed (or before writing it).
    if remove:
        dead = [key for key in pending.stale(session, before=cutoff) if key not in seen]
        for key in pending.take_back(session, dead, before=cutoff):
            store.blobs.delete(key)
            report.orphans_removed.append(key)
    for key, row in known.items():
        if row.record_id in erased:
            # Sealed under a destroyed key: nothing can open it; left only if its erasure was interrupted.
            if key in seen:
                if remove:
                    store.blobs.delete(key)
                report.orphans_removed.append(key)
            continue
        if key not in seen:
            report.missing_content.append(key)
        elif verify:
            _verify(store, session, row, report)
    return report


def _settle(
    store: SealedContentStore,
    session: Session,
    batch: list[BlobInfo],
    *,
    cutoff: datetime,
    partial_cutoff: datetime,
    remove: bool,
    report: StoreCheckReport,
) -> None:
    """Decide the fate of blobs without a document when the listing began."""
    from opendsp.documents.models import Document

    keys = [blob.key for blob in batch]
    # Pending rows first, documents second: a deposit committing in between moves its
    # blob from the first answer to the second, never out of both.
    named = pending.pending_since(session, keys)
    documented = set(session.scalars(
        select(Document.content_key).where(pending.named_by(Document.record_id, Document.content_key, keys))))
    unnamed: list[str] = []
    to_take_back: list[str] = []
    for blob in batch:
        if blob.key in documented:
            continue
        limit = partial_cutoff if _is_partial(blob.key) else cutoff
        if blob.modified_at > limit or named.get(blob.key, limit) > limit:
            report.orphans_too_recent.append(blob.key)
        elif blob.key in named:
            to_take_back.append(blob.key)
        else:
            unnamed.append(blob.key)
    taken = pending.take_back(session, to_take_back, before=cutoff) if remove else to_take_back
    # A pending row still locked belongs to a deposit that is running: its blob stays.
    report.orphans_too_recent.extend(key for key in to_take_back if key not in taken)
    for key in [*unnamed, *taken]:
        if remove:
            store.blobs.delete(key)
        report.orphans_removed.append(key)


def _verify(store: SealedContentStore, session: Session, row: Any, report: StoreCheckReport) -> None:
    from opendsp.content.service import ContentAltered, ContentUnavailable

    try:
        for _ in store.open(session, row.record_id, row.content_key, sha256=row.sha256, size=row.size):
            pass
    except ContentAltered:
        report.broken_content.append(row.content_key)
    except ContentUnavailable as error:
        # A master key missing from the keyring, a data key that no longer unwraps, ...
        report.unreadable_content.append((row.content_key, str(error)))
