"""Bulk-load benchmark: the real deposit path against the cheapest ways to write the same metadata.

In one run, on a fresh PostgreSQL schema migrated with the project's own
migrations, the same synthetic documents are written three ways:

  (a) deposit  - the project's deposit path, ``RecordAccess.deposit`` (what the
                 FHIR API and the portals call): facts and grants loaded, policy
                 decision, hash-chained trace entry, content sealed with the
                 record's data key into a local-folder content store, metadata
                 row, holder notification; ``--batch`` deposits per transaction;
  (b) core     - the same metadata rows through SQLAlchemy Core executemany into
                 ``documents`` (no content, no trace): the metadata cost alone;
  (c) copy     - exactly the rows of (b) with PostgreSQL ``COPY`` (psycopg 3) into
                 ``bench_documents_copy``, a copy of ``documents``.

It prints documents per second for each and how many times slower (a) and (b)
are than (c). Row and content generation happen outside the timed sections, so
the figures are the cost of writing, not of inventing data.

Run on demand, never in the test suite::

    python bench/bulk_load.py                    # the default size (see --help)
    python bench/bulk_load.py --documents 2000   # a quick check
    python bench/bulk_load.py --documents 200000 --content-size 65536 --repeat 3

The database comes from ``--dsn``, else ``OPENDSP_BENCH_DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/test``. The benchmark works in a schema of
its own, ``bench_<random>``, and drops it at the end, even after an error.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import platform as host
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import groupby, islice
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, event, func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from opendsp.access.models import AccessSettings, CircleMember
from opendsp.access.services import RecordAccess
from opendsp.actors import SYSTEM, Actor, ActorKind
from opendsp.clock import SeededRandomness
from opendsp.db import make_engine
from opendsp.documents.models import Document, DocumentDirectory
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import ContentKind, DocumentStatus, DocumentType
from opendsp.migrations import upgrade
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import Decision, decide
from opendsp.policy.facts import AccessRequest, Grants, RecordFacts
from opendsp.policy.vocabulary import Action
from opendsp.population.importer import COLUMNS as POPULATION_COLUMNS
from opendsp.population.importer import import_population
from opendsp.professionals.services import register_organisation, register_professional
from opendsp.records.models import Record, RecordState
from opendsp.settings import Settings
from opendsp.trace.models import TraceEntry

# Run as a script, this folder is on sys.path: the generator sits beside us.
from population import (
    DocumentRow,
    PopulationSpec,
    document_content,
    documents,
    organisations,
    person_row,
    persons,
    professionals,
)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
COPY_TABLE = "bench_documents_copy"
# Deterministic timestamps: every run stores the same deposited_at and trace times.
BENCH_EPOCH = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
DOCUMENTS_TABLE = cast(Table, Document.__table__)
DIRECTORY_TABLE = cast(Table, DocumentDirectory.__table__)
DOCUMENT_COLUMNS = tuple(column.name for column in DOCUMENTS_TABLE.columns)
METHODS = ("deposit", "core", "copy")
LABELS = {
    "deposit": "(a) RecordAccess.deposit",
    "core": "(b) Core executemany: metadata only",
    "copy": "(c) COPY: metadata only",
}


# -- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    dsn: str
    documents: int
    documents_per_person: int
    content_size: int
    content_kind: str
    batch: int
    bulk_batch: int
    repeat: int
    seed: int
    methods: tuple[str, ...]
    bare_copy_table: bool
    content_dir: Path | None
    profile: Path | None

    @property
    def persons(self) -> int:
        return max(1, math.ceil(self.documents / self.documents_per_person))

    def spec(self) -> PopulationSpec:
        return PopulationSpec(
            persons=self.persons,
            documents_per_person=self.documents_per_person,
            content_size=self.content_size,
            content_kind=self.content_kind,
            seed=self.seed,
        )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def _methods(value: str) -> tuple[str, ...]:
    chosen = tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"methods are a comma-separated subset of {','.join(METHODS)}")
    return tuple(m for m in METHODS if m in chosen)


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description="Bulk-load N synthetic documents three ways (deposit, Core executemany, COPY) "
        "into a fresh PostgreSQL schema and compare documents per second. Run on demand, not in the tests.",
    )
    parser.add_argument("--dsn", default=os.environ.get("OPENDSP_BENCH_DATABASE_URL", DEFAULT_DSN),
                        help="PostgreSQL URL (default: $OPENDSP_BENCH_DATABASE_URL or %(default)s)")
    parser.add_argument("--documents", type=_positive, default=3_000,
                        help="documents written by each method in each run (default %(default)s)")
    # Luxembourg holds more than 16 million documents for about 660,000 persons: about 24 each.
    parser.add_argument("--documents-per-person", type=_positive, default=24,
                        help="documents per record; sets how many persons are created (default %(default)s)")
    parser.add_argument("--content-size", type=int, default=2048,
                        help="content bytes per document (default %(default)s)")
    parser.add_argument("--content-kind", choices=("random", "pdf"), default="random",
                        help="random bytes or a PDF-like payload (default %(default)s)")
    parser.add_argument("--batch", type=_positive, default=500,
                        help="deposits per transaction (default %(default)s)")
    parser.add_argument("--bulk-batch", type=_positive, default=5000,
                        help="rows per transaction for Core and COPY (default %(default)s)")
    parser.add_argument("--repeat", type=_positive, default=1,
                        help="run every method this many times; the best runs are compared (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default %(default)s)")
    parser.add_argument("--methods", type=_methods, default=METHODS,
                        help="comma-separated subset of deposit,core,copy (default all three)")
    parser.add_argument("--bare-copy-table", action="store_true",
                        help="COPY into a table without indexes and foreign keys (the raw ceiling) "
                        "instead of one indexed and constrained like documents")
    parser.add_argument("--content-dir", type=Path,
                        help="parent folder of the temporary content store (default: the system temp folder)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="profile the deposit runs with cProfile into FILE (read it with python -m pstats); "
                        "profiling slows them down, so their figures are not comparable")
    args = parser.parse_args(argv)
    if args.content_size < 0:
        parser.error("--content-size cannot be negative")
    if not 0 <= args.seed < 2**32:
        parser.error("--seed is between 0 and 2**32 - 1")
    if not args.dsn.startswith(("postgresql://", "postgresql+psycopg://")):
        parser.error("the benchmark needs PostgreSQL (it uses COPY): give a postgresql:// URL")
    return Config(
        dsn=args.dsn,
        documents=args.documents,
        documents_per_person=args.documents_per_person,
        content_size=args.content_size,
        content_kind=args.content_kind,
        batch=args.batch,
        bulk_batch=args.bulk_batch,
        repeat=args.repeat,
        seed=args.seed,
        methods=args.methods,
        bare_copy_table=args.bare_copy_table,
        content_dir=args.content_dir,
        profile=args.profile,
    )


# -- clock, schema, machine ----------------------------------------------------


class TickingClock:
    """Starts at a fixed instant and moves one millisecond per reading: same data, every run."""

    def __init__(self, start: datetime = BENCH_EPOCH) -> None:
        self.current = start

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema(dsn: str) -> Iterator[tuple[str, str]]:
    """A new schema; yields (its name, a URL whose search_path is it). Dropped on the way out."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(dsn)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield schema, _with_search_path(dsn, schema)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            print(f"schema {schema} dropped", file=sys.stderr)
    finally:
        admin.dispose()


