"""``opendsp import-documents``: load an export of an existing shared record in batches.

One batch is one transaction. For each batch the loader

1. leaves out the lines an earlier run loaded (their source identifier is in ``imported_documents``);
2. finds each line's record and author, loads each record's facts and grants once, and asks the
   policy once per record, author and document type whether the author may deposit that type
   there (a refusal is traced, as a deposit's would be, and the line rejected);
3. has a process pool read, check, seal and index the content (each record's data key and search
   key made or unwrapped once), the blobs named as pending content first on PostgreSQL (ADR 18);
4. makes the batch's blobs durable at once, then writes the documents, their trace entries
   (chained per record, from the record's locked chain head), their search terms, their source
   identifiers and the batch's journal entry, with ``COPY`` on PostgreSQL, and commits.

On PostgreSQL the batches overlap: steps 1 to 3 of batch n + 1 (its own transaction, its pending
content claimed) run while the pool seals and the main process writes batch n; batch n + 1's rows
are written only after batch n committed. A line is loaded whole or rejected whole, with its line
number and reason. A crash loses at most the batches in flight (two); the next run skips the
journal's batches and the loaded identifiers.
See docs/migration.md, docs/adr/0026-migration-loader.md and docs/adr/0029-pipelined-loader.md.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (CancelledError, Executor, Future, InvalidStateError, ProcessPoolExecutor,
                                ThreadPoolExecutor)
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from opendsp import actors
from opendsp.actors import SYSTEM, Actor
from opendsp.content import pending
from opendsp.content.models import PendingContent, RecordKey
from opendsp.content.service import _context as record_key_context
from opendsp.content.service import content_key
from opendsp.content.stores import LocalFolderStore
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.types import ContentKind, DocumentStatus, DocumentType
from opendsp.importing.grants import grants_of
from opendsp.importing.models import ImportBatch, ImportedDocument
from opendsp.importing.sealing import (COPY_BINARY_HEADER, COPY_BINARY_TRAILER, TERM_BINARY_COLUMNS, Sealed,
                                       SealedRecordJobs, SealJob, make_durable, seal_record_jobs)
from opendsp.importing.source import Rejected, SourceRow, read_export
from opendsp.importing.writing import copy_binary, write_rows
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.access.gate import decide_imported_deposit
from opendsp.policy.decision import Decision
from opendsp.policy.facts import RecordFacts
from opendsp.policy.vocabulary import Obligation
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.models import Record
from opendsp.search.index import metadata_text, record_keys
from opendsp.search.models import SearchTerm
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import chain_for, entry_fields, hash_fields, lock_heads

CLIENT_SOFTWARE = "opendsp import-documents"
DOCUMENT_COLUMNS = (
    "id", "record_id", "type", "title", "author_professional_id", "author_organisation_id", "authored_by_holder",
    "care_date", "deposited_at", "confidentiality", "status", "version", "media_type", "size", "sha256",
    "content_kind", "content_key",
)
TRACE_COLUMNS = (
    "chain", "seq", "recorded_at", "actor_kind", "actor_id", "actor_display", "on_behalf_of", "action", "record_id",
    "document_id", "outcome", "reason", "basis", "context", "client_software", "request_id", "prev_hash", "hash",
)
TERM_COLUMNS = ("id", "record_id", "document_id", "master_key_id", "token", "weight")
IMPORTED_COLUMNS = ("source", "source_id", "document_id", "record_id", "batch")
REJECT_COLUMNS = ("line", "source_id", "reason")


@dataclass
class ImportReport:
    lines: int = 0
    loaded: int = 0
    already_loaded: int = 0
    rejected: int = 0
    batches: int = 0
    batches_done_before: int = 0
    decisions: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    # Where the time went, by phase: records and policy, sealing (the pool), durability, rows.
    seconds: Counter[str] = field(default_factory=Counter)


@dataclass
class _Batch:
    number: int
    items: list[SourceRow | Rejected]

    @property
    def digest(self) -> str:
        """Of the lines as read: their numbers and every field (a line fixed in place changes it)."""
        return hashlib.sha256("\n".join(map(repr, self.items)).encode()).hexdigest()

    @property
    def first_line(self) -> int:
        return self.items[0].line

    @property
    def last_line(self) -> int:
        return self.items[-1].line


@dataclass
class _Accepted:
    row: SourceRow
    record_id: uuid.UUID
    author: Actor
    decision: Decision
    document_id: uuid.UUID
    content_key: str
    professional: Professional | None = None
    organisation: Organisation | None = None
    sealed: Sealed | None = None


_Refusal = tuple[SourceRow, uuid.UUID, Actor, Decision]  # a line the policy refused: row, record id, author, decision


@dataclass
class _Prepared:
    """A batch on its way: decided, its content named and claimed in its open transaction, its sealing
    handed to the pool. ``finish`` commits it; ``abandon`` takes it back."""

    batch: _Batch
    session: Session
    rejected: list[Rejected]
    skipped: int = 0
    accepted: list[_Accepted] = field(default_factory=list)
    refusals: list[_Refusal] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # content named pending: removed if the batch fails
    results: list[Future[list[Sealed]] | list[Sealed]] = field(default_factory=list)
    recheck: set[str] = field(default_factory=set)  # source ids the batch before may load
    content_rows: Future[None] | None = None  # the writer thread's job: documents and search terms
    sealed_items: list[_Accepted] = field(default_factory=list)  # sealed and written, once content_rows is done
    seconds: Counter[str] = field(default_factory=Counter)  # the writer thread's share of the time
    lines_before: int = 0  # lines to show ``progress`` when this batch finishes


Progress = Callable[[int, ImportReport], None]


def import_documents(
    *,
    platform: Platform,
    export: Path,
    source: str,
    content_root: Path | None = None,
    rejects: Path | None = None,
    batch_size: int = 1000,
    workers: int | None = None,
    progress: Progress | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load ``export``; ``source`` names the export (identifiers are unique within it).

    ``workers``: processes that seal (None: one per core; 0: seal in this process).
    ``after_batch``: called with each committed batch's number (tests interrupt a run there).
    """
    if not source or len(source) > 64:
        raise ValueError("the source name has 1 to 64 characters")
    loader = _Loader(platform=platform, source=source, content_root=content_root or export.parent)
    report = ImportReport()
    rejects_path = rejects or export.with_name(export.name + ".rejects.csv")
    executor: Executor | None = None
    if workers is None:
        workers = os.cpu_count() or 1
    if workers > 0:
        executor = ProcessPoolExecutor(max_workers=workers)
    in_flight: list[_Prepared] = []  # prepared (content claimed, maybe sealed), not committed

    def finish(prepared: _Prepared) -> None:
        refused = loader.finish(prepared, report)
        in_flight.remove(prepared)
        _append_rejects(rejects_path, refused)
        report.batches += 1
        if after_batch:
            after_batch(prepared.batch.number)
        if progress:
            progress(prepared.lines_before, report)

    try:
        done = loader.finished_batches()
        waiting = 0  # lines of journalled batches not yet shown to ``progress``
        for batch in _batches(read_export(export), batch_size):
            report.lines += len(batch.items)
            if batch.digest in done:
                report.batches_done_before += 1
                waiting += len(batch.items)
                if not in_flight and progress:
                    progress(waiting, report)
                    waiting = 0
                continue
            previous = in_flight[-1] if in_flight else None
            in_flight.append(prepared := loader.prepare(batch, report, executor, previous))
            prepared.lines_before, waiting = waiting + len(batch.items), 0
            # Batch n + 1 is on its way in the pool: now write batch n (at once where writers are serialised).
            while len(in_flight) > (1 if loader.pipelined else 0):
                finish(in_flight[0])
        while in_flight:
            finish(in_flight[0])
        if waiting and progress:
            progress(waiting, report)
    except BaseException:
        # Whatever is in flight leaves no blob and no pending row; the pool is stopped first so that
        # no worker writes a blob after it was taken back.
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            executor = None
        for prepared in in_flight:
            loader.abandon(prepared, pool_stopped=True)
        raise
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        loader.close()
    return report


