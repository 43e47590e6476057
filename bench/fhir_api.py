"""FHIR API benchmark: ITI-65 submissions per second and ITI-67 latency on a population of a million documents.

In one run, on a fresh PostgreSQL schema migrated with the project's own
migrations:

1. a synthetic population (``population.py``) is bulk-loaded with COPY, not
   through the API: persons, active records opened to each holder's referring
   doctor, and ``--documents`` document rows (metadata only: their content is
   never read by the searches measured here). Organisations and professionals
   go through the real registration services.
2. **ITI-65**: ``--submissions`` Provide Document Bundles (one laboratory
   report of ``--content-size`` bytes each, to records drawn at random) are
   posted to ``POST /fhir`` through the real HTTP interface (the ASGI
   application in process, with a SMART Backend Services token of a
   laboratory's software): bundle validation, policy decision, trace, content
   sealing, metadata. Submissions per second.
3. **ITI-67**: ``--searches`` ``GET /fhir/DocumentReference?patient=Patient/{id}&_count=20``
   by each record's referring doctor (through their practice's software),
   on records drawn at random: latency p50 and p95.
4. **the raw database** answers the equivalent question for the same
   patients in the same run (the record of the person, the count of its
   documents and the newest 20, three statements over one psycopg connection),
   and the ratios API / raw are printed.

Run on demand, never in the test suite::

    python bench/fhir_api.py                      # 1,000,000 documents (about 10 minutes on 2 cores)
    python bench/fhir_api.py --documents 20000    # a quick check

The database comes from ``--dsn``, else ``OPENDSP_BENCH_DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/test``; the schema ``bench_<random>`` and
the content folder are removed at the end, even after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import subprocess
import threading
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine, select, text

from opendsp.actors import SYSTEM
from opendsp.clients.services import make_client_assertion, register_client
from opendsp.documents.types import ContentKind, DocumentStatus
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.settings import Settings
from opendsp.web.app import create_app

# Run as a script, this folder is on sys.path.
from bulk_load import Population, _register_professionals, machine_facts, main_in_fresh_schema
from population import PopulationSpec, documents, persons, professionals

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LOADED_AT = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Config:
    dsn: str
    documents: int
    documents_per_person: int
    submissions: int
    searches: int
    content_size: int
    seed: int
    copy_batch: int
    connections: tuple[int, ...] = (8, 16, 32)
    seconds: float = 10.0
    server_workers: int = 2
    compare_src: str | None = None  # another source tree: its server driven in turn with this one's
    turns: int = 1


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description="ITI-65 submissions per second and ITI-67 latency over the FHIR "
                                     "API on a bulk-loaded population, against the raw database. Run on demand.")
    parser.add_argument("--dsn", default=os.environ.get("OPENDSP_BENCH_DATABASE_URL", DEFAULT_DSN))
    parser.add_argument("--documents", type=int, default=1_000_000, help="documents bulk-loaded (default %(default)s)")
    parser.add_argument("--documents-per-person", type=int, default=24, help="(default %(default)s)")
    parser.add_argument("--submissions", type=int, default=500, help="ITI-65 requests (default %(default)s)")
    parser.add_argument("--searches", type=int, default=1000, help="ITI-67 requests (default %(default)s)")
    parser.add_argument("--content-size", type=int, default=2048, help="bytes per submitted document")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--copy-batch", type=int, default=50_000, help="rows per COPY transaction")
    parser.add_argument("--connections", default="8,16,32",
                        help="concurrent connections of the throughput part, comma-separated ('' skips it)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level of connections")
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn worker processes of the server")
    parser.add_argument("--compare-src", metavar="DIR",
                        help="a second server from the opendsp of DIR/src (e.g. the base of a branch, exported with "
                             "git archive), on the same database, driven in turn with this one and the lean search")
    parser.add_argument("--turns", type=int, default=1,
                        help="throughput: turns of each level (each turn drives every server and the lean search "
                             "--seconds, one after the other)")
    args = parser.parse_args(argv)
    if not args.dsn.startswith(("postgresql://", "postgresql+psycopg://")):
        parser.error("the benchmark needs PostgreSQL: give a postgresql:// URL")
    if min(args.documents, args.documents_per_person, args.submissions, args.searches, args.copy_batch) < 1:
        parser.error("counts are positive")
    connections = tuple(int(n) for n in args.connections.split(",") if n.strip())
    if args.compare_src and not (Path(args.compare_src) / "src" / "opendsp").is_dir():
        parser.error(f"--compare-src: no opendsp package under {args.compare_src}/src")
    return Config(args.dsn, args.documents, args.documents_per_person, args.submissions, args.searches,
                  args.content_size, args.seed, args.copy_batch, connections, args.seconds, args.server_workers,
                  args.compare_src, max(1, args.turns))


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=False)


def stable_uuid(*parts: object) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest(), version=4)


# -- the population, bulk-loaded ---------------------------------------------------


@dataclass
class Loaded:
    person_ids: list[uuid.UUID]
    referring: list[int]  # per person: the index of their referring doctor
    population: Population


def _copy(engine: Engine, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]], total: int,
          label: str, batch: int, bar: Progress) -> None:
    task = bar.add_task(label, total=total)
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        pending = True
        while pending:
            count = 0
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
                    if count == batch:
                        break
                else:
                    pending = False
            connection.commit()
            bar.advance(task, count)
    finally:
        raw.close()


def load(platform: Platform, config: Config, bar: Progress) -> Loaded:
    engine = platform.engine
    assert engine is not None
    person_count = -(-config.documents // config.documents_per_person)
    spec = PopulationSpec(persons=person_count, documents_per_person=config.documents_per_person, seed=config.seed)
    population = Population()
    _register_professionals(platform, spec, population)
    referring: list[int] = []
    person_ids: list[uuid.UUID] = []

    def person_rows() -> Iterator[tuple[Any, ...]]:
        for row in persons(spec):
            person_id = stable_uuid(config.seed, "person", row.index)
            person_ids.append(person_id)
            referring.append(row.referring_doctor_index)
            # The person names their record (persons.record_id), as create_record writes it.
            yield (person_id, row.national_number, row.family_name, row.given_name, row.birth_date, row.sex.value,
                   row.street, row.postal_code, row.city, row.country, row.email, row.mobile, row.language.value,
                   LOADED_AT, stable_uuid(config.seed, "record", person_id))

    _copy(engine, "persons", ("id", "national_number", "family_name", "given_name", "birth_date", "sex", "street",
                              "postal_code", "city", "country", "email", "mobile", "preferred_language",
                              "created_at", "record_id"), person_rows(), person_count, "persons (COPY)",
          config.copy_batch, bar)
    record_of = {pid: stable_uuid(config.seed, "record", pid) for pid in person_ids}
    _copy(engine, "records", ("id", "person_id", "state", "created_at", "activated_at"),
          ((record_of[p], p, "active", LOADED_AT, LOADED_AT) for p in person_ids), person_count,
          "records (COPY)", config.copy_batch, bar)
    # Every record created by the platform has its trace chain started; so do these (appends lock the head row).
    _copy(engine, "trace_chain_heads", ("chain", "last_seq", "last_hash"),
          ((str(record_of[p]), 0, "0" * 64) for p in person_ids), person_count, "trace chains (COPY)",
          config.copy_batch, bar)
    _copy(engine, "access_settings", ("record_id", "emergency_allowed", "referring_doctor_id", "updated_at"),
          ((record_of[p], True, population.professional_ids[referring[i]], LOADED_AT)
           for i, p in enumerate(person_ids)), person_count, "referring doctors (COPY)", config.copy_batch, bar)

    digest = hashlib.sha256(b"metadata only").hexdigest()

    def document_rows() -> Iterator[tuple[Any, ...]]:
        for doc in documents(spec, limit=config.documents):
            person_id = person_ids[doc.person_index]
            doc_id = stable_uuid(config.seed, "document", doc.index)
            deposited = datetime(doc.care_date.year, doc.care_date.month, doc.care_date.day, 9, tzinfo=UTC) + \
                timedelta(hours=doc.index % 72, seconds=doc.index % 3600)
            professional = doc.author_professional_index
            organisation = doc.author_organisation_index
            yield (doc_id, record_of[person_id], doc.type.name, doc.title,
                   population.professional_ids[professional] if professional is not None else None,
                   population.organisation_ids[organisation] if organisation is not None else None,
                   doc.authored_by_holder, doc.care_date, deposited, doc.confidentiality.name,
                   DocumentStatus.current.name, 1, doc.media_type, 2048, digest, ContentKind.binary.name,
                   f"records/{record_of[person_id]}/{doc_id}")

    _copy(engine, "documents", ("id", "record_id", "type", "title", "author_professional_id",
                                "author_organisation_id", "authored_by_holder", "care_date", "deposited_at",
                                "confidentiality", "status", "version", "media_type", "size", "sha256",
                                "content_kind", "content_key"),
          document_rows(), config.documents, "documents (COPY)", config.copy_batch, bar)
    # Each document's directory row, as a deposit writes it.
    _copy(engine, "document_directory", ("document_id", "record_id"),
          ((stable_uuid(config.seed, "document", doc.index), record_of[person_ids[doc.person_index]])
           for doc in documents(spec, limit=config.documents)),
          config.documents, "document directory (COPY)", config.copy_batch, bar)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return Loaded(person_ids=person_ids, referring=referring, population=population)


# -- clients and tokens --------------------------------------------------------------


class Tokens:
    """One backend client per organisation used, tokens cached per professional (renewed before they expire)."""

    def __init__(self, platform: Platform, http: TestClient) -> None:
        self.platform, self.http = platform, http
        self.clients: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {}
        self.tokens: dict[uuid.UUID, tuple[str, float]] = {}
        self.token_url = platform.settings.public_base_url.rstrip("/") + "/auth/token"

    def _client(self, organisation_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
        if organisation_id not in self.clients:
            key = ECKey.generate_key("P-384", private=True, auto_kid=True)
            with self.platform.transaction() as session:
                organisation = session.get(Organisation, organisation_id)
                assert organisation is not None
                client = register_client(session=session, platform=self.platform, actor=SYSTEM,
                                         name=f"Bench software {organisation.identifier}",
                                         organisation_identifier=organisation.identifier,
                                         jwks={"keys": [{**key.as_dict(private=False), "alg": "ES384"}]})
                self.clients[organisation_id] = (client.client_id, key.as_dict(private=True))
        return self.clients[organisation_id]

    def token(self, professional_id: uuid.UUID, organisation_id: uuid.UUID, scope: str) -> str:
        cached = self.tokens.get(professional_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        client_id, key = self._client(organisation_id)
        with self.platform.sessions() as session:
            professional = session.get(Professional, professional_id)
            assert professional is not None
            licence = professional.licence_number
        assertion = make_client_assertion(private_jwk=key, client_id=client_id, token_url=self.token_url,
                                          licence_number=licence)
        response = self.http.post("/auth/token", data={"grant_type": "client_credentials", "scope": scope,
                                                       "client_assertion_type": ASSERTION_TYPE,
                                                       "client_assertion": assertion})
        if response.status_code != 200:
            raise RuntimeError(f"no token for the benchmark: {response.text}")
        token = response.json()["access_token"]
        self.tokens[professional_id] = (token, time.monotonic() + 240)
        return token


# -- ITI-65 --------------------------------------------------------------------------


def provide_bundle(person_id: uuid.UUID, content: bytes, n: int) -> bytes:
    doc_url, bin_url, list_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": list_url, "request": {"method": "POST", "url": "List"}, "resource": {
            "resourceType": "List", "status": "current", "mode": "working", "title": f"Envoi {n}",
            "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}],
            "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                 "code": "submissionset"}]},
            "subject": {"reference": f"Patient/{person_id}"}, "date": "2026-11-22T09:00:00Z",
            "entry": [{"item": {"reference": doc_url}}]}},
        {"fullUrl": doc_url, "request": {"method": "POST", "url": "DocumentReference"}, "resource": {
            "resourceType": "DocumentReference",
            "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
            "status": "current", "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
            "subject": {"reference": f"Patient/{person_id}"}, "description": f"Bilan sanguin {n}",
            "content": [{"attachment": {"contentType": "application/pdf", "url": bin_url, "size": len(content),
                                        "hash": base64.b64encode(hashlib.sha1(content).digest()).decode()}}],
            "context": {"period": {"start": "2026-11-20"}}}},
        {"fullUrl": bin_url, "request": {"method": "POST", "url": "Binary"}, "resource": {
            "resourceType": "Binary", "contentType": "application/pdf", "data": base64.b64encode(content).decode()}},
    ]}
    return json.dumps(bundle).encode()


def pdf_content(size: int, rng: random.Random) -> bytes:
    head, tail = b"%PDF-1.4\n%", b"\n%%EOF\n"
    return head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail


# -- the server's own time -----------------------------------------------------------------


class ServerTimed:
    """The application wrapped to time each HTTP request from its arrival to its last byte sent: the server's
    time, without the test client's."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []
        self.recording = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.recording:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.record(time.perf_counter() - began)

    def record(self, spent: float) -> None:
        self.times.append(spent)


