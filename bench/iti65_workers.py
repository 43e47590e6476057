"""ITI-65 against a real server of several worker processes, beside its own ``/healthz``, and its memory.

In one run, on a fresh PostgreSQL schema migrated with the project's own migrations:

1. a small population is bulk-loaded (``fhir_api.load``: persons, active records, ``--documents`` rows);
2. ``uvicorn opendsp.web.app:create_app --factory --workers N`` is started as deployed, in processes of its
   own, on the same database and a content folder;
3. **the largest documents**: one Bundle carrying a 47 MB document, then one carrying the largest document
   a Bundle under the request limit can hold, each posted alone; the workers' peak resident memory
   (``VmHWM``) before and after, and the RSS sampled every 20 ms meanwhile;
4. **ITI-65 under load**: ``--submissions`` Provide Document Bundles (one ``--content-size`` laboratory
   report each, to records drawn at random, by a laboratory's software with a SMART token), sent over
   ``--connections`` keep-alive connections by a small asyncio client (raw HTTP/1.1: the client must not be
   the bottleneck on a 2-core machine); submissions per second, latency, every worker's RSS sampled;
5. **the limit in the same run**: ``GET /healthz`` of the same server, same client and connections.

With ``--profile``, the same submissions are also run in this process (the ASGI app through TestClient,
one at a time) under cProfile, and the functions where the time goes are printed.

Run on demand, never in the test suite::

    python bench/iti65_workers.py                       # 2 workers, 2,000 submissions of 2 KB
    python bench/iti65_workers.py --content-size 51200 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from opendsp.fhir.app import MAX_REQUEST_BYTES
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.trace.models import GENESIS_HASH

# Run as a script, this folder is on sys.path.
from bulk_load import machine_facts, main_in_fresh_schema
from fhir_api import Config, Tokens, _laboratory_biologist, load, pdf_content, percentile, progress_bar, provide_bundle

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 300.0
MB = 1000 * 1000


@dataclass(frozen=True)
class Options:
    dsn: str
    workers: int
    documents: int
    submissions: int
    connections: int
    content_size: int
    profile: bool
    seed: int


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="ITI-65 submissions/s on a multi-process server against its "
                                     "/healthz, and the server's memory under load and with the largest documents.")
    parser.add_argument("--dsn", default=os.environ.get("OPENDSP_BENCH_DATABASE_URL", DEFAULT_DSN))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--documents", type=int, default=24_000, help="documents bulk-loaded (default %(default)s)")
    parser.add_argument("--submissions", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--content-size", type=int, default=2048, help="bytes per submitted document")
    parser.add_argument("--profile", action="store_true", help="also profile submissions in process")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.dsn.startswith(("postgresql://", "postgresql+psycopg://")):
        parser.error("the benchmark needs PostgreSQL: give a postgresql:// URL")
    return Options(args.dsn, args.workers, args.documents, args.submissions, args.connections, args.content_size,
                   args.profile, args.seed)


# -- the server, and its memory ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_field(pid: int, field: str) -> int:
    """A memory figure of /proc/PID/status, in bytes (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    # uvicorn's supervisor also starts a multiprocessing resource tracker: workers are the ones serving Python
    # with the app loaded; the tracker stays tiny, so it is left out by size.
    return [pid for pid in pids if status_field(pid, "VmRSS") > 60 * MB] or pids


class Sampler:
    """The RSS of some processes every ``every`` seconds, in a thread: the highest seen for each."""

    def __init__(self, pids: list[int], every: float = 0.02) -> None:
        self.pids, self.every = pids, every
        self.highest = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.highest[pid] = max(self.highest[pid], status_field(pid, "VmRSS"))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def start_server(options: Options, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir),
           "OPENDSP_CONTENT_STORE": settings.content_store, "OPENDSP_PUBLIC_BASE_URL": settings.public_base_url}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "opendsp.web.app:create_app", "--factory",
                                "--host", "127.0.0.1", "--port", str(port), "--workers", str(options.workers),
                                "--log-level", "warning", "--no-access-log"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{settings.public_base_url}/healthz").status_code == 200 and \
                    len(workers_of(process.pid)) >= options.workers:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the server stopped while starting")
        time.sleep(0.2)  # waiting for the server to listen
    raise RuntimeError("the server did not start")


