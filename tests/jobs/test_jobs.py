"""The jobs a deposit leaves (keyword indexing, the e-mails' fan-out), on SQLite and PostgreSQL: written with the
act, not done by the request, done by the worker, retried, never lost, never done twice at once, idempotent."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from opendsp.access.system import PlatformJobs
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.jobs.models import Job, JobKind, JobState
from opendsp.jobs.worker import JobClaim, JobTally, JobWorker
from opendsp.notifications.models import OutboxMessage
from opendsp.notifications.services import fan_out
from opendsp.platform import Platform
from opendsp.policy.vocabulary import Action
from opendsp.records.models import Record
from opendsp.search.models import SearchTerm
from opendsp.search.services import document_terms, search, write_document_terms
from opendsp.trace.models import TraceEntry
from tests.factories import (
    as_holder,
    as_professional,
    holder_draft,
    make_professional,
    professional_draft,
    run_jobs,
)
from tests.notifications.helpers import person_with_account
from tests.search.pdfs import pdf_with_text


@dataclass
class World:
    record_id: uuid.UUID
    holder_id: uuid.UUID
    doctor_id: uuid.UUID


@pytest.fixture
def world(platform: Platform) -> World:
    """A holder with an account and an address, and a doctor of their circle."""
    with platform.transaction() as session:
        holder = person_with_account(session, platform, email="berthe@example.lu", given_name="Berthe", record=True)
        record = session.scalars(select(Record).where(Record.person_id == holder.id)).one()
        doctor = make_professional(session, platform, family_name="Kieffer")
        as_holder(session, platform, record).add_to_circle(record.id, doctor.id)
        return World(record.id, holder.id, doctor.id)


def deposit(platform: Platform, world: World, title: str = "Bilan cardiaque", words: str = "souffle systolique"
            ) -> uuid.UUID:
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        doctor = session.get(Professional, world.doctor_id)
        assert doctor is not None
        document = as_professional(session, platform, doctor).deposit(
            world.record_id, professional_draft(title=title), [pdf_with_text(words)])
        return document.id


def found(platform: Platform, world: World, query: str) -> list[str]:
    """The titles the holder finds (through the gate's visibility rule, as every keyword search)."""
    with platform.transaction() as session:
        record = session.get(Record, world.record_id)
        assert record is not None
        return [d.title for d in search(as_holder(session, platform, record), world.record_id, query).items]


def count(platform: Platform, model: type) -> int:
    with platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def jobs(platform: Platform) -> list[Job]:
    with platform.sessions() as session:
        return list(session.scalars(select(Job).order_by(Job.kind)))


def test_the_request_leaves_the_index_and_the_e_mails_to_the_worker(platform: Platform, world: World) -> None:
    document_id = deposit(platform, world)
    # Committed with the document and its trace entry: two jobs, and nothing of their work yet.
    assert found(platform, world, "souffle") == [] and count(platform, SearchTerm) == 0
    assert count(platform, OutboxMessage) == 0
    queued = jobs(platform)
    assert [(j.kind, j.state, j.attempts) for j in queued] == [
        (JobKind.fan_out, JobState.pending, 0), (JobKind.index_document, JobState.pending, 0)]
    with platform.sessions() as session:
        entry = session.scalars(select(TraceEntry).where(TraceEntry.document_id == document_id,
                                                         TraceEntry.action == Action.deposit_document.value)).one()
    assert {j.trace_entry_id for j in queued} == {entry.id}
    assert {j.document_id for j in queued} == {document_id, None}
    assert queued[0].payload == {"people": [str(world.holder_id)]}  # who is told: decided with the act
    status = PlatformJobs(platform=platform).jobs()
    assert status.backlog == 2 and status.oldest_age == timedelta(0) and status.failed == []

    # One pass of the worker: found, and the holder's e-mail waits in the outbox.
    assert run_jobs(platform) == 2
    assert found(platform, world, "souffle") == ["Bilan cardiaque"]
    assert found(platform, world, "kieffer") == ["Bilan cardiaque"]
    with platform.sessions() as session:
        (message,) = session.scalars(select(OutboxMessage)).all()
        assert message.person_id == world.holder_id and message.kind == "document.new"
    assert jobs(platform) == [] and run_jobs(platform) == 0
    assert PlatformJobs(platform=platform).jobs().backlog == 0


def test_a_rolled_back_deposit_leaves_no_job(platform: Platform, world: World) -> None:
    with pytest.raises(RuntimeError), platform.transaction() as session:
        from opendsp.professionals.models import Professional

        doctor = session.get(Professional, world.doctor_id)
        assert doctor is not None
        as_professional(session, platform, doctor).deposit(world.record_id, professional_draft(title="Bilan"),
                                                           [pdf_with_text("souffle")])
        assert session.scalar(select(func.count()).select_from(Job)) == 2
        raise RuntimeError("the request failed after the deposit")
    assert jobs(platform) == [] and count(platform, Document) == 0


def test_doing_a_job_twice_gives_the_same_index_and_sends_nothing_twice(platform: Platform, world: World) -> None:
    document_id = deposit(platform, world)
    fan_out_job = next(j for j in jobs(platform) if j.kind is JobKind.fan_out)
    run_jobs(platform)

    def index() -> set[tuple[str, int]]:
        with platform.sessions() as session:
            return {(t.token, t.weight) for t in session.scalars(select(SearchTerm))}

    first = index()
    assert first
    terms = document_terms(platform, document_id, record_id=world.record_id)
    assert terms is not None
    with platform.transaction() as session:
        write_document_terms(session, platform, terms)
        assert fan_out(session, platform, notification_id=fan_out_job.notification_id,  # type: ignore[arg-type]
                       people=[world.holder_id]) == 0
    assert index() == first and count(platform, SearchTerm) == len(first)
    assert count(platform, OutboxMessage) == 1
    # And through the queue: the same document indexed again by a second job.
    from opendsp.jobs.services import enqueue

    with platform.transaction() as session:
        enqueue(session, platform, kind=JobKind.index_document, record_id=world.record_id, document_id=document_id)
    assert run_jobs(platform) == 1 and index() == first


def test_a_job_claimed_by_a_worker_that_dies_is_done_by_another_at_once(platform: Platform, world: World) -> None:
    deposit(platform, world)
    first, second = JobWorker(platform), JobWorker(platform)
    with first, second:
        claims = first.claim()
        assert len(claims) == 2 and second.claim() == []  # alive and within its lease: its own
        # It dies mid-job (its liveness lock goes with the process): the other hands its claims back at once.
        first.liveness.release()
        tally = JobTally()
        second.drain(tally)
        assert tally.done == 2 and not tally.errors
        assert found(platform, world, "systolique") == ["Bilan cardiaque"] and count(platform, OutboxMessage) == 1
        # Had it been alive after all, its late finish is refused: the job is not done twice.
        late = JobTally()
        first.do(claims[0], late)
        assert (late.claims_lost, late.done) == (1, 0)
    assert jobs(platform) == [] and count(platform, OutboxMessage) == 1


def test_a_stuck_worker_s_job_is_claimable_again_once_its_lease_has_passed(
    platform: Platform, world: World, clock: FrozenClock
) -> None:
    deposit(platform, world)
    stuck, other = JobWorker(platform), JobWorker(platform)
    with stuck, other:
        claims = stuck.claim()
        assert len(claims) == 2
        clock.advance(stuck.lease - timedelta(seconds=1))
        assert other.claim() == []
        clock.advance(timedelta(seconds=1))
        again = other.claim()
        assert sorted((c.id, c.attempt) for c in again) == sorted((c.id, 2) for c in claims)
        tally = JobTally()
        for claim in again:
            other.do(claim, tally)
        assert tally.done == 2
        late = JobTally()
        for claim in claims:
            stuck.do(claim, late)
        assert late.claims_lost == 2 and late.done == 0
    assert found(platform, world, "souffle") == ["Bilan cardiaque"] and count(platform, OutboxMessage) == 1


def test_a_failing_job_is_retried_with_backoff_then_given_up_visibly_and_retried_by_an_operator(
    platform: Platform, world: World, clock: FrozenClock
) -> None:
    document_id = deposit(platform, world)
    platform.settings.jobs_max_attempts = 3
    run_jobs_ = JobWorker(platform)
    with platform.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and platform.blob_store is not None
        blob = platform.blob_store.root / document.content_key  # type: ignore[attr-defined]
    kept = blob.read_bytes()
    blob.unlink()  # the content cannot be read: the index job fails until it is back
    first = run_jobs_.run(once=True)
    assert (first.done, first.retried) == (1, 1)  # the fan-out is done; the index waits 5 s
    (job,) = jobs(platform)
    assert (job.kind, job.state, job.attempts) == (JobKind.index_document, JobState.pending, 1)
    assert job.next_attempt_at == clock.now() + timedelta(seconds=5) and job.last_error
    assert run_jobs_.run(once=True).retried == 0  # not due yet
    clock.advance(timedelta(seconds=5))
    assert run_jobs_.run(once=True).retried == 1
    assert jobs(platform)[0].next_attempt_at == clock.now() + timedelta(seconds=10)  # doubled
    clock.advance(timedelta(seconds=10))
    assert run_jobs_.run(once=True).failed == 1
    (job,) = jobs(platform)
    assert (job.state, job.attempts) == (JobState.failed, 3)
    clock.advance(timedelta(hours=1))
    assert run_jobs_.run(once=True).done == 0  # given up: waits for an operator, visibly

    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    from opendsp.cli import main

    status = CliRunner().invoke(main, ["jobs", "status"], env=env, catch_exceptions=False)
    assert status.exit_code == 0, status.output
    assert "index_document: 0 pending, 0 running, 1 failed" in status.output
    assert f"failed {job.id} index_document after 3 attempt(s)" in status.output
    assert "backlog: 0; oldest waiting job: none waiting" in status.output
    assert found(platform, world, "souffle") == []
    blob.write_bytes(kept)
    retried = CliRunner().invoke(main, ["jobs", "retry", str(job.id)], env=env, catch_exceptions=False)
    assert "1 job(s) due again" in retried.output
    assert CliRunner().invoke(main, ["jobs", "retry", "not-an-id"], env=env).exit_code == 2
    clock.advance(datetime.now(UTC) - clock.now() + timedelta(seconds=1))  # the command ran on the real clock
    assert run_jobs(platform) == 1 and found(platform, world, "souffle") == ["Bilan cardiaque"]
    with platform.sessions() as session:
        assert session.scalars(select(TraceEntry).where(TraceEntry.action == "jobs.retry")).one().record_id is None


def test_the_status_says_how_old_the_oldest_waiting_job_is(platform: Platform, world: World, clock: FrozenClock
                                                           ) -> None:
    deposit(platform, world)
    clock.advance(timedelta(seconds=42))
    deposit(platform, world, title="Bilan 2")
    status = PlatformJobs(platform=platform).jobs()
    assert status.backlog == 4 and status.oldest_age == timedelta(seconds=42)
    assert status.counts["index_document"]["pending"] == 2 and status.counts["fan_out"]["pending"] == 2


def test_the_metrics_show_the_backlog_and_the_oldest_job(platform: Platform, world: World, clock: FrozenClock
                                                         ) -> None:
    from opendsp.metrics import DatabaseFigures

    def figures() -> dict[str, float]:
        return {sample.name + (("{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}")
                               if sample.labels else ""): sample.value
                for metric in DatabaseFigures(platform).collect() for sample in metric.samples}

    assert figures()["opendsp_jobs_backlog"] == 0 and figures()["opendsp_jobs_oldest_age_seconds"] == 0
    deposit(platform, world)
    clock.advance(timedelta(seconds=30))
    seen = figures()
    assert seen["opendsp_jobs_backlog"] == 2 and seen["opendsp_jobs_oldest_age_seconds"] == 30
    assert seen["opendsp_jobs{kind=index_document,state=pending}"] == 1
    run_jobs(platform)
    assert figures()["opendsp_jobs_backlog"] == 0 and figures()["opendsp_jobs_oldest_age_seconds"] == 0


class Watching(JobWorker):
    """A worker that keeps the ids of the jobs it claimed."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.claimed: list[uuid.UUID] = []

    def claim(self) -> list[JobClaim]:
        claims = super().claim()
        self.claimed += [c.id for c in claims]
        return claims


def test_on_postgresql_two_workers_never_do_one_job_at_once(platform: Platform, world: World) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: claims queue behind each other (BEGIN IMMEDIATE)")
    for n in range(12):
        deposit(platform, world, title=f"Bilan {n}", words=f"souffle numero{n}")
    platform.settings.jobs_batch_size = 3
    workers = [Watching(platform), Watching(platform)]
    tallies = [JobTally(), JobTally()]
    start = threading.Barrier(2)

    def work(worker: Watching, tally: JobTally) -> None:
        with worker:
            start.wait()
            worker.drain(tally)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(workers, tallies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    first, second = (set(w.claimed) for w in workers)
    assert not first & second and len(first | second) == 24  # each job claimed by one worker, once
    assert all(len(w.claimed) == len(set(w.claimed)) for w in workers)
    assert sum(t.done for t in tallies) == 24 and not any(t.claims_lost or t.errors for t in tallies)
    assert jobs(platform) == [] and count(platform, OutboxMessage) == 12
    assert len(found(platform, world, "souffle")) == 12


def test_on_postgresql_a_job_being_claimed_elsewhere_is_skipped_not_waited_for(platform: Platform,
                                                                               world: World) -> None:
    assert platform.engine is not None
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: claims queue behind each other (BEGIN IMMEDIATE)")
    deposit(platform, world)
    busy, free = jobs(platform)
    claimed: list[list[JobClaim]] = []
    worker = JobWorker(platform)
    with platform.engine.connect() as other, worker:
        other.execute(select(Job.id).where(Job.id == busy.id).with_for_update())  # another worker's open claim
        thread = threading.Thread(target=lambda: claimed.append(worker.claim()))
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the claim waited for the locked job instead of skipping it"
        other.rollback()
    assert [c.id for c in claimed[0]] == [free.id]


def test_a_worker_process_of_its_own_does_an_indexing_job(platform: Platform, clock: FrozenClock) -> None:
    """`opendsp worker` as its own process, which imports only what it needs: the job's row names a document, so
    every table must be known to the ORM there too (make run's worker once died on its first claim)."""
    import os
    import subprocess
    import sys

    clock.current = datetime.now(UTC) - timedelta(minutes=1)  # due for a worker on the system clock
    with platform.transaction() as session:
        holder = person_with_account(session, platform, email="anne@example.lu", record=True)
        record = session.scalars(select(Record).where(Record.person_id == holder.id)).one()
        as_holder(session, platform, record).deposit(record.id, holder_draft("Carnet"), [pdf_with_text("vaccination")])
    settings = platform.settings
    env = {**os.environ, "OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir),
           "OPENDSP_PUBLIC_BASE_URL": settings.public_base_url}
    done = subprocess.run([sys.executable, "-m", "opendsp.cli", "worker", "--once"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 job(s) done, 0 to retry, 0 given up" in done.stdout
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