def _profile_threadpool() -> Any:
    """A cProfile of what the application runs in its thread pool (dependencies and routes, where the
    requests' work is), one request at a time."""
    import cProfile

    import anyio.to_thread

    profile = cProfile.Profile()
    original = anyio.to_thread.run_sync

    async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        def profiled(*inner: Any) -> Any:
            profile.enable()
            try:
                return func(*inner)
            finally:
                profile.disable()

        return await original(profiled, *args, **kwargs)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    return profile


# -- the run ---------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(config: Config, url: str, workdir: Path) -> None:
    settings = Settings(var_dir=workdir / "var", database_url=url, content_store=f"file:{workdir / 'content'}")
    platform = Platform(settings=settings)
    engine = platform.engine
    assert engine is not None
    rng = random.Random(config.seed)
    try:
        print("OpenDSP FHIR API benchmark, " + datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        for line in machine_facts(engine, workdir):
            print(line)
        upgrade(engine)
        started = time.perf_counter()
        with progress_bar() as bar:
            loaded = load(platform, config, bar)
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM documents")).scalar_one()
        print(f"population: {len(loaded.person_ids):,} persons and records, {count:,} documents, "
              f"{len(loaded.population.professional_ids):,} professionals; loaded in "
              f"{time.perf_counter() - started:.0f} s (COPY; organisations and professionals through the services)")

        timed = ServerTimed(create_app(platform=platform))
        with TestClient(timed) as http:
            tokens = Tokens(platform, http)
            lab = _laboratory_biologist(platform, loaded)
            submitted: list[float] = []
            with progress_bar() as bar:
                task = bar.add_task("ITI-65 Provide Document Bundle", total=config.submissions)
                for n in range(config.submissions):
                    person_id = rng.choice(loaded.person_ids)
                    body = provide_bundle(person_id, pdf_content(config.content_size, rng), n)
                    token = tokens.token(*lab, "system/DocumentReference.c")
                    began = time.perf_counter()
                    response = http.post("/fhir/", content=body, headers={"Authorization": f"Bearer {token}",
                                                                          "Content-Type": "application/fhir+json"})
                    submitted.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        raise RuntimeError(f"ITI-65 answered {response.status_code}: {response.text[:500]}")
                    bar.advance(task)

            chosen = [rng.randrange(len(loaded.person_ids)) for _ in range(config.searches)]
            passes: list[tuple[list[float], list[float]]] = []
            totals = 0
            for label in ("first reading of each record", "the same records again"):
                searched: list[float] = []
                timed.times, timed.recording = [], True
                profile = None
                if os.environ.get("OPENDSP_BENCH_PROFILE") and passes:  # the warm pass, profiled: a file to read
                    profile = _profile_threadpool()
                with progress_bar() as bar:
                    task = bar.add_task(f"ITI-67, {label}", total=config.searches)
                    for index in chosen:
                        person_id = loaded.person_ids[index]
                        doctor = loaded.population.professional_ids[loaded.referring[index]]
                        token = tokens.token(doctor, _organisation_of(platform, doctor), "system/DocumentReference.rs")
                        began = time.perf_counter()
                        response = http.get(f"/fhir/DocumentReference?patient=Patient/{person_id}&_count=20",
                                            headers={"Authorization": f"Bearer {token}"})
                        searched.append(time.perf_counter() - began)
                        if response.status_code != 200:
                            raise RuntimeError(f"ITI-67 answered {response.status_code}: {response.text[:500]}")
                        totals += response.json()["total"]
                        bar.advance(task)
                timed.recording = False
                if profile is not None:
                    profile.dump_stats(os.environ["OPENDSP_BENCH_PROFILE"])
                server = list(timed.times)
                passes.append((searched, server))
            raw_times = raw_queries(engine, [loaded.person_ids[i] for i in chosen])
            levels = throughput(config, platform, loaded, tokens, url, workdir, rng) if config.connections else []

        rate = len(submitted) / sum(submitted)
        print()
        print(f"ITI-65: {len(submitted)} Provide Document Bundles (1 document of {config.content_size} bytes each) "
              f"in {sum(submitted):.1f} s: {rate:.1f} submissions/s; latency p50 {percentile(submitted, .5) * 1000:.1f} ms, "
              f"p95 {percentile(submitted, .95) * 1000:.1f} ms")
        raw50, raw95 = percentile(raw_times, .5) * 1000, percentile(raw_times, .95) * 1000
        for (searched, server), label in zip(passes, ("first reading of each record (its facts and grants loaded)",
                                                      "the same records again (facts and grants from the cache)")):
            api50, api95 = percentile(searched, .5) * 1000, percentile(searched, .95) * 1000
            s50, s95 = percentile(server, .5) * 1000, percentile(server, .95) * 1000
            print(f"ITI-67, {label}: {len(searched)} searches (_count=20, {totals / 2 / len(searched):.1f} documents "
                  f"per patient on average): server p50 {s50:.2f} ms, p95 {s95:.2f} ms; with the test client "
                  f"p50 {api50:.2f} ms, p95 {api95:.2f} ms; server p95 / raw p95 {s95 / raw95:.1f}x")
        print(f"raw database, the same patients: p50 {raw50:.2f} ms, p95 {raw95:.2f} ms "
              "(record by person, count, newest 20; one psycopg connection)")
        for level in levels:
            print(level)
        load_avg = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"load average at the end: {load_avg}")
    finally:
        engine.dispose()