# -- a lean HTTP/1.1 client ------------------------------------------------------------


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _drive(port: int, requests: list[bytes], connections: int) -> tuple[float, list[float], list[str]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    failures: list[str] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        try:
            while queue:
                request = queue.pop()
                began = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    failures.append(f"{status}: {body[:300]!r}")
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - began, latencies, failures


def drive(port: int, requests: list[bytes], connections: int) -> tuple[float, list[float], list[str]]:
    return asyncio.run(_drive(port, requests, connections))


# -- the run -------------------------------------------------------------------------------


def run(options: Options, url: str, workdir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(var_dir=workdir / "var", database_url=url, content_store=f"file:{workdir / 'content'}",
                        public_base_url=base)
    platform = Platform(settings=settings)
    engine = platform.engine
    assert engine is not None
    rng = random.Random(options.seed)
    print("OpenDSP ITI-65 on several worker processes, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    for line in machine_facts(engine, workdir):
        print(line)
    upgrade(engine)
    config = Config(options.dsn, options.documents, 24, options.submissions, 1, options.content_size, options.seed,
                    50_000)
    with progress_bar() as bar:
        loaded = load(platform, config, bar)
    with engine.begin() as connection:
        # A record made by the services starts its trace chain (records.services); COPY-loaded ones must too, or
        # two first deposits racing on one record both try to create its chain head (one then fails).
        connection.execute(text("INSERT INTO trace_chain_heads (chain, last_seq, last_hash) "
                                "SELECT CAST(id AS VARCHAR), 0, :genesis FROM records"), {"genesis": GENESIS_HASH})
    print(f"population: {len(loaded.person_ids):,} persons and records, {options.documents:,} documents (COPY)")
    server = start_server(options, settings, port)
    try:
        workers = workers_of(server.pid)
        print(f"server: uvicorn --workers {options.workers} (processes {', '.join(map(str, workers))})")
        with httpx.Client(base_url=base, timeout=600) as http:
            tokens = Tokens(platform, http)  # type: ignore[arg-type]
            lab = _laboratory_biologist(platform, loaded)
            token = tokens.token(*lab, "system/DocumentReference.c")
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
            warm = [request_bytes("POST", "/fhir/", headers, provide_bundle(rng.choice(loaded.person_ids),
                                                                            pdf_content(options.content_size, rng), n))
                    for n in range(20 * options.workers)]
            _, _, failures = drive(port, warm, options.workers)
            if failures:
                raise RuntimeError(f"ITI-65 answered {failures[0]}")
            idle = {pid: status_field(pid, "VmRSS") for pid in workers}
            print("workers after warm-up: RSS " + ", ".join(f"{v / MB:.0f} MB" for v in idle.values()))

            largest = (MAX_REQUEST_BYTES - 8192) // 4 * 3
            for label, size in (("47 MB", 47 * MB), (f"largest allowed ({largest / MB:.1f} MB)", largest)):
                body = provide_bundle(rng.choice(loaded.person_ids), pdf_content(size, rng), 0)
                before = {pid: status_field(pid, "VmHWM") for pid in workers}
                with Sampler(workers) as sampler:
                    began = time.perf_counter()
                    response = http.post("/fhir/", content=body, headers=headers)
                    took = time.perf_counter() - began
                if response.status_code != 200:
                    raise RuntimeError(f"the {label} deposit answered {response.status_code}: {response.text[:300]}")
                after = {pid: status_field(pid, "VmHWM") for pid in workers}
                served = max(workers, key=lambda pid: sampler.highest[pid] - idle[pid])
                print(f"deposit of a {label} document ({len(body) / MB:.1f} MB body) in {took:.1f} s: RSS of the "
                      f"worker that took it {idle[served] / MB:.0f} MB idle, {sampler.highest[served] / MB:.0f} MB "
                      f"at most (sampled every 20 ms), {status_field(served, 'VmRSS') / MB:.0f} MB after; its peak "
                      f"(VmHWM) {before[served] / MB:.0f} -> {after[served] / MB:.0f} MB")

            submissions = [request_bytes("POST", "/fhir/", headers, provide_bundle(
                rng.choice(loaded.person_ids), pdf_content(options.content_size, rng), n))
                for n in range(options.submissions)]
            with Sampler(workers, every=0.1) as sampler:
                elapsed, latencies, failures = drive(port, submissions, options.connections)
            if failures:
                raise RuntimeError(f"{len(failures)} ITI-65 failed, the first: {failures[0]}")
            rate = len(latencies) / elapsed
            health = [request_bytes("GET", "/healthz", {})] * max(2000, options.submissions)
            health_elapsed, health_latencies, failures = drive(port, health, options.connections)
            if failures:
                raise RuntimeError(f"/healthz failed: {failures[0]}")
            health_rate = len(health_latencies) / health_elapsed
        load_avg = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print()
        print(f"ITI-65, {options.workers} workers, {options.connections} connections: {len(latencies)} Bundles "
              f"(1 document of {options.content_size} bytes) in {elapsed:.1f} s: {rate:.0f} submissions/s "
              f"(target {TARGET:.0f}: {rate / TARGET:.0%}); latency p50 {percentile(latencies, .5) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, .95) * 1000:.0f} ms")
        print(f"/healthz of the same server, same client: {health_rate:.0f} requests/s; ITI-65 / healthz "
              f"{rate / health_rate:.1%}")
        print("RSS under the ITI-65 load, per worker (highest sampled every 100 ms): " +
              ", ".join(f"{v / MB:.0f} MB" for v in sampler.highest.values()))
        print(f"load average at the end: {load_avg}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    if options.profile:
        profile(platform, loaded, options, rng)
    engine.dispose()


class StackSampler:
    """Where the time goes in every thread (the app runs in TestClient's event-loop thread and a thread pool,
    which cProfile does not see): every few milliseconds, each function on a busy thread's stack is counted
    once; a function's share is the share of samples it was on the stack for (its inclusive time)."""

    def __init__(self, every: float = 0.002) -> None:
        self.every = every
        self.samples = 0
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._skip = {threading.get_ident()}

    def _run(self) -> None:
        self._skip.add(threading.get_ident())
        while not self._stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident in self._skip:
                    continue
                seen: set[str] = set()
                busy = False
                current: object = frame
                while current is not None:
                    code = current.f_code  # type: ignore[attr-defined]
                    where = f"{code.co_filename.split('site-packages/')[-1].split('/src/')[-1]}:{code.co_name}"
                    busy = busy or "opendsp" in code.co_filename
                    seen.add(where)
                    current = current.f_back  # type: ignore[attr-defined]
                if busy:
                    self.samples += 1
                    for where in seen:
                        self.counts[where] = self.counts.get(where, 0) + 1
            self._stop.wait(self.every)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int = 25) -> str:
        """The ``top`` functions, then every other function of opendsp on the stack in 2 % of the samples."""
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])
        shown = ranked[:top] + [(where, count) for where, count in ranked[top:]
                                if where.startswith("opendsp/") and count >= 0.02 * self.samples]
        return "\n".join(f"{count / self.samples:6.1%}  {where}" for where, count in shown)


def profile(platform: Platform, loaded: object, options: Options, rng: random.Random) -> None:
    """The same submissions in this process, one at a time, sampled: where the time goes."""
    from fastapi.testclient import TestClient

    from opendsp.web.app import create_app

    count = min(300, options.submissions)
    with TestClient(create_app(platform=platform)) as http:
        tokens = Tokens(platform, http)
        lab = _laboratory_biologist(platform, loaded)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {tokens.token(*lab, 'system/DocumentReference.c')}",
                   "Content-Type": "application/fhir+json"}
        bodies = [provide_bundle(rng.choice(loaded.person_ids), pdf_content(options.content_size, rng), n)  # type: ignore[attr-defined]
                  for n in range(count)]
        for body in bodies[:10]:
            http.post("/fhir/", content=body, headers=headers)
        began = time.perf_counter()
        with StackSampler() as sampler:
            for body in bodies[10:]:
                http.post("/fhir/", content=body, headers=headers)
        took = time.perf_counter() - began
    print(f"\nprofile: {count - 10} submissions in process, one at a time: {(count - 10) / took:.0f}/s "
          f"({took / (count - 10) * 1000:.1f} ms each); share of the busy samples each function was on the stack:")
    print(sampler.report())


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    return main_in_fresh_schema("iti65_workers", options.dsn, lambda url, workdir: run(options, url, workdir))


if __name__ == "__main__":
    sys.exit(main())
