"""``PlatformJobs``: the platform's own door to clinical tables and sealed content.

``RecordAccess`` is the door of a person acting on one record. The platform's jobs (checking the content
store, rewrapping keys, reindexing) act on every record at once and have no person behind them, so they go
through this one instead: the system actor, each job written in the trace in the transaction that does it.
The command line holds a ``PlatformJobs`` and never the content store, the indexes or a clinical table
(docs/architecture.md, "The one door").
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM, Actor
from opendsp.backup.services import BackupRefused, BackupReport
from opendsp.content.checking import GraceRefused, StoreCheckReport, enforced_grace
from opendsp.content.keys import MasterKeyError
from opendsp.platform import Platform
from opendsp.population.importer import ExtractUnreadable, ImportReport
from opendsp.records.services import write_trace

if TYPE_CHECKING:
    from opendsp.jobs.models import Job
    from opendsp.notifications.models import OutboxMessage

__all__ = ["BackupRefused", "BackupReport", "ExtractUnreadable", "GraceRefused", "ImportReport", "JobsStatus",
           "KeyRotation",
           "MasterKeyError", "PlatformJobs", "StoreCheckReport"]

Progress = Callable[[int], None]


def _quiet(n: int) -> None:
    """No progress shown."""


@dataclass(frozen=True)
class JobsStatus:
    counts: dict[str, dict[str, int]]  # by kind, then state
    backlog: int  # waiting or running
    oldest_age: timedelta | None  # of the oldest job waiting or running; None when none
    failed: list[Job]


@dataclass(frozen=True)
class KeyRotation:
    master_key: str
    rewrapped: int  # record data keys
    resealed: int  # authenticator secrets


class PlatformJobs:
    def __init__(self, *, platform: Platform, actor: Actor = SYSTEM) -> None:
        self.platform = platform
        self.actor = actor

    def grace(self, minutes: int | None) -> timedelta:
        """The grace ``check_content`` may use (``GraceRefused`` below the platform's minimum)."""
        return enforced_grace(self.platform.settings, minutes)

    def check_content(self, *, grace: timedelta, remove: bool, verify: bool,
                      progress: Progress = _quiet) -> StoreCheckReport:
        """Compare the blob store with the documents, remove orphans (``remove``), open every document (``verify``).

        One entry on the platform chain tells what was found and removed; with ``verify``, each record's
        chain also says how many of its documents the platform opened to check them.
        """
        from opendsp.documents.models import Document

        with self.platform.transaction() as session:
            report = self.platform.content.check(session, grace=grace, remove=remove, verify=verify,
                                                 progress=progress)
            self._append(session, "content.check", None, removing=remove, verifying=verify,
                         blobs=report.blobs_seen, orphans=len(report.orphans_removed),
                         recent=len(report.orphans_too_recent), missing=len(report.missing_content),
                         altered=len(report.broken_content), unreadable=len(report.unreadable_content))
            if verify:
                from opendsp.content.models import RecordKey

                missing = Counter(_record_of(key) for key in report.missing_content)
                erased = select(RecordKey.record_id).where(RecordKey.wrapped_key.is_(None))
                per_record = session.execute(
                    select(Document.record_id, func.count()).where(Document.record_id.not_in(erased))
                    .group_by(Document.record_id).order_by(Document.record_id)
                )
                for record_id, count in per_record:
                    if opened := count - missing[record_id]:
                        self._append(session, "content.verify", record_id, reason="system_verify",
                                     documents=opened)
        return report

    def rotate_keys(self, *, progress: Progress = _quiet) -> KeyRotation:
        """Rewrap every record's data key and reseal every authenticator secret under the current master key."""
        from opendsp.accounts import sealing

        with self.platform.transaction() as session:
            rewrapped = self.platform.content.rotate(session, progress=progress)
            resealed = sealing.rotate(session, self.platform)
            rotation = KeyRotation(master_key=self.platform.keys.current_key_id, rewrapped=rewrapped,
                                   resealed=resealed)
            self._append(session, "keys.rotate", None, master_key=rotation.master_key, rewrapped=rewrapped,
                         authenticator_secrets=resealed)
        return rotation

    def retirable_keys(self) -> list[str]:
        """The master keys other than the current one that no record key, secret or index token uses."""
        from opendsp.content.keyring import retirable

        with self.platform.sessions() as session:
            return retirable(session, self.platform)

    def retire_key(self, key_id: str) -> None:
        """Remove ``key_id`` from the keyring once nothing uses it; its trace entry commits first."""
        from opendsp.content.keyring import retire

        retire(self.platform, key_id)

    def documents_to_index(self, *, everything: bool) -> list[uuid.UUID]:
        """Documents without a search token (all of them with ``everything``), records erased for good left out."""
        from opendsp.search.services import unindexed

        with self.platform.sessions() as session:
            return unindexed(session, everything=everything)

    def reindex(self, document_ids: list[uuid.UUID], *, progress: Progress = _quiet) -> int:
        """Index documents from their sealed content; each record's chain says how many of its documents."""
        from opendsp.search.services import reindex

        return reindex(self.platform, document_ids, progress=progress)

    def outbox(self) -> tuple[dict[str, int], list[OutboxMessage]]:
        """How many e-mails wait in each state, and those given up (ids, kind and error: no address, no text)."""
        from opendsp.notifications.services import given_up, outbox_counts

        with self.platform.sessions() as session:
            return outbox_counts(session), given_up(session)

    def retry_given_up(self, ids: list[uuid.UUID]) -> int:
        """Make the given-up e-mails (all, or those named) due again with a fresh count of attempts. Traced."""
        from opendsp.notifications.services import retry_given_up

        with self.platform.transaction() as session:
            return retry_given_up(session, self.platform, actor=self.actor, ids=ids)

    def jobs(self) -> JobsStatus:
        """The queue of acts' jobs: counts by kind and state, the backlog, the oldest one's age, those given up."""
        from opendsp.jobs.services import given_up, job_counts, oldest_waiting

        with self.platform.sessions() as session:
            counts, oldest, failed = job_counts(session), oldest_waiting(session), given_up(session)
        backlog = sum(c["pending"] + c["running"] for c in counts.values())
        age = max(self.platform.clock.now() - oldest, timedelta(0)) if oldest is not None else None
        return JobsStatus(counts=counts, backlog=backlog, oldest_age=age, failed=failed)

    def retry_jobs(self, ids: list[uuid.UUID]) -> int:
        """Make the given-up jobs (all, or those named) due again with a fresh count of attempts. Traced."""
        from opendsp.jobs.services import retry_given_up

        with self.platform.transaction() as session:
            return retry_given_up(session, self.platform, actor=self.actor, ids=ids)

    def backup(self, folder: Path) -> BackupReport:
        """Back up the database and the sealed content into ``folder`` (``BackupRefused`` when it may not).

        Once the backup is whole, one entry on the platform chain says where it went and what it holds, counted;
        the backup itself does not hold that entry (it was taken before)."""
        from opendsp.backup.services import backup

        report = backup(self.platform, folder)
        return self._copied("backup", report, master_keys=report.master_keys)

    def restore(self, folder: Path) -> BackupReport:
        """Restore a backup into the new, empty database and content store (``BackupRefused`` when it may not).

        The restored trace then says it was restored: one entry on its platform chain, after the backup's
        entries, with the backup's folder, what it held and the checkpoints it follows and the sink holds."""
        from opendsp.backup.services import restore

        report = restore(self.platform, folder)
        return self._copied("restore", report, latest_checkpoint=report.latest_checkpoint)

    def _copied(self, action: str, report: BackupReport, **more: object) -> BackupReport:
        """The platform-chain entry of a backup or a restore, once done: where, what (counted), which checkpoint."""
        with self.platform.transaction() as session:
            self._append(session, action, None, folder=str(report.folder), database=report.database,
                         documents=report.documents, blobs=report.blobs, checkpoint=report.checkpoint, **more)
        return report

    def population_rows(self, extract: Path) -> int:
        """How many rows an insured-population extract holds (``ExtractUnreadable`` when it cannot be read)."""
        from opendsp.population.importer import count_rows

        return count_rows(extract)

    def import_population(self, extract: Path, *, progress: Progress = _quiet) -> ImportReport:
        """Create or update persons and their records from an insured-population extract, as the system actor.

        Each record created is in its own chain; the import is one entry on the platform chain (the file's name
        and the counts) when it created or updated anyone; importing the same file again does nothing."""
        from opendsp.population.importer import import_population

        return import_population(extract, platform=self.platform, actor=self.actor, progress=progress)

    def _append(self, session: Session, action: str, record_id: uuid.UUID | None, *, reason: str | None = None,
                **context: object) -> None:
        write_trace(session, self.platform, action, actor=self.actor, record_id=record_id, reason=reason,
                    context=context)


def _record_of(content_key: str) -> uuid.UUID | None:
    """The record a content key names (``records/<record>/<content>``)."""
    try:
        return uuid.UUID(content_key.split("/")[1])
    except (IndexError, ValueError):
        return None