_ORGANISATIONS: dict[uuid.UUID, uuid.UUID] = {}


def _organisation_of(platform: Platform, professional_id: uuid.UUID) -> uuid.UUID:
    if professional_id not in _ORGANISATIONS:
        with platform.sessions() as session:
            professional = session.get(Professional, professional_id)
            assert professional is not None
            _ORGANISATIONS[professional_id] = professional.organisations[0].id
    return _ORGANISATIONS[professional_id]


def _laboratory_biologist(platform: Platform, loaded: Loaded) -> tuple[uuid.UUID, uuid.UUID]:
    with platform.sessions() as session:
        biologist = session.scalars(select(Professional).where(Professional.profession == "laboratory_biologist")
                                    .where(Professional.id.in_(loaded.population.professional_ids))).first()
        if biologist is None:
            raise RuntimeError("the population has no laboratory biologist to submit laboratory reports")
        return biologist.id, biologist.organisations[0].id


def raw_queries(engine: Engine, person_ids: list[uuid.UUID]) -> list[float]:
    """The same question asked of PostgreSQL directly: no token, no policy, no trace, no FHIR."""
    timings = []
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            for person_id in person_ids:
                began = time.perf_counter()
                cursor.execute("SELECT record_id FROM persons WHERE id = %s", (person_id,))
                record_id = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM documents WHERE record_id = %s", (record_id,))
                cursor.fetchone()
                cursor.execute("SELECT * FROM documents WHERE record_id = %s ORDER BY deposited_at DESC, id LIMIT 20",
                               (record_id,))
                cursor.fetchall()
                connection.commit()
                timings.append(time.perf_counter() - began)
    finally:
        raw.close()
    return timings