def _batches(items: Iterable[SourceRow | Rejected], size: int) -> Iterator[_Batch]:
    current: list[SourceRow | Rejected] = []
    number = 0
    for item in items:
        current.append(item)
        if len(current) >= size:
            yield _Batch(number, current)
            number, current = number + 1, []
    if current:
        yield _Batch(number, current)


def _append_rejects(path: Path, rejected: list[Rejected]) -> None:
    if not rejected:
        return
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(REJECT_COLUMNS)
        writer.writerows((r.line, r.source_id or "", r.reason) for r in rejected)
        handle.flush()
        os.fsync(handle.fileno())


class _Loader:
    def __init__(self, *, platform: Platform, source: str, content_root: Path) -> None:
        self.platform = platform
        self.source = source
        self.content_root = content_root
        self.run_id = uuid.uuid4().hex
        blobs = platform.blob_store
        self.local_root = blobs.root.resolve() if isinstance(blobs, LocalFolderStore) else None
        self._root = content_root.resolve()
        self._folders: dict[Path, Path] = {}
        self._metadata_text: dict[tuple[DocumentType, uuid.UUID | None, uuid.UUID | None], str] = {}
        assert platform.engine is not None
        postgresql = platform.engine.dialect.name == "postgresql"
        # SQLite serialises writers: one batch's transaction at a time, so no overlap there.
        self.pipelined = postgresql
        self.binary_copy = postgresql
        # Writes a prepared batch's documents and search terms, on that batch's own connection, as soon as
        # its sealing is done, while the main thread writes the batch before it: two PostgreSQL backends
        # at work rather than one.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-rows") if postgresql else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.shutdown(wait=True)

    def finished_batches(self) -> set[str]:
        with self.platform.sessions() as session:
            return set(session.scalars(select(ImportBatch.digest).where(ImportBatch.source == self.source)))

    # -- one batch: prepared (decided, content claimed, sealing under way), then finished --------

    def prepare(
        self, batch: _Batch, report: ImportReport, executor: Executor | None, previous: _Prepared | None
    ) -> _Prepared:
        """Open the batch's transaction, decide its lines, name and claim its content, hand its sealing to
        the pool. Nothing is written for good: ``finish`` writes the rows and commits."""
        session = self.platform.sessions()
        session.begin()
        prepared = _Prepared(batch=batch, session=session,
                             rejected=[item for item in batch.items if isinstance(item, Rejected)])
        try:
            rows = [item for item in batch.items if isinstance(item, SourceRow)]
            started = time.perf_counter()
            done = set(session.scalars(select(ImportedDocument.source_id).where(
                ImportedDocument.source == self.source, ImportedDocument.source_id.in_({r.source_id for r in rows}))))
            fresh: list[SourceRow] = []
            seen: set[str] = set()
            for row in rows:
                if row.source_id in done:
                    prepared.skipped += 1
                elif row.source_id in seen:
                    prepared.rejected.append(
                        Rejected(row.line, row.source_id, "the source identifier appears twice in the batch"))
                else:
                    fresh.append(row)
                seen.add(row.source_id)
            if previous is not None:
                # The batch before has not committed yet: whether it loads these lines is known in ``finish``.
                prepared.recheck = {r.source_id for r in fresh} & {a.row.source_id for a in previous.accepted}
            prepared.accepted, prepared.refusals = self._decide(session, fresh, prepared.rejected, report)
            report.seconds["records and policy"] += time.perf_counter() - started
            started = time.perf_counter()
            self._start_sealing(session, prepared, executor)
            report.seconds["sealing (preparing)"] += time.perf_counter() - started
            if self.writer is not None:
                prepared.content_rows = self.writer.submit(self._write_content_rows, prepared)
        except BaseException:
            self.abandon(prepared)
            raise
        return prepared

    def finish(self, prepared: _Prepared, report: ImportReport) -> list[Rejected]:
        """Wait for the batch's sealing and content rows, make its blobs durable, write its trace entries,
        source identifiers and journal entry, and commit."""
        session, rejected = prepared.session, prepared.rejected
        started = time.perf_counter()
        if prepared.content_rows is not None:
            prepared.content_rows.result()
        else:
            self._write_content_rows(prepared)
        report.seconds["waiting for the sealing and content rows"] += time.perf_counter() - started
        report.seconds.update(prepared.seconds)
        started = time.perf_counter()
        sealed_items = prepared.sealed_items
        if self.local_root is not None:
            make_durable(self.local_root, [a.content_key for a in sealed_items])
        report.seconds["durability"] += time.perf_counter() - started
        started = time.perf_counter()
        skipped = prepared.skipped
        if prepared.recheck:
            loaded_before = set(session.scalars(select(ImportedDocument.source_id).where(
                ImportedDocument.source == self.source, ImportedDocument.source_id.in_(prepared.recheck))))
            dropped = [a for a in sealed_items if a.row.source_id in loaded_before]
            if dropped:
                # Loaded by the batch before, which had not committed when these rows were written.
                ids = [a.document_id for a in dropped]
                session.execute(delete(SearchTerm).where(SearchTerm.document_id.in_(ids)))
                session.execute(delete(Document).where(Document.id.in_(ids)))
                session.execute(delete(DocumentDirectory).where(DocumentDirectory.document_id.in_(ids)))
                assert self.platform.blob_store is not None
                for item in dropped:
                    self.platform.blob_store.delete(item.content_key)  # its pending row goes with this commit
                    sealed_items.remove(item)
                skipped += len(dropped)
        self._write_acts(session, prepared.batch.number, sealed_items, prepared.refusals)
        batch = prepared.batch
        session.add(ImportBatch(
            source=self.source, digest=batch.digest, batch=batch.number, first_line=batch.first_line,
            last_line=batch.last_line, loaded=len(sealed_items), skipped=skipped, rejected=len(rejected),
            finished_at=self.platform.clock.now(),
        ))
        session.commit()
        session.close()
        report.seconds["trace, identifiers, commit"] += time.perf_counter() - started
        report.loaded += len(sealed_items)
        report.already_loaded += skipped
        report.rejected += len(rejected)
        report.reasons.update(r.reason for r in rejected)
        return sorted(rejected, key=lambda r: r.line)

    def _write_content_rows(self, prepared: _Prepared) -> None:
        """The sealing's results taken in (rejecting what failed), then the documents and their search terms
        written in the batch's transaction. On PostgreSQL this runs in the writer thread."""
        started = time.perf_counter()
        by_line = {item.row.line: item for item in prepared.accepted}
        for result in prepared.results:
            for sealed in result.result() if isinstance(result, Future) else result:
                item = by_line[sealed.line]
                item.sealed = sealed
                if sealed.error:
                    prepared.rejected.append(Rejected(item.row.line, item.row.source_id, sealed.error))
                elif sealed.sealed is not None:
                    assert self.platform.blob_store is not None
                    self.platform.blob_store.put(item.content_key, [sealed.sealed])
        prepared.seconds["sealing (waiting for the pool)"] += time.perf_counter() - started
        started = time.perf_counter()
        prepared.sealed_items = [a for a in prepared.accepted if a.sealed is not None and a.sealed.error is None]
        self._write_documents(prepared.session, prepared.sealed_items)
        prepared.seconds["documents and search terms"] += time.perf_counter() - started

    def abandon(self, prepared: _Prepared, *, pool_stopped: bool = False) -> None:
        """A batch that will not commit: its sealing stopped or waited for, its transaction rolled back,
        its blobs and pending rows removed.

        ``pool_stopped``: the pool was shut down and its processes joined, so nothing of it writes any more;
        a task it had taken but never answered (seen when shut down with queued work) is then failed here
        rather than waited for, by this thread and by the writer thread that waits on it."""
        futures = [result for result in prepared.results if isinstance(result, Future)]
        for future in futures:
            future.cancel()
            if pool_stopped and not future.done():
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(CancelledError("the sealing pool was stopped"))
        for future in futures:
            # Not ``wait``: a future cancelled here stays "cancelled, not notified" once the pool is gone,
            # which ``wait`` never counts as done. ``result`` answers a cancelled one at once.
            with contextlib.suppress(Exception):  # its failure is not this batch's news
                future.result()
        if prepared.content_rows is not None:
            wait_for([prepared.content_rows])  # it fails or ends: the session is not closed under its feet
        prepared.session.close()
        self._take_back(prepared.keys)

    # -- who, where, and may they --------------------------------------------------------------

    def _decide(
        self, session: Session, rows: list[SourceRow], rejected: list[Rejected], report: ImportReport
    ) -> tuple[list[_Accepted], list[_Refusal]]:
        numbers = {r.national_number for r in rows}
        # The persons first (a reference table), then their records by the ids they name.
        persons = list(session.scalars(select(Person).where(
            Person.national_number.in_(numbers), Person.record_id.is_not(None)))) if numbers else []
        by_id = {record.id: record for record in session.scalars(
            select(Record).where(Record.id.in_([p.record_id for p in persons])))} if persons else {}
        records = {}
        for person in persons:
            record = by_id.get(person.record_id) if person.record_id is not None else None
            if record is not None and record.person_id == person.id:  # the record's row names its holder
                records[person.national_number] = (record, person)
        licences = {r.author_licence for r in rows if r.author_licence}
        professionals = {
            p.licence_number: p for p in session.scalars(
                select(Professional).where(Professional.licence_number.in_(licences)).options(
                    selectinload(Professional.organisations)))
        } if licences else {}
        identifiers = {r.author_organisation for r in rows if r.author_organisation}
        organisations = {
            o.identifier: o for o in session.scalars(
                select(Organisation).where(Organisation.identifier.in_(identifiers)))
        } if identifiers else {}

        # The facts and grants of every record of the batch, loaded together.
        now = self.platform.clock.now()
        grants = grants_of(session, [record for record, _ in records.values()], now=now,
                           after_discharge=self.platform.matrix.parameters.after_discharge)
        facts = {
            record.id: RecordFacts(id=record.id, state=record.state, holder_id=person.id,
                                   holder_birth_date=person.birth_date)
            for record, person in records.values()
        }
        decisions: dict[tuple[uuid.UUID, str, uuid.UUID | None, DocumentType], Decision] = {}
        actors_by_key: dict[tuple[str, uuid.UUID | None], Actor] = {}
        accepted: list[_Accepted] = []
        refusals: list[_Refusal] = []
        for row in rows:
            found = records.get(row.national_number)
            if found is None:
                rejected.append(Rejected(row.line, row.source_id, "no record for this national number"))
                continue
            record, person = found
            try:
                author = self._author(row, person, professionals, organisations, actors_by_key)
            except LookupError as unknown:
                rejected.append(Rejected(row.line, row.source_id, str(unknown)))
                continue
            key = (record.id, author.id, author.organisation_id, row.type)
            decision = decisions.get(key)
            if decision is None:
                decision = decisions[key] = decide_imported_deposit(
                    author, facts[record.id], grants[record.id], row.type, now=now, matrix=self.platform.matrix)
                report.decisions += 1
            if not decision.permitted:
                rejected.append(Rejected(row.line, row.source_id,
                                         f"refused by the policy: {decision.reason.value} ({decision.message})"))
                refusals.append((row, record.id, author, decision))
                continue
            document_id = uuid.uuid4()
            accepted.append(_Accepted(
                row=row, record_id=record.id, author=author, decision=decision, document_id=document_id,
                content_key=content_key(record.id, uuid.uuid4()),
                professional=professionals.get(row.author_licence) if row.author_licence else None,
                organisation=organisations.get(row.author_organisation) if row.author_organisation else None,
            ))
        return accepted, refusals

    @staticmethod
    def _author(
        row: SourceRow,
        holder: Person,
        professionals: dict[str, Professional],
        organisations: dict[str, Organisation],
        cache: dict[tuple[str, uuid.UUID | None], Actor],
    ) -> Actor:
        if row.authored_by_holder:
            return actors.holder(holder)
        assert row.author_licence is not None
        professional = professionals.get(row.author_licence)
        if professional is None:
            raise LookupError("no professional with this licence number")
        organisation = None
        if row.author_organisation:
            organisation = organisations.get(row.author_organisation)
            if organisation is None:
                raise LookupError("no organisation with this identifier")
            if organisation not in professional.organisations:
                raise LookupError("the author does not belong to this organisation")
        key = (row.author_licence, organisation.id if organisation else None)
        if key not in cache:
            cache[key] = actors.professional(professional, organisation=organisation)
        return cache[key]

    # -- content ---------------------------------------------------------------------------------

    def _start_sealing(self, session: Session, prepared: _Prepared, executor: Executor | None) -> None:
        paths = {item.row.line: self._content_path(item.row.content_file) for item in prepared.accepted}
        for item in prepared.accepted:
            if paths[item.row.line] is None:
                prepared.rejected.append(Rejected(item.row.line, item.row.source_id,
                                                  "the content file is outside the content folder"))
        accepted = prepared.accepted = [item for item in prepared.accepted if paths[item.row.line] is not None]
        if not accepted:
            return
        by_record: dict[uuid.UUID, list[_Accepted]] = {}
        for item in accepted:
            by_record.setdefault(item.record_id, []).append(item)
        current = self.platform.keys.current_key_id
        if self.pipelined:
            # Committed at once: the next batch, prepared before this one commits, finds them.
            with Session(session.get_bind()) as own, own.begin():
                data_keys = self._data_keys(own, list(by_record))
        else:
            data_keys = self._data_keys(session, list(by_record))
        work = [
            SealedRecordJobs(
                data_key=data_keys[record_id], search_key=record_keys(self.platform, record_id)[current],
                blob_root=str(self.local_root) if self.local_root else None,
                jobs=tuple(self._job(item, paths[item.row.line]) for item in items),
                record_id=record_id.bytes, master_key_id=current, binary_terms=self.binary_copy,
            )
            for record_id, items in by_record.items()
        ]
        keys = [item.content_key for item in accepted]
        prepared.keys = keys  # from here on, a failure removes whatever was written
        self._register_pending(session, accepted)
        # Taken in this batch's transaction before any blob is written: locked, so ``store check`` leaves them be.
        self._claim_pending(session, keys)
        if executor is None:
            prepared.results = [seal_record_jobs(w) for w in work]
        else:
            prepared.results = [executor.submit(seal_record_jobs, w) for w in work]

    def _data_keys(self, session: Session, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        """Each record's data key, made (and wrapped) on its first content as a deposit does: the existing
        keys read in one query, the new ones written in one flush."""
        content = self.platform.content
        rows = session.scalars(select(RecordKey).where(RecordKey.record_id.in_(record_ids)))
        existing = {row.record_id for row in rows}
        keys = {}
        for record_id in record_ids:
            if record_id in existing:  # in the session now: no query per record
                keys[record_id] = content._data_key(session, record_id, create=False)
                continue
            keys[record_id] = content.randomness.bytes(32)
            master_key_id, wrapped = content.keys.wrap(keys[record_id], record_key_context(record_id),
                                                       content.randomness)
            session.add(RecordKey(record_id=record_id, master_key_id=master_key_id, wrapped_key=wrapped,
                                  created_at=content.clock.now()))
        session.flush()
        return keys

    def _job(self, item: _Accepted, path: Path | None) -> SealJob:
        row = item.row
        return SealJob(
            line=row.line, path=str(path), content_key=item.content_key,
            media_type=row.media_type, title=row.title.strip(), metadata_text=self._metadata(item),
            size=row.size, sha256=row.sha256, sha1=row.sha1, document_id=item.document_id.bytes,
        )

    def _content_path(self, name: str) -> Path | None:
        """The content file, None when a link on its way leads out of the content folder. Folders are
        resolved once each (a few thousand files share one); the worker refuses a file that is a link."""
        path = self.content_root / name
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return folder / path.name if folder.is_relative_to(self._root) else None

    def _metadata(self, item: _Accepted) -> str:
        """The text the keyword index takes from the type, author and organisation (cached: few combinations)."""
        professional, organisation = item.professional, item.organisation
        key = (item.row.type, professional.id if professional else None, organisation.id if organisation else None)
        if key not in self._metadata_text:
            # The fields ``metadata_text`` reads of a document, without making a Document of each row.
            view: Any = SimpleNamespace(type=item.row.type, author=professional, author_organisation=organisation)
            self._metadata_text[key] = metadata_text(view)
        return self._metadata_text[key]

    def _register_pending(self, session: Session, accepted: list[_Accepted]) -> None:
        """On PostgreSQL, name the blobs in a committed transaction of their own before writing them (ADR 18)."""
        if pending.writers_serialised(session):
            return
        now = self.platform.clock.now()
        with Session(session.get_bind()) as own, own.begin():
            write_rows(own, PendingContent.__table__, ("content_key", "record_id", "created_at"),
                       [(a.content_key, a.record_id, now) for a in accepted])

    def _claim_pending(self, session: Session, keys: list[str]) -> None:
        if pending.writers_serialised(session):
            return
        taken = session.execute(
            delete(PendingContent).where(pending.named_by(PendingContent.record_id, PendingContent.content_key, keys)))
        if taken.rowcount != len(keys):  # type: ignore[attr-defined]
            raise pending.PendingContentLost("store check took back pending content of this batch; run again")

    def _take_back(self, keys: list[str]) -> None:
        """A batch that did not commit leaves no blob and no pending row behind."""
        if not keys:
            return
        assert self.platform.blob_store is not None
        for key in keys:
            self.platform.blob_store.delete(key)
        with self.platform.sessions() as session:
            if not pending.writers_serialised(session):
                with session.begin():
                    session.execute(delete(PendingContent).where(
                        pending.named_by(PendingContent.record_id, PendingContent.content_key, keys)))

    # -- rows ------------------------------------------------------------------------------------

    def _write_documents(self, session: Session, sealed: list[_Accepted]) -> None:
        """The documents' rows and their search terms (the terms as the workers encoded them, on PostgreSQL)."""
        documents, terms = [], []
        term_data: list[bytes] = []
        current = self.platform.keys.current_key_id
        clock = self.platform.clock
        for item in sorted(sealed, key=lambda a: a.row.line):
            row, author = item.row, item.author
            assert item.sealed is not None
            professional = author.kind is actors.ActorKind.professional
            documents.append((
                item.document_id, item.record_id, row.type.value, row.title.strip(),
                uuid.UUID(author.id) if professional else None, author.organisation_id if professional else None,
                not professional, row.care_date, clock.now(), row.confidentiality.value,
                DocumentStatus.current.value, 1, row.media_type, item.sealed.size, item.sealed.sha256,
                ContentKind.binary.value, item.content_key,
            ))
            if item.sealed.terms_copy:
                term_data.append(item.sealed.terms_copy)  # encoded by the worker: no work per term here
            terms.extend((uuid.uuid4(), item.record_id, item.document_id, current, token, weight)
                         for token, weight in item.sealed.tokens)
        write_rows(session, Document.__table__, DOCUMENT_COLUMNS, documents)
        write_rows(session, DocumentDirectory.__table__, ("document_id", "record_id"),
                   [(item.document_id, item.record_id) for item in sealed])
        write_rows(session, SearchTerm.__table__, TERM_COLUMNS, terms)
        if term_data:
            copy_binary(session, SearchTerm.__table__, TERM_BINARY_COLUMNS,
                        [COPY_BINARY_HEADER, *term_data, COPY_BINARY_TRAILER])

    def _write_acts(self, session: Session, batch: int, sealed: list[_Accepted], refusals: list[_Refusal]) -> None:
        """The trace entries of the batch's acts (loads and refusals, in line order) and the source identifiers."""
        events: list[tuple[uuid.UUID, dict[str, Any]]] = []
        acts = [(a.row, a.record_id, a.author, a.decision, a) for a in sealed]
        acts += [(row, record_id, author, decision, None) for row, record_id, author, decision in refusals]
        acts.sort(key=lambda act: act[0].line)
        for row, record_id, author, decision, item in acts:
            events.append((record_id, self._event(row, author, decision, item.document_id if item else None)))
        self._append_trace(session, events)
        write_rows(session, ImportedDocument.__table__, IMPORTED_COLUMNS,
                   [(self.source, a.row.source_id, a.document_id, a.record_id, batch) for a in sealed])

    def _event(
        self, row: SourceRow, author: Actor, decision: Decision, document_id: uuid.UUID | None
    ) -> dict[str, Any]:
        """The fields of the entry a deposit writes, with the system as actor, on behalf of the author."""
        context: dict[str, Any] = {"type": row.type.value, "title": row.title.strip()}
        if Obligation.trace_as_emergency in decision.obligations:
            context["emergency"] = True
        if author.organisation_id:
            context["organisation"] = str(author.organisation_id)
        context["import"] = {"source": self.source, "source_id": row.source_id, "line": row.line}
        return {
            "actor_kind": SYSTEM.kind.value,
            "actor_id": SYSTEM.id,
            "actor_display": SYSTEM.display,
            "on_behalf_of": author.id,
            "action": decision.action.value,
            "document_id": document_id,
            "outcome": Outcome.permitted if decision.permitted else Outcome.refused,
            "reason": decision.reason.value,
            "basis": decision.basis.value if decision.basis else None,
            "context": context,
            "client_software": CLIENT_SOFTWARE,
            "request_id": self.run_id,
        }

    def _append_trace(self, session: Session, events: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        """Chain each record's new entries from its head, locked for the rest of the transaction."""
        if not events:
            return
        heads = lock_heads(session, (chain_for(record_id) for record_id, _ in events))
        position = {chain: (head.last_seq, head.last_hash) for chain, head in heads.items()}
        rows = []
        for record_id, event in events:
            chain = chain_for(record_id)
            seq, prev = position[chain]
            entry = SimpleNamespace(chain=chain, seq=seq + 1, recorded_at=self.platform.clock.now(),
                                    record_id=record_id, prev_hash=prev, **event)
            digest = hash_fields(entry_fields(entry))  # type: ignore[arg-type]
            position[chain] = (seq + 1, digest)
            rows.append((
                chain, seq + 1, entry.recorded_at, entry.actor_kind, entry.actor_id, entry.actor_display,
                entry.on_behalf_of, entry.action, record_id, entry.document_id, Outcome(entry.outcome).value,
                entry.reason, entry.basis, entry.context, entry.client_software, entry.request_id, prev, digest,
            ))
        write_rows(session, TraceEntry.__table__, TRACE_COLUMNS, rows)
        # The entries are in: the database moves each head onto its chain's new last entry.
        for chain, (seq, digest) in position.items():
            heads[chain].last_seq, heads[chain].last_hash = seq, digest
        session.flush()
