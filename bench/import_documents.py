"""Benchmark of ``opendsp import-documents`` against a raw seal + write + COPY of the same data.

In one run, on a fresh PostgreSQL schema migrated with the project's migrations and a synthetic
population (``population.py``, set up as ``bulk_load.py`` does: records activated, authors let in):

  export   - the documents written as the loader's CSV format plus one content file each (not timed);
  (i)      - ``import_documents``: the loader, as the command runs it (policy, trace chains, search
             terms, sealing and indexing in a process pool, durable blobs, COPY, journal);
  (r)      - raw: the same files read, hashed, sealed with the record's data key in a process pool of
             the same size, written (rename, one ``syncfs`` per batch) and their metadata rows sent
             with ``COPY`` into a copy of ``documents``, one transaction per batch: the floor a loader
             cannot go under.

It prints documents per second of each and the loader's share of the raw figure. The content files
are read once before the runs, so both read them from the page cache.

    .venv/bin/python bench/import_documents.py --documents 20000 --content-size 51200
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from opendsp.clock import SeededRandomness, SystemRandomness
from opendsp.content.sealing import seal
from opendsp.content.service import content_key
from opendsp.documents.models import Document
from opendsp.importing.loader import DOCUMENT_COLUMNS, import_documents
from opendsp.importing.sealing import make_durable, write_blob
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings

# Run as a script, this folder is on sys.path: the generator and the bulk-load setup sit beside us.
from bulk_load import COPY_TABLE, Config, Population, TickingClock, create_copy_table, fresh_schema, \
    load_population, machine_facts
from population import DOCUMENT_COLUMNS as EXPORT_COLUMNS
from population import _content_path, document_content, documents

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def loader_arguments(parser: argparse.ArgumentParser, *, documents_per_person: int) -> None:
    """The options of a run that loads a synthetic export with the loader (this benchmark, db_size.py)."""
    parser.add_argument("--dsn", default=os.environ.get("OPENDSP_BENCH_DATABASE_URL", DEFAULT_DSN))
    parser.add_argument("--documents-per-person", type=int, default=documents_per_person)
    parser.add_argument("--content-size", type=int, default=51200)
    parser.add_argument("--content-kind", choices=("pdf", "random"), default="pdf")
    parser.add_argument("--batch", type=int, default=1000, help="documents per transaction of the loader")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the loader's sealing processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--content-dir", type=Path, default=None, help="where the export and the store live")


def loader_config(args: argparse.Namespace, documents: int) -> Config:
    return Config(dsn=args.dsn, documents=documents, documents_per_person=args.documents_per_person,
                  content_size=args.content_size, content_kind=args.content_kind, batch=args.batch,
                  bulk_batch=args.batch, repeat=1, seed=args.seed, methods=(), bare_copy_table=False,
                  content_dir=args.content_dir, profile=None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=5000)
    loader_arguments(parser, documents_per_person=24)
    return parser.parse_args(argv)


def write_export(config: Config, folder: Path) -> Path:
    spec = config.spec()
    path = folder / "documents.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for doc in documents(spec, limit=config.documents):
            content = document_content(spec, doc)
            name = _content_path(doc.index)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
            author = doc.author_professional_index
            writer.writerow([
                doc.index, doc.national_number, doc.type.value, doc.title, doc.care_date.isoformat(),
                doc.media_type, doc.confidentiality.value, "true" if doc.authored_by_holder else "false",
                "" if author is None else f"{_licence(spec, author)}",
                "" if doc.author_organisation_index is None else _organisation(spec, doc.author_organisation_index),
                len(content), hashlib.sha256(content).hexdigest(), name,
            ])
    return path


def _licence(spec, index: int) -> str:  # type: ignore[no-untyped-def]
    from population import professional_row

    return professional_row(spec, index).licence_number


def _organisation(spec, index: int) -> str:  # type: ignore[no-untyped-def]
    from population import organisation_row

    return organisation_row(spec, index).identifier


def warm(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*.pdf"):
        total += len(path.read_bytes())
    return total


# -- (r) the raw floor ------------------------------------------------------------------


@dataclass(frozen=True)
class RawJob:
    path: str
    key: str
    data_key: bytes


def raw_seal(jobs: list[RawJob], root: str) -> list[tuple[int, str]]:
    randomness = SystemRandomness()
    out = []
    for job in jobs:
        content = Path(job.path).read_bytes()
        sealed = b"".join(seal([content], key=job.data_key, context=job.key.encode(), randomness=randomness))
        write_blob(Path(root), job.key, sealed)
        out.append((len(content), hashlib.sha256(content).hexdigest()))
    return out


def run_raw(platform: Platform, export: Path, folder: Path, batch: int, workers: int) -> tuple[int, float]:
    """The same documents' content sealed and written, and their rows copied, in batches; timed."""
    root = folder / "raw-store"
    root.mkdir()
    engine = platform.engine
    assert engine is not None
    with platform.sessions() as session:
        rows = session.execute(select(*(Document.__table__.c[c] for c in DOCUMENT_COLUMNS))).all()
        data_keys = {rid: platform.content._data_key(session, rid, create=False) for rid in {r.record_id for r in rows}}
    by_index = {}
    with export.open(newline="") as handle:
        for line in csv.DictReader(handle):
            by_index[(line["title"], line["sha256"])] = line["content_file"]
    statement = f"COPY {COPY_TABLE} ({', '.join(DOCUMENT_COLUMNS)}) FROM STDIN"
    count = 0
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(rows), batch):
                chunk = rows[start:start + batch]
                jobs = [RawJob(str(folder / by_index[(r.title, r.sha256)]), content_key(r.record_id, uuid.uuid4()),
                               data_keys[r.record_id]) for r in chunk]
                parts = [jobs[i::workers] for i in range(workers)]
                list(pool.map(raw_seal, parts, [str(root)] * workers))
                make_durable(root, [j.key for j in jobs])
                with connection.cursor() as cursor, cursor.copy(statement) as copy:
                    for r, job in zip(chunk, jobs, strict=True):
                        values = dict(r._mapping)
                        values["id"], values["content_key"] = uuid.uuid4(), job.key
                        copy.write_row([getattr(values[c], "value", values[c]) for c in DOCUMENT_COLUMNS])
                connection.commit()
                count += len(chunk)
    finally:
        raw.close()
    return count, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    args = parse_args(argv)
    config = loader_config(args, args.documents)
    folder = Path(tempfile.mkdtemp(prefix="opendsp-import-bench-", dir=args.content_dir))
    try:
        with fresh_schema(config.dsn) as (schema, url):
            settings = Settings(var_dir=folder / "var", database_url=url, content_store=f"file:{folder / 'store'}")
            platform = Platform(settings=settings, clock=TickingClock(), randomness=SeededRandomness(config.seed))
            assert platform.engine is not None
            print("OpenDSP import-documents benchmark, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
            for line in machine_facts(platform.engine, folder):
                print(line)
            upgrade(platform.engine)
            create_copy_table(platform.engine, bare=False)
            started = time.perf_counter()
            population: Population = load_population(platform, config, folder)
            export = write_export(config, folder)
            warmed = warm(folder)
            spec = config.spec()
            print(f"data: {config.documents} documents of {config.content_size} bytes ({config.content_kind}), "
                  f"{spec.persons} records, {len(population.professional_ids)} professionals; export written and "
                  f"read once ({warmed / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
            print(f"batches of {args.batch} documents; {args.workers} sealing processes on both paths")

            started = time.perf_counter()
            report = import_documents(platform=platform, export=export, source="bench", batch_size=args.batch,
                                      workers=args.workers)
            loader_seconds = time.perf_counter() - started
            if report.rejected or report.loaded != config.documents:
                print(f"the import rejected {report.rejected} lines: {report.reasons.most_common(3)}")
                return 1
            phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
            print(f"    loader phases: {phases}", file=sys.stderr)
            raw_count, raw_seconds = run_raw(platform, export, folder, args.batch, args.workers)
            loader_rate, raw_rate = report.loaded / loader_seconds, raw_count / raw_seconds
            print(f"(i) import-documents      {report.loaded:>8} documents {loader_seconds:8.2f} s "
                  f"{loader_rate:>9,.0f} documents/s  ({report.decisions} policy decisions)")
            print(f"    its phases: {phases}")
            print(f"(r) raw seal+write+COPY   {raw_count:>8} documents {raw_seconds:8.2f} s "
                  f"{raw_rate:>9,.0f} documents/s")
            print(f"loader / raw: {100 * loader_rate / raw_rate:.0f} %   (targets: 2,000 documents/s and 50 %)")
            print("load average at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
            platform.engine.dispose()
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