# -- throughput: the server in worker processes against a lean traced search ---------------------------------


@dataclass(frozen=True)
class Job:
    person_id: uuid.UUID
    record_id: uuid.UUID
    token: str
    professional_id: uuid.UUID
    organisation_id: uuid.UUID


def throughput(config: Config, platform: Platform, loaded: Loaded, tokens: Tokens, url: str, workdir: Path,
               rng: random.Random) -> list[str]:
    """Traced ITI-67 searches per second at each level of concurrent connections, against the server run as
    ``--server-workers`` uvicorn processes; beside it, in the same run, a lean traced search: the same statements
    over plain psycopg, one transaction and one commit each, from as many connections."""
    jobs = []
    with platform.sessions() as session:
        for index in [rng.randrange(len(loaded.person_ids)) for _ in range(200)]:
            person_id = loaded.person_ids[index]
            doctor = loaded.population.professional_ids[loaded.referring[index]]
            organisation = _organisation_of(platform, doctor)
            record_id = session.scalar(text("SELECT record_id FROM persons WHERE id = :p"), {"p": person_id})
            jobs.append(Job(person_id, record_id, tokens.token(doctor, organisation, "system/DocumentReference.rs"),
                            doctor, organisation))
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "OPENDSP_DATABASE_URL": url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir),
           "OPENDSP_CONTENT_STORE": platform.settings.content_store}
    servers = {"this": _start_server(config, port, env)}
    if config.compare_src:  # the same database and content, the other tree's code first on the path
        other = str(Path(config.compare_src).resolve() / "src")
        servers["compared"] = _start_server(config, port + 1, {**env, "PYTHONPATH": os.pathsep.join(
            [other, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])})
    lines = [f"throughput, {config.seconds:g} s per level and turn ({config.turns} turn(s)); server: uvicorn, "
             f"{config.server_workers} worker processes; lean: plain psycopg, the same 10 statements and one commit "
             "per search" + (f"; compared: the server of {config.compare_src}" if config.compare_src else "")]
    try:
        for server, server_port in servers.values():
            _wait_for(server_port, server)
        lean_dsn = url.replace("postgresql+psycopg://", "postgresql://")
        for connections in config.connections:
            before = os.getloadavg()[0]
            rates: dict[str, list[float]] = defaultdict(list)
            for _turn in range(config.turns):
                for name, (_server, server_port) in servers.items():
                    rates[name].append(_drive(connections, config.seconds,
                                              lambda server_port=server_port: _ApiSearcher(server_port), jobs))
                rates["lean"].append(_drive(connections, config.seconds, lambda: _LeanSearcher(lean_dsn), jobs))
            api, lean = statistics.median(rates["this"]), statistics.median(rates["lean"])
            line = (f"  {connections:>3} connections: traced ITI-67 {api:7.1f}/s, lean traced search "
                    f"{lean:7.1f}/s, ITI-67 / lean {api / lean:5.1%}")
            if "compared" in rates:
                compared = statistics.median(rates["compared"])
                turns = ", ".join(f"{a / c:.2f}" for a, c in zip(rates["this"], rates["compared"]))
                line += (f"; compared {compared:7.1f}/s ({compared / lean:5.1%} of lean); this / compared "
                         f"{api / compared:.2f} (turns: {turns})")
            if config.turns > 1:
                line += " [medians of the turns]"
            lines.append(line + f"  (load average {before:.1f} -> {os.getloadavg()[0]:.1f})")
            print(lines[-1])
    finally:
        for server, _port in servers.values():
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    return lines


