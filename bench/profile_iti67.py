"""Where one ITI-67 first page spends its server time: a per-phase breakdown and a cProfile.

On a fresh PostgreSQL schema, ``--documents`` documents are COPY-loaded with
``fhir_api.load`` (the FHIR benchmark's loader). One caller (a referring
doctor, through their practice's software, one token) then searches
``--records`` of the records they are the referring doctor of, in process through the ASGI
application (FastAPI's ``TestClient``): a warm-up pass fills the caches
(verified caller, each record's facts and grants), then ``--searches``
``GET /fhir/DocumentReference?patient=Patient/{id}&_count=20`` are timed.

Each request's server time (from its arrival in the application to its last
byte, ``fhir_api.ServerTimed``) is split into phases by wrapping the functions
that do them, counting each phase's own time (time in a nested phase is the
nested phase's): the token check, finding the person and record, the facts
and grants, the decision, the page's query (with loading its rows), what the
senders gave, the relations and hashes, the mapping to FHIR, the JSON
encoding, the trace append, the commit. What no phase covers (routing, the
dependency's set-up, starlette) is "the rest". Statements and the time spent
in them (driver and server) are counted beside.

Run on demand, never in the test suite::

    python bench/profile_iti67.py                         # 100,000 documents, 200 searches
    python bench/profile_iti67.py --profile /tmp/iti67.prof   # and a cProfile of the timed searches
    python -m pstats /tmp/iti67.prof

Before and after a change, side by side: run it with ``PYTHONPATH`` on the
base's ``src`` (exported with ``git archive``) and on the branch's, one right
after the other, and compare the two runs (bench/README.md).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.app import create_app

# Run as a script, this folder is on sys.path.
from bulk_load import machine_facts, main_in_fresh_schema
from fhir_api import (
    DEFAULT_DSN,
    Config,
    ServerTimed,
    Tokens,
    _organisation_of,
    _profile_threadpool,
    load,
    percentile,
    progress_bar,
)


class Phases:
    """Own time per phase for the request being timed (one request at a time), and statements per phase."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.current: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)
        self.sql_time: dict[str, float] = defaultdict(float)
        self.requests: list[dict[str, float]] = []
        self.recording = False

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    def phase(self) -> str:
        stack = self._stack()
        return stack[-1][0] if stack else "the rest"

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)
        phases = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not phases.recording:
                return original(*args, **kwargs)
            stack = phases._stack()
            frame = [phase, 0.0]  # name, time of nested phases
            stack.append(frame)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - began
                stack.pop()
                phases.current[phase] += spent - frame[1]
                if stack:
                    stack[-1][1] += spent

        setattr(owner, name, timed)

    def end_request(self, total: float) -> None:
        if not self.recording:
            return
        own = dict(self.current)
        own["the rest"] = total - sum(own.values())
        own["total"] = total
        self.requests.append(own)
        self.current = defaultdict(float)

    def count_statements(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: Any) -> None:
            conn.info["bench_began"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: Any) -> None:
            if self.recording:
                phase = self.phase()
                self.statements[phase] += 1
                self.sql_time[phase] += time.perf_counter() - conn.info.pop("bench_began", time.perf_counter())


# (module, attribute path, phase): what each phase is, in the code as it is.
PHASES: list[tuple[str, str, str]] = [
    ("opendsp.clients.services", "Tokens.verify", "token check (cached caller)"),
    ("opendsp.clients.services", "Caller.actor", "token check (cached caller)"),
    ("opendsp.access.exchange", "Exchange.person_and_record", "person and record"),
    ("opendsp.access.gate", "Gate._standing", "facts and grants"),
    ("opendsp.access.gate", "Gate._visibility", "facts and grants"),
    ("opendsp.access.gate", "decide", "decision"),
    ("opendsp.access.reading", "Reading.list_documents", "page query (count + page, rows)"),
    ("opendsp.access.exchange", "Exchange.find_document_details", "page query (count + page, rows)"),
    ("opendsp.access.exchange", "Exchange._details", "what the senders gave"),
    ("opendsp.fhir.routes.documents", "exchange_extras", "relations and hashes"),
    ("opendsp.fhir.routes.documents", "document_reference", "rows to FHIR"),
    ("opendsp.fhir.mapping", "searchset", "rows to FHIR"),
    ("starlette.responses", "JSONResponse.render", "JSON encoding"),
    ("opendsp.trace.service", "TraceWriter.append", "trace append"),
    ("sqlalchemy.orm.session", "SessionTransaction.commit", "commit"),
]


def instrument(phases: Phases) -> None:
    import importlib

    for module_name, path, phase in PHASES:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        phases.wrap(owner, name, phase)


