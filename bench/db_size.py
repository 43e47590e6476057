"""How many bytes of database and of content store one document costs, measured.

On a fresh PostgreSQL schema migrated with the project's migrations: a synthetic population
(``population.py``, set up as ``bulk_load.py`` does: persons and records through the real importer,
records activated, authors let in), then its documents loaded the way a migration loads them
(``opendsp import-documents``: policy, trace chains, keyword index, sealed content, journal), then the
worker's jobs run until none is due, then ``VACUUM ANALYZE``. It prints:

  - per table: rows, heap, indexes, TOAST, total (``pg_total_relation_size``);
  - per index: its size (``pg_relation_size``);
  - the database's bytes per document (tables + indexes + TOAST, all tables of the schema) and the
    content store's (the files' sizes and the blocks they take on disk);
  - the extrapolation to Luxembourg (16 M documents, 660 k persons): each table scaled by the documents
    when its rows follow the documents, by the persons otherwise.

    .venv/bin/python bench/db_size.py --persons 2000 --documents-per-person 25 --content-size 51200
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from opendsp.clock import SeededRandomness
from opendsp.importing.loader import import_documents
from opendsp.jobs.worker import JobWorker
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings

# Run as a script, this folder is on sys.path: the population set-up and the export writer sit beside us.
from bulk_load import TickingClock, fresh_schema, load_population, machine_facts
from import_documents import loader_arguments, loader_config, warm, write_export

LUXEMBOURG_DOCUMENTS = 16_000_000
LUXEMBOURG_PERSONS = 660_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=2000)
    loader_arguments(parser, documents_per_person=25)
    return parser.parse_args(argv)


@dataclass(frozen=True)
class TableSize:
    name: str
    rows: int
    heap: int  # the main fork, free space and visibility maps included (pg_table_size without TOAST)
    indexes: int
    toast: int  # the TOAST table and its index
    total: int  # pg_total_relation_size


def table_sizes(engine: Engine, schema: str) -> list[TableSize]:
    query = text("""
        SELECT c.relname, c.oid::regclass::text AS qualified,
               pg_table_size(c.oid) AS table_size, pg_indexes_size(c.oid) AS indexes,
               coalesce(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast,
               pg_total_relation_size(c.oid) AS total
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
        ORDER BY pg_total_relation_size(c.oid) DESC, c.relname""")
    out = []
    with engine.connect() as connection:
        for row in connection.execute(query, {"schema": schema}).all():
            rows = connection.execute(text(f"SELECT count(*) FROM {row.qualified}")).scalar_one()
            out.append(TableSize(row.relname, rows, row.table_size - row.toast, row.indexes, row.toast, row.total))
    return out


def index_sizes(engine: Engine, schema: str) -> list[tuple[str, str, int]]:
    query = text("""
        SELECT t.relname AS table_name, i.relname AS index_name, pg_relation_size(i.oid) AS size
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = :schema AND t.relkind IN ('r', 'p')
        ORDER BY pg_relation_size(i.oid) DESC, i.relname""")
    with engine.connect() as connection:
        return [(r.table_name, r.index_name, r.size) for r in connection.execute(query, {"schema": schema}).all()]


def folder_size(root: Path) -> tuple[int, int, int]:
    """Files, their bytes, and the bytes their blocks take on disk."""
    files = apparent = on_disk = 0
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            files += 1
            apparent += stat.st_size
            on_disk += stat.st_blocks * 512
    return files, apparent, on_disk


def run_jobs(platform: Platform) -> int:
    """The worker's passes until nothing is due (keyword indexing, notifications): what ``opendsp worker`` does."""
    done = 0
    while True:
        tally = JobWorker(platform).run(once=True)
        if tally.errors:
            raise RuntimeError(f"jobs failed: {tally.errors[:3]}")
        done += tally.done
        if not tally.done:
            return done


def vacuum_analyze(engine: Engine, schema: str) -> None:
    """VACUUM ANALYZE of this schema's tables only (the database may be shared)."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        names = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                                   {"schema": schema}).scalars().all()
        for name in names:
            connection.execute(text(f'VACUUM ANALYZE "{schema}"."{name}"'))


def scale_of(table: TableSize, documents: int, persons: int) -> tuple[float, str]:
    """Luxembourg's rows over ours: by documents for a table with at least a row per document, by persons for
    one with at least a row per person, else as it is (the platform's few rows, an empty table's pages)."""
    if table.rows >= documents:
        return LUXEMBOURG_DOCUMENTS / documents, "documents"
    if table.rows >= persons:
        return LUXEMBOURG_PERSONS / persons, "persons"
    return 1.0, "as is"


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def gb(value: float) -> str:
    return f"{value / 1e9:,.1f} GB"


def report(tables: list[TableSize], indexes: list[tuple[str, str, int]], documents: int, persons: int,
           store: tuple[int, int, int], content_size: int) -> list[str]:
    lines = ["", f"{'table':<34} {'rows':>10} {'heap':>12} {'indexes':>12} {'TOAST':>10} {'total':>12} "
                 f"{'bytes/doc':>10}  scaled by"]
    for t in tables:
        if t.total == 0:
            continue
        by = scale_of(t, documents, persons)[1]
        lines.append(f"{t.name:<34} {t.rows:>10,} {mb(t.heap):>12} {mb(t.indexes):>12} {mb(t.toast):>10} "
                     f"{mb(t.total):>12} {t.total / documents:>10,.0f}  {by}")
    shown = [t for t in tables if t.total]
    heap, index, toast = (sum(getattr(t, f) for t in shown) for f in ("heap", "indexes", "toast"))
    total = sum(t.total for t in shown)
    lines.append(f"{'all ' + str(len(shown)) + ' tables':<34} {'':>10} {mb(heap):>12} {mb(index):>12} "
                 f"{mb(toast):>10} {mb(total):>12} {total / documents:>10,.0f}")
    lines += ["", f"{'index':<58} {'table':<26} {'size':>12} {'bytes/doc':>10}"]
    for table, name, size in indexes:
        if size >= 1 << 20:  # the indexes of a megabyte or more; the rest are in the tables' totals
            lines.append(f"{name:<58} {table:<26} {mb(size):>12} {size / documents:>10,.0f}")
    files, apparent, on_disk = store
    lines += [
        "",
        f"database: {mb(total)} for {documents:,} documents and {persons:,} persons: "
        f"{total / documents:,.0f} bytes per document (heap {heap / documents:,.0f}, indexes "
        f"{index / documents:,.0f}, TOAST {toast / documents:,.0f})",
        f"content store: {files:,} files, {mb(apparent)} ({apparent / documents:,.0f} bytes per document of "
        f"{content_size:,}: {100 * (apparent / documents / content_size - 1):+.2f} %), {mb(on_disk)} on disk "
        f"({on_disk / documents:,.0f} bytes per document)",
    ]
    database = sum(t.total * scale_of(t, documents, persons)[0] for t in shown)
    by_documents = sum(t.total for t in shown if scale_of(t, documents, persons)[1] == "documents")
    by_persons = sum(t.total for t in shown if scale_of(t, documents, persons)[1] == "persons")
    overhead = apparent / documents - content_size  # the sealing's header and tags
    lines += [
        f"extrapolated to {LUXEMBOURG_DOCUMENTS:,} documents and {LUXEMBOURG_PERSONS:,} persons: database "
        f"{gb(database)} ({mb(by_documents)} of the tables here scaled by the documents, {mb(by_persons)} by the "
        f"persons, {mb(total - by_documents - by_persons)} as is); content store "
        f"{gb(on_disk / documents * LUXEMBOURG_DOCUMENTS)} on disk at {content_size:,} bytes a document, "
        f"{gb((200_000 + overhead) * LUXEMBOURG_DOCUMENTS)} of files at 200 KB",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    args = parse_args(argv)
    documents = args.persons * args.documents_per_person
    config = loader_config(args, documents)
    folder = Path(tempfile.mkdtemp(prefix="opendsp-db-size-", dir=args.content_dir))
    try:
        with fresh_schema(config.dsn) as (schema, url):
            store = folder / "store"
            settings = Settings(var_dir=folder / "var", database_url=url, content_store=f"file:{store}")
            platform = Platform(settings=settings, clock=TickingClock(), randomness=SeededRandomness(config.seed))
            engine = platform.engine
            assert engine is not None
            print("OpenDSP database size per document, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
            for line in machine_facts(engine, folder):
                print(line)
            upgrade(engine)
            started = time.perf_counter()
            population = load_population(platform, config, folder)
            export = write_export(config, folder)
            warmed = warm(folder)
            print(f"data: {documents:,} documents of {args.content_size:,} bytes ({args.content_kind}), "
                  f"{config.spec().persons:,} persons and records, {len(population.professional_ids)} "
                  f"professionals; export of {warmed / 1e6:,.0f} MB written in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            loaded = import_documents(platform=platform, export=export, source="bench", batch_size=args.batch,
                                      workers=args.workers)
            if loaded.rejected or loaded.loaded != documents:
                print(f"the import rejected {loaded.rejected} lines: {loaded.reasons.most_common(3)}")
                return 1
            print(f"import-documents: {loaded.loaded:,} documents in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            jobs = run_jobs(platform)
            print(f"worker: {jobs:,} jobs done in {time.perf_counter() - started:.1f} s")
            vacuum_analyze(engine, schema)
            for line in report(table_sizes(engine, schema), index_sizes(engine, schema), documents,
                               config.spec().persons, folder_size(store), args.content_size):
                print(line)
            print("load average at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
            engine.dispose()
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