def _start_server(config: Config, port: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "opendsp.web.app:create_app", "--factory",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", str(config.server_workers),
                               "--log-level", "warning", "--no-access-log"], env=env)
    return server, port


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped at start (exit {server.returncode})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not start within a minute")


def _drive(connections: int, seconds: float, make: Any, jobs: list[Job]) -> float:
    """``connections`` threads, each with its own connection, searching for ``seconds`` after a second of warm-up;
    searches completed per second."""
    done = [0] * connections
    errors: list[str] = []
    start = threading.Event()
    stop = threading.Event()

    def work(slot: int) -> None:
        searcher = make()
        picker = random.Random(slot)
        try:
            start.wait()
            while not stop.is_set():
                searcher.search(picker.choice(jobs))
                if measuring.is_set():
                    done[slot] += 1
        except Exception as error:  # noqa: BLE001 - reported after the run
            errors.append(repr(error))
            stop.set()
        finally:
            searcher.close()

    measuring = threading.Event()
    threads = [threading.Thread(target=work, args=(slot,), daemon=True) for slot in range(connections)]
    for thread in threads:
        thread.start()
    start.set()
    time.sleep(1.0)
    measuring.set()
    began = time.perf_counter()
    time.sleep(seconds)
    measuring.clear()
    elapsed = time.perf_counter() - began
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise RuntimeError(f"throughput run failed: {errors[0]}")
    return sum(done) / elapsed