class Timed(ServerTimed):
    def __init__(self, app: Any, phases: Phases) -> None:
        super().__init__(app)
        self.phases = phases

    def record(self, spent: float) -> None:
        super().record(spent)
        self.phases.end_request(spent)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Per-phase server time of ITI-67 first pages, one warm caller.")
    parser.add_argument("--dsn", default=os.environ.get("OPENDSP_BENCH_DATABASE_URL", DEFAULT_DSN))
    parser.add_argument("--documents", type=int, default=100_000, help="documents COPY-loaded (default %(default)s)")
    parser.add_argument("--documents-per-person", type=int, default=24)
    parser.add_argument("--searches", type=int, default=200, help="timed searches (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="timed passes of --searches each; the figures are over all of them")
    parser.add_argument("--records", type=int, default=50,
                        help="the caller's records searched, each warmed once first (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed searches to FILE")
    args = parser.parse_args(argv)
    if not args.dsn.startswith(("postgresql://", "postgresql+psycopg://")):
        parser.error("the profile needs PostgreSQL: give a postgresql:// URL")
    return args


def run(args: argparse.Namespace, url: str, workdir: Path) -> None:
    settings = Settings(var_dir=workdir / "var", database_url=url, content_store=f"file:{workdir / 'content'}")
    platform = Platform(settings=settings)
    engine = platform.engine
    assert engine is not None
    config = Config(dsn=args.dsn, documents=args.documents, documents_per_person=args.documents_per_person,
                    submissions=1, searches=args.searches, content_size=2048, seed=args.seed, copy_batch=50_000)
    try:
        print("OpenDSP ITI-67 profile, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        for line in machine_facts(engine, workdir):
            print(line)
        from opendsp.migrations import upgrade

        upgrade(engine)
        started = time.perf_counter()
        with progress_bar() as bar:
            loaded = load(platform, config, bar)
        print(f"population: {len(loaded.person_ids):,} records, {args.documents:,} documents, loaded in "
              f"{time.perf_counter() - started:.0f} s")

        # One caller: the referring doctor of the most records, searching those records.
        patients: dict[int, list[uuid.UUID]] = defaultdict(list)
        for index, doctor in enumerate(loaded.referring):
            patients[doctor].append(loaded.person_ids[index])
        doctor_index = max(patients, key=lambda d: len(patients[d]))
        doctor = loaded.population.professional_ids[doctor_index]
        mine = patients[doctor_index][:args.records]
        rng = random.Random(args.seed)
        chosen = [rng.choice(mine) for _ in range(args.searches)]

        phases = Phases()
        instrument(phases)
        phases.count_statements(engine)
        timed = Timed(create_app(platform=platform), phases)
        with TestClient(timed) as http:
            tokens = Tokens(platform, http)
            token = tokens.token(doctor, _organisation_of(platform, doctor), "system/DocumentReference.rs")
            headers = {"Authorization": f"Bearer {token}"}

            def search(person_id: uuid.UUID) -> int:
                response = http.get(f"/fhir/DocumentReference?patient=Patient/{person_id}&_count=20",
                                    headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"ITI-67 answered {response.status_code}: {response.text[:500]}")
                return len(response.content)

            for person_id in mine:  # warm: the caller and every record's facts and grants cached
                search(person_id)
            # The server's threads, where the dependency and the route run (fhir_api's thread-pool profile).
            profile = _profile_threadpool() if args.profile else None
            sizes = []
            timed.recording = phases.recording = True
            for _round in range(args.rounds):
                for person_id in chosen:
                    sizes.append(search(person_id))
            if profile:
                profile.dump_stats(args.profile)
            timed.recording = phases.recording = False
        report(phases, timed.times, len(mine), statistics.mean(sizes))
        if args.profile:
            print(f"cProfile of the timed searches (the thread pool: dependency and route): {args.profile}")
        print("load average at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    finally:
        engine.dispose()


def report(phases: Phases, times: list[float], records: int, size: float) -> None:
    n = len(times)
    print(f"\n{n} ITI-67 searches by one warm caller over {records} records (_count=20, responses of "
          f"{size / 1024:.1f} KiB on average)")
    print(f"server time: p50 {percentile(times, .5) * 1000:.2f} ms, p95 {percentile(times, .95) * 1000:.2f} ms, "
          f"mean {statistics.mean(times) * 1000:.2f} ms")
    names = [phase for _m, _p, phase in PHASES]
    order = list(dict.fromkeys(names + ["the rest"]))
    statements = sum(phases.statements.values())
    print(f"{'phase':<36} {'mean ms':>8} {'p95 ms':>8} {'share':>6} {'SQL/req':>8} {'in SQL ms':>9}")
    total_mean = statistics.mean(r["total"] for r in phases.requests)
    for phase in order:
        values = [r.get(phase, 0.0) for r in phases.requests]
        mean = statistics.mean(values)
        print(f"{phase:<36} {mean * 1000:8.3f} {percentile(values, .95) * 1000:8.3f} {mean / total_mean:6.1%} "
              f"{phases.statements.get(phase, 0) / n:8.1f} {phases.sql_time.get(phase, 0.0) / n * 1000:9.3f}")
    sql = sum(phases.sql_time.values()) / n
    print(f"{'total':<36} {total_mean * 1000:8.3f} {percentile(times, .95) * 1000:8.3f} {1:6.0%} "
          f"{statements / n:8.1f} {sql * 1000:9.3f}")
    print("(own time per phase: time in a nested phase counts for the nested one; SQL/req and in SQL ms: "
          "statements sent while the phase was innermost, and their time in the driver and the server)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_in_fresh_schema("profile_iti67", args.dsn, lambda url, workdir: run(args, url, workdir))


if __name__ == "__main__":
    sys.exit(main())