def _read_first(path: str, prefix: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line
    except OSError:
        pass
    return None


def _filesystem_of(path: Path) -> str:
    """The mount type of a folder: fsync costs differ a lot between tmpfs and a disk."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) > 2 and resolved.startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def machine_facts(engine: Engine, content_root: Path) -> list[str]:
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
        settings = {
            name: connection.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("synchronous_commit", "fsync", "shared_buffers")
        }
    cpu = (_read_first("/proc/cpuinfo", "model name") or ":" + (host.processor() or "unknown")).split(":", 1)[1]
    memory = _read_first("/proc/meminfo", "MemTotal:")
    ram = f"{int(memory.split()[1]) / 1024 / 1024:.0f} GiB RAM" if memory else "RAM unknown"
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"machine: {os.cpu_count()} cores ({cpu.strip()}), {ram}, load average {load} (1, 5, 15 min)",
        f"system: {host.platform()}, Python {host.python_version()}",
        "PostgreSQL " + version + " (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")",
        f"content store: local folder under {content_root} ({_filesystem_of(content_root)})",
    ]


# -- population ----------------------------------------------------------------


def _stable_uuid(*parts: object) -> uuid.UUID:
    # Derived from the seed and position, so that reruns write the same ids.
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest()
    return uuid.UUID(bytes=digest, version=4)


@dataclass(frozen=True)
class Holder:
    record_id: uuid.UUID
    actor: Actor  # the holder deposits into the personal space


@dataclass
class Population:
    """What the timed runs need to turn a generated row into database ids and actors."""

    holders: dict[str, Holder] = field(default_factory=dict)  # by national number
    professional_ids: list[uuid.UUID] = field(default_factory=list)
    organisation_ids: list[uuid.UUID] = field(default_factory=list)
    professional_actors: list[Actor] = field(default_factory=list)


def _write_population_csv(spec: PopulationSpec, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=POPULATION_COLUMNS)
        writer.writeheader()
        for person in persons(spec):
            writer.writerow(person.csv_row())


def _register_professionals(platform: Platform, spec: PopulationSpec, population: Population) -> None:
    with platform.transaction() as session:
        registered = [
            register_organisation(session=session, platform=platform, actor=SYSTEM, identifier=org.identifier,
                                  name=org.name, kind=org.kind, city=org.city)
            for org in organisations(spec)
        ]
        population.organisation_ids = [org.id for org in registered]
        for pro in professionals(spec):
            organisation = registered[pro.organisation_index]
            professional = register_professional(
                session=session, platform=platform, actor=SYSTEM, licence_number=pro.licence_number,
                family_name=pro.family_name, given_name=pro.given_name, profession=pro.profession,
                specialties=list(pro.specialties), organisations=[organisation],
            )
            population.professional_ids.append(professional.id)
            population.professional_actors.append(
                Actor(kind=ActorKind.professional, id=str(professional.id),
                      display=f"{pro.given_name} {pro.family_name}", profession=pro.profession,
                      specialties=frozenset(pro.specialties), organisation_id=organisation.id,
                      organisation_kind=organisation.kind.value)
            )


def _load_holders(platform: Platform, population: Population) -> None:
    with platform.transaction() as session:
        rows = session.execute(
            select(Person.national_number, Person.id, Person.given_name, Person.family_name, Record.id)
            .join(Record, Record.id == Person.record_id)
        )
        for number, person_id, given, family, record_id in rows:
            actor = Actor(kind=ActorKind.holder, id=str(person_id), display=f"{given} {family}")
            population.holders[number] = Holder(record_id, actor)


def _needs_grant(platform: Platform, actor: Actor, doc_type: DocumentType, now: datetime) -> bool:
    """Whether the author needs the holder's grant for this type (False: a direct deposit).

    Asks the policy itself, so that a generated document the policy would refuse
    stops the benchmark here, with the reason, rather than in the middle of a run.
    """
    author = uuid.UUID(actor.id)
    record = RecordFacts(id=uuid.uuid4(), state=RecordState.active, holder_id=uuid.uuid4(),
                         holder_birth_date=date(1970, 1, 1))

    def asked(grants: Grants) -> Decision:
        request = AccessRequest(actor=actor, action=Action.deposit_document, record=record, now=now,
                                grants=grants, document_type=doc_type)
        return decide(request, platform.matrix)

    if asked(Grants()).permitted:
        return False
    granted = asked(Grants(circle={author: None}, referring_doctor=author))
    if not granted.permitted:
        raise RuntimeError(f"the policy refuses a generated {doc_type.value} by a {actor.profession} "
                           f"{sorted(actor.specialties)} at a {actor.organisation_kind} ({granted.message}): "
                           "bench/population.py is out of step with policy/rights.yaml")
    return True


def _grant_access(platform: Platform, config: Config, population: Population) -> None:
    """Activate the records and let the authors in, as holders would before professionals deposit.

    A setup shortcut (plain inserts, no trace): going through RecordAccess for
    each activation and circle member would take longer than the runs, and the
    holder's controls are not what this benchmark measures.
    """
    spec, now = config.spec(), platform.clock.now()
    asked: dict[tuple[DocumentType, int], bool] = {}  # one question per type and author
    settings_rows: list[dict[str, Any]] = []
    circle_rows: list[dict[str, Any]] = []
    for person_index, docs in groupby(documents(spec, limit=config.documents), key=lambda d: d.person_index):
        docs_of_person = list(docs)
        holder = population.holders[docs_of_person[0].national_number]
        referring_index = person_row(spec, person_index).referring_doctor_index
        referring = population.professional_ids[referring_index]
        circle: set[uuid.UUID] = set()
        for doc in docs_of_person:
            if doc.author_professional_index is None:
                continue
            professional = population.professional_ids[doc.author_professional_index]
            key = (doc.type, doc.author_professional_index)
            if key not in asked:
                actor = population.professional_actors[doc.author_professional_index]
                asked[key] = _needs_grant(platform, actor, doc.type, now)
            if asked[key] and professional != referring:
                circle.add(professional)
        settings_rows.append({"record_id": holder.record_id, "emergency_allowed": True,
                              "referring_doctor_id": referring, "updated_at": now})
        circle_rows.extend({"id": _stable_uuid(config.seed, "circle", holder.record_id, professional),
                            "record_id": holder.record_id, "professional_id": professional, "since": now}
                           for professional in sorted(circle))
    with platform.transaction() as session:
        session.execute(update(Record).values(state=RecordState.active, activated_at=now))
        if settings_rows:
            session.execute(insert(AccessSettings), settings_rows)
        if circle_rows:
            session.execute(insert(CircleMember), circle_rows)


def load_population(platform: Platform, config: Config, workdir: Path) -> Population:
    """Professionals, then persons and records through the real import (CSV, checks, create_record, trace)."""
    spec = config.spec()
    population = Population()
    _register_professionals(platform, spec, population)
    extract = workdir / "persons.csv"
    _write_population_csv(spec, extract)
    report = import_population(extract, platform=platform, actor=SYSTEM)
    if report.errors or report.created != spec.persons:
        first = report.errors[0] if report.errors else None
        raise RuntimeError(f"the synthetic population did not import cleanly: {report.created} created, "
                           f"{report.rejected} rejected (first: {first})")
    _load_holders(platform, population)
    _grant_access(platform, config, population)
    return population


# -- the deposit path ----------------------------------------------------------


@dataclass(frozen=True)
class DepositItem:
    record_id: uuid.UUID
    actor: Actor
    draft: DocumentDraft
    content: bytes


def deposit_one(session: Session, platform: Platform, item: DepositItem) -> None:
    """One deposit as a request makes it: RecordAccess for the actor, then deposit.

    That loads the record's facts and grants, asks the policy, writes the trace
    entry, seals and stores the content, adds the metadata row and, for a
    professional, the holder's notification.
    """
    RecordAccess(session=session, platform=platform, actor=item.actor).deposit(
        item.record_id, item.draft, [item.content]
    )


# -- the three ways ------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    method: str
    run: int
    documents: int
    seconds: float  # writing only
    prepare_seconds: float  # generating the rows and contents, outside the clock
    statements: int = 0  # SQL statements sent through SQLAlchemy while writing
    statement_seconds: float = 0.0  # time spent inside those statements (driver and server)

    @property
    def rate(self) -> float:
        return self.documents / self.seconds if self.seconds else float("inf")


class StatementMeter:
    """Counts the statements an engine executes and the time spent in them.

    It tells where the deposit time goes: waiting on PostgreSQL, or in
    Python (ORM, sealing, hashing) and the content store. COPY bypasses it.
    """

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.seconds = 0.0
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: object) -> None:
        self._started = time.perf_counter()

    def _after(self, *_: object) -> None:
        self.statements += 1
        self.seconds += time.perf_counter() - self._started

    @contextmanager
    def measuring(self) -> Iterator[Callable[[], tuple[int, float]]]:
        """Yields a function giving the statements and seconds since the block began."""
        statements, seconds = self.statements, self.seconds
        yield lambda: (self.statements - statements, self.seconds - seconds)


def _batches(rows: Iterator[DocumentRow], size: int) -> Iterator[list[DocumentRow]]:
    while batch := list(islice(rows, size)):
        yield batch


def _draft(doc: DocumentRow, population: Population) -> DocumentDraft:
    professional = doc.author_professional_index
    organisation = doc.author_organisation_index
    return DocumentDraft(
        type=doc.type,
        title=doc.title,
        care_date=doc.care_date,
        media_type=doc.media_type,
        confidentiality=doc.confidentiality,
        author_professional_id=population.professional_ids[professional] if professional is not None else None,
        author_organisation_id=population.organisation_ids[organisation] if organisation is not None else None,
        authored_by_holder=doc.authored_by_holder,
    )


def _deposit_item(spec: PopulationSpec, doc: DocumentRow, population: Population) -> DepositItem:
    holder = population.holders[doc.national_number]
    index = doc.author_professional_index
    return DepositItem(
        record_id=holder.record_id,
        actor=holder.actor if index is None else population.professional_actors[index],
        draft=_draft(doc, population),
        content=document_content(spec, doc),
    )


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """cProfile around the block, its statistics added to ``path``; nothing when path is None."""
    if path is None:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        stats = pstats.Stats(profile)
        if path.exists():
            stats.add(str(path))
        stats.dump_stats(path)


def run_deposit(platform: Platform, config: Config, population: Population, run: int) -> Timing:
    with profiled(config.profile):
        return _run_deposit(platform, config, population, run)


def _run_deposit(platform: Platform, config: Config, population: Population, run: int) -> Timing:
    spec = config.spec()
    writing = preparing = 0.0
    count = 0
    for batch in _batches(documents(spec, limit=config.documents), config.batch):
        started = time.perf_counter()
        items = [_deposit_item(spec, doc, population) for doc in batch]
        preparing += time.perf_counter() - started
        started = time.perf_counter()
        with platform.transaction() as session:
            for item in items:
                deposit_one(session, platform, item)
        writing += time.perf_counter() - started
        count += len(items)
    return Timing("deposit", run, count, writing, preparing)


def _column_defaults() -> dict[str, Any]:
    """None, or the column's plain default, for every column: new nullable columns need no change here."""
    defaults: dict[str, Any] = {}
    for column in DOCUMENTS_TABLE.columns:
        default = column.default
        defaults[column.name] = getattr(default, "arg", None) if default is not None and default.is_scalar else None
    return defaults


def metadata_row(spec: PopulationSpec, doc: DocumentRow, population: Population, run: int,
                 defaults: dict[str, Any]) -> dict[str, Any]:
    """The documents row a deposit of ``doc`` would write, with a stable id, key and time."""
    content = document_content(spec, doc)
    record_id = population.holders[doc.national_number].record_id
    doc_id = _stable_uuid(spec.seed, "document", run, doc.index)
    draft = _draft(doc, population)
    return defaults | {
        "id": doc_id,
        "record_id": record_id,
        "type": doc.type,
        "title": doc.title,
        "author_professional_id": draft.author_professional_id,
        "author_organisation_id": draft.author_organisation_id,
        "authored_by_holder": doc.authored_by_holder,
        "care_date": doc.care_date,
        "deposited_at": BENCH_EPOCH + timedelta(days=run, milliseconds=doc.index),
        "confidentiality": doc.confidentiality,
        "status": DocumentStatus.current,
        "version": 1,
        "media_type": doc.media_type,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content_kind": ContentKind.binary,
        "content_key": f"records/{record_id}/{doc_id}",
    }


def _metadata_batches(config: Config, population: Population, run: int
                      ) -> Iterator[tuple[list[dict[str, Any]], float]]:
    """Batches of rows, each with the seconds it took to generate (kept off the clock)."""
    spec, defaults = config.spec(), _column_defaults()
    for batch in _batches(documents(spec, limit=config.documents), config.bulk_batch):
        started = time.perf_counter()
        rows = [metadata_row(spec, doc, population, run, defaults) for doc in batch]
        yield rows, time.perf_counter() - started


def run_core(engine: Engine, config: Config, population: Population, run: int) -> Timing:
    writing = preparing = 0.0
    count = 0
    for rows, prepare in _metadata_batches(config, population, run):
        preparing += prepare
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(DOCUMENTS_TABLE), rows)
            # Each document's directory row, as a deposit writes it (docs/adr/0043-directories.md).
            connection.execute(insert(DIRECTORY_TABLE),
                               [{"document_id": row["id"], "record_id": row["record_id"]} for row in rows])
        writing += time.perf_counter() - started
        count += len(rows)
    return Timing("core", run, count, writing, preparing)