class _ApiSearcher:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def search(self, job: Job) -> None:
        self.connection.request("GET", f"/fhir/DocumentReference?patient=Patient/{job.person_id}&_count=20",
                                headers={"Authorization": f"Bearer {job.token}"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"ITI-67 answered {response.status}: {body[:300]!r}")

    def close(self) -> None:
        self.connection.close()


class _LeanSearcher:
    """The search's statements without the application: the credential epoch, the person, the record, the page
    with its count and its authors joined, what the senders gave, the relations, the trace entry appended to the
    record's chain (head locked, entry, head moved), one commit."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.connection = psycopg.connect(dsn)

    def search(self, job: Job) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT epoch FROM credential_epochs WHERE id = 1")
            cursor.fetchone()
            cursor.execute("SELECT * FROM persons WHERE id = %s", (job.person_id,))
            cursor.fetchone()
            cursor.execute("SELECT * FROM records WHERE id = %s", (job.record_id,))
            cursor.fetchone()
            cursor.execute(
                "SELECT d.*, p.*, o.*, count(*) OVER () FROM documents d "
                "LEFT JOIN professionals p ON p.id = d.author_professional_id "
                "LEFT JOIN organisations o ON o.id = d.author_organisation_id "
                "WHERE d.record_id = %s AND d.status = 'current' AND d.confidentiality = 'normal' "
                "ORDER BY d.deposited_at DESC, d.id LIMIT 20", (job.record_id,))
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT document_id, master_identifier, content_sha1 FROM fhir_submitted_documents "
                           "WHERE document_id = ANY(%s)", (ids,))
            cursor.fetchall()
            cursor.execute("SELECT * FROM fhir_document_context WHERE document_id = ANY(%s)", (ids,))
            cursor.fetchall()
            cursor.execute("SELECT * FROM fhir_document_relations WHERE document_id = ANY(%s)", (ids,))
            cursor.fetchall()
            chain = str(job.record_id)
            cursor.execute("SELECT last_seq, last_hash FROM trace_chain_heads WHERE chain = %s FOR UPDATE", (chain,))
            head = cursor.fetchone()
            if head is None:
                cursor.execute("INSERT INTO trace_chain_heads (chain, last_seq, last_hash) VALUES (%s, 0, %s)",
                               (chain, "0" * 64))
                head = (0, "0" * 64)
            context = json.dumps({"documents": [str(i) for i in ids], "organisation": str(job.organisation_id)})
            entry = hashlib.sha256(f"{head[1]}|{chain}|{head[0] + 1}|{context}".encode()).hexdigest()
            cursor.execute(
                "INSERT INTO trace_entries (chain, seq, recorded_at, actor_kind, actor_id, actor_display, action, "
                "record_id, outcome, reason, basis, context, client_software, request_id, prev_hash, hash) "
                "VALUES (%s, %s, now(), 'professional', %s, 'bench', 'document.consult', %s, 'permitted', "
                "'permitted', 'circle', %s, 'bench', %s, %s, %s)",
                (chain, head[0] + 1, str(job.professional_id), job.record_id, context, uuid.uuid4().hex, head[1],
                 entry))
            cursor.execute("UPDATE trace_chain_heads SET last_seq = %s, last_hash = %s WHERE chain = %s",
                           (head[0] + 1, entry, chain))
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    return main_in_fresh_schema("fhir_api", config.dsn, lambda url, workdir: run(config, url, workdir))


if __name__ == "__main__":
    sys.exit(main())