def _copy_value(value: object) -> object:
    # The enums are stored by name, and their names equal their values.
    return value.value if hasattr(value, "value") else value


def run_copy(engine: Engine, config: Config, population: Population, run: int) -> Timing:
    statement = f"COPY {COPY_TABLE} ({', '.join(DOCUMENT_COLUMNS)}) FROM STDIN"
    writing = preparing = 0.0
    count = 0
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        for rows, prepare in _metadata_batches(config, population, run):
            started = time.perf_counter()
            tuples = [tuple(_copy_value(row[name]) for name in DOCUMENT_COLUMNS) for row in rows]
            preparing += prepare + time.perf_counter() - started
            started = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(statement) as copy:
                for values in tuples:
                    copy.write_row(values)
            connection.commit()
            writing += time.perf_counter() - started
            count += len(rows)
    finally:
        raw.close()
    return Timing("copy", run, count, writing, preparing)


def create_copy_table(engine: Engine, bare: bool) -> str:
    """A copy of documents. Unless bare, with its indexes and foreign keys, so that (b) and (c)
    differ only in how the rows travel."""
    if bare:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE {COPY_TABLE} (LIKE documents INCLUDING DEFAULTS)"))
        return "columns and defaults only (no index, no foreign key)"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {COPY_TABLE} (LIKE documents INCLUDING ALL)"))
        foreign_keys = connection.execute(
            text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                 "WHERE conrelid = 'documents'::regclass AND contype = 'f' ORDER BY conname")
        ).all()
        for name, definition in foreign_keys:
            connection.execute(text(f"ALTER TABLE {COPY_TABLE} ADD CONSTRAINT bench_{name} {definition}"))
    return f"like documents, with its indexes and {len(foreign_keys)} foreign keys"


# -- the run -------------------------------------------------------------------


def _count(engine: Engine, statement: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def check_counts(engine: Engine, config: Config) -> str:
    """The tables hold what the runs claim to have written: a benchmark that lost rows proves nothing."""
    written = config.documents * config.repeat
    expected = {
        "documents": written * (("deposit" in config.methods) + ("core" in config.methods)),
        COPY_TABLE: written * ("copy" in config.methods),
        "deposit trace entries": written * ("deposit" in config.methods),
    }
    found = {
        "documents": _count(engine, select(func.count()).select_from(Document)),
        COPY_TABLE: _count(engine, text(f"SELECT count(*) FROM {COPY_TABLE}")),
        "deposit trace entries": _count(
            engine, select(func.count()).select_from(TraceEntry).where(TraceEntry.action == "document.deposit")
        ),
    }
    wrong = [f"{name}: {found[name]} rows, expected {expected[name]}" for name in expected
             if found[name] != expected[name]]
    if wrong:
        raise RuntimeError("row counts are wrong: " + "; ".join(wrong))
    return "check: " + ", ".join(f"{name} {count}" for name, count in found.items()) + " rows, as expected"


def best_of(timings: list[Timing]) -> dict[str, Timing]:
    best: dict[str, Timing] = {}
    for timing in timings:
        if timing.method not in best or timing.rate > best[timing.method].rate:
            best[timing.method] = timing
    return best


def format_results(timings: list[Timing], config: Config) -> list[str]:
    lines = [f"{'run':>3}  {'method':<37} {'documents':>9} {'seconds':>8} {'docs/s':>9} "
             f"{'SQL/doc':>8} {'in SQL':>7}  {'prepare s':>9}"]
    for t in timings:
        per_doc = f"{t.statements / t.documents:.3g}" if t.statements else "-"
        in_sql = f"{t.statement_seconds / t.seconds:.0%}" if t.statements else "-"
        lines.append(f"{t.run:>3}  {LABELS[t.method]:<37} {t.documents:>9} {t.seconds:>8.2f} {t.rate:>9,.0f} "
                     f"{per_doc:>8} {in_sql:>7}  {t.prepare_seconds:>9.2f}")
    lines.append("SQL/doc: statements sent per document (COPY is not counted); in SQL: share of the time spent "
                 "inside them;")
    lines.append("prepare s: generating rows and content, outside the clock.")
    best = best_of(timings)
    lines.append("")
    which = "best runs, " if config.repeat > 1 else ""
    lines.append(f"ratios of the time per document ({which}higher: the first is slower):")
    pairs = (("deposit", "copy"), ("core", "copy"), ("deposit", "core"))
    for slow, fast in pairs:
        if slow in best and fast in best:
            ratio = best[fast].rate / best[slow].rate
            first, second = LABELS[slow][:3], LABELS[fast][:3]
            lines.append(f"  {first}/{second} = {ratio:6.1f}   {first} {slow} takes {ratio:.1f} times as long "
                         f"per document as {second} {fast}")
    return lines


def benchmark(config: Config) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="opendsp-bench-", dir=config.content_dir))
    try:
        with fresh_schema(config.dsn) as (schema, url):
            return _benchmark_in(config, schema, url, workdir)
    finally:
        started = time.perf_counter()
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"content folder removed in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def _benchmark_in(config: Config, schema: str, url: str, workdir: Path) -> int:
    settings = Settings(var_dir=workdir / "var", database_url=url, content_store=f"file:{workdir / 'content'}")
    platform = Platform(settings=settings, clock=TickingClock(), randomness=SeededRandomness(config.seed))
    engine = platform.engine
    assert engine is not None
    try:
        spec = config.spec()
        print("OpenDSP bulk-load benchmark, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        for line in machine_facts(engine, workdir):
            print(line)
        print(f"data: {config.documents} documents per method and run, {spec.persons} persons "
              f"({config.documents_per_person} documents each), {spec.professional_count} professionals, "
              f"{spec.organisation_count} organisations, seed {config.seed}")
        print(f"content: {config.content_size} bytes per document ({config.content_kind})")
        print(f"transactions: deposit {config.batch} documents each; Core and COPY {config.bulk_batch} rows each")

        started = time.perf_counter()
        upgrade(engine)
        migrated = time.perf_counter() - started
        print(f"copy table: {create_copy_table(engine, config.bare_copy_table)}")
        started = time.perf_counter()
        population = load_population(platform, config, workdir)
        print(f"setup: schema {schema} migrated in {migrated:.1f} s; {spec.persons} persons and records "
              f"imported, activated and opened to their authors in {time.perf_counter() - started:.1f} s")
        print(flush=True)

        runners: dict[str, Callable[[int], Timing]] = {
            "deposit": lambda run: run_deposit(platform, config, population, run),
            "core": lambda run: run_core(engine, config, population, run),
            "copy": lambda run: run_copy(engine, config, population, run),
        }
        meter = StatementMeter(engine)
        timings: list[Timing] = []
        for run in range(1, config.repeat + 1):
            for method in config.methods:
                with meter.measuring() as measured:
                    timing = runners[method](run)
                statements, seconds = measured()
                timings.append(replace(timing, statements=statements, statement_seconds=seconds))
                print(f"  run {run} {method}: {timings[-1].documents} documents in {timings[-1].seconds:.2f} s",
                      file=sys.stderr, flush=True)
        for line in format_results(timings, config):
            print(line)
        print(check_counts(engine, config))
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"load average at the end: {load}")
        return 0
    finally:
        engine.dispose()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def bench_main(name: str, dsn: str, body: Callable[[], int], *, workdir: Path | None = None) -> int:
    """What every benchmark does around its run: results on stdout and progress on stderr in the order they
    happen; a polite kill (SIGTERM) unwinds like Ctrl-C, so that the schema and ``workdir`` are removed; a
    database that cannot be used, a failed check or an interruption answered with a line and an exit code; the
    wall time."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    try:
        return body()
    except OperationalError as error:
        print(f"{name}: PostgreSQL at {dsn} cannot be used: {error.orig or error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted (the schema and the content folder were removed)", file=sys.stderr)
        return 130
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main_in_fresh_schema(name: str, dsn: str, run: Callable[[str, Path], None]) -> int:
    """``bench_main`` around a run in a schema of its own (dropped afterwards) and a work folder of its own:
    ``run`` is given the schema's URL and the folder."""
    workdir = Path(tempfile.mkdtemp(prefix=f"opendsp-bench-{name}-"))

    def body() -> int:
        with fresh_schema(dsn) as (_schema, url):
            run(url, workdir)
        return 0

    return bench_main(name, dsn, body, workdir=workdir)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    if config.profile:
        config.profile.unlink(missing_ok=True)  # the runs add to it
    return bench_main("bulk_load", config.dsn, lambda: benchmark(config))


if __name__ == "__main__":
    sys.exit(main())
