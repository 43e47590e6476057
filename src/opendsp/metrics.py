"""Prometheus metrics: what every process counts, and the server that hands them to Prometheus.

Each process (web workers, the notification worker, the MLLP listener, the
trace checkpointer) counts in its own memory, or, with
``PROMETHEUS_MULTIPROC_DIR`` set before it starts, in files of that folder
(prometheus_client's multi-process mode), which ``opendsp metrics`` adds up
and serves on a port of its own, never on the public application. The
figures read from the database (outbox and job backlogs, checkpoint age) are read by
that server when it is scraped, so they are the same whichever process asks.

Labels hold only values from closed sets: route templates (never a path with
its ids or national numbers), status codes, the policy's actions, effects and
reasons, acknowledgement codes, the process's role.

The database pool gauges are per process (``process`` is the role, and in
multi-process mode prometheus_client adds the ``pid``): each process has its
own pool, and what matters is which one runs out of connections.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from opendsp.platform import Platform

REQUEST_SECONDS = Histogram(
    "opendsp_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DECISIONS = Counter(
    "opendsp_policy_decisions", "Access decisions made by the gate, by action, effect and reason.",
    ["action", "effect", "reason"],
)
TRACE_APPENDS = Counter("opendsp_trace_appends", "Entries appended to the trace, by outcome.", ["outcome"])
MLLP_MESSAGES = Counter(
    "opendsp_mllp_messages", "HL7 v2 messages answered by the MLLP listener, by acknowledgement code.", ["code"],
)

# "liveall": one series per live process; a process that stops cleanly removes its own (count_as).
POOL_CHECKED_OUT = Gauge("opendsp_database_pool_checked_out", "Database connections this process has in use.",
                         ["process"], multiprocess_mode="liveall")
POOL_SIZE = Gauge("opendsp_database_pool_size", "Connections this process's pool keeps open at most, overflow apart.",
                  ["process"], multiprocess_mode="liveall")
POOL_OVERFLOW = Gauge("opendsp_database_pool_overflow",
                      "Connections opened beyond the pool's size (negative: fewer than its size are open yet).",
                      ["process"], multiprocess_mode="liveall")
ROLES = frozenset({"web", "worker", "mllp", "checkpointer", "metrics"})


def count_as(role: str, engine: Engine) -> None:
    """Name this process's role in its metrics and follow its database pool.

    In multi-process mode a process that exits normally removes its live gauges,
    so that a stopped web worker's pool is not summed with the running ones.
    """
    from sqlalchemy import event

    assert role in ROLES, role
    pool = engine.pool
    checked_out, size, overflow = POOL_CHECKED_OUT.labels(role), POOL_SIZE.labels(role), POOL_OVERFLOW.labels(role)

    def figures() -> None:
        # QueuePool has a size and an overflow; SQLite's in-memory pools have neither.
        size.set(pool.size() if hasattr(pool, "size") else 0)
        overflow.set(pool.overflow() if hasattr(pool, "overflow") else 0)

    def on_checkout(*_: object) -> None:
        checked_out.inc()
        figures()

    def on_checkin(*_: object) -> None:
        checked_out.dec()
        figures()

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    checked_out.set(pool.checkedout() if hasattr(pool, "checkedout") else 0)
    figures()
    pid = os.getpid()
    atexit.register(lambda: os.getpid() == pid and forget_this_process())


def forget_this_process() -> None:
    """Remove this process's live gauges (multi-process mode), as it stops.

    Called at exit, and by the web server when its application shuts down: uvicorn ends by raising the
    SIGTERM it caught again, and a process killed by a signal runs no exit handler.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(os.getpid())


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # A caller chooses the method: any other one is "other", so that no one can add label values at will.
    REQUEST_SECONDS.labels(method if method in _METHODS else "other", route, str(status)).observe(seconds)


def count_decision(action: str, permitted: bool, reason: str) -> None:
    DECISIONS.labels(action, "permit" if permitted else "deny", reason).inc()


def count_acknowledgement(ack: str) -> None:
    """Count an HL7 ACK by its MSA-1 code (AA, AE, AR, or CA/CE/CR)."""
    code = "unknown"
    for segment in ack.split("\r"):
        if segment.startswith("MSA|"):
            value = segment.split("|")[1] if segment.count("|") >= 1 else ""
            code = value if value in {"AA", "AE", "AR", "CA", "CE", "CR"} else "unknown"
            break
    MLLP_MESSAGES.labels(code).inc()


class DatabaseFigures:
    """Gauges read from the database at scrape time: the outbox's and the jobs' backlogs, the age of the last
    checkpoint."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Metric]:
        from opendsp.jobs.services import job_counts, oldest_waiting
        from opendsp.notifications.services import oldest_unsent, outbox_counts
        from opendsp.trace.checkpoints import last_checkpoint_made_at

        up = GaugeMetricFamily("opendsp_metrics_database_up", "1 when the database figures below could be read.")
        try:
            with self.platform.sessions() as session:
                by_state = outbox_counts(session)
                oldest = oldest_unsent(session)
                last_checkpoint = last_checkpoint_made_at(session)
                jobs, oldest_job = job_counts(session), oldest_waiting(session)
        except Exception:  # noqa: BLE001 - a scrape during an outage says so instead of failing whole
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = self.platform.clock.now()
        backlog = GaugeMetricFamily("opendsp_outbox_messages", "Messages in the outbox, by state.", labels=["state"])
        for state, count in by_state.items():
            backlog.add_metric([state], count)
        yield backlog
        yield _age("opendsp_outbox_oldest_message_age_seconds",
                   "Age of the oldest message waiting to be sent (0 when none waits).", oldest, now)
        queue = GaugeMetricFamily("opendsp_jobs", "Jobs acts left for the worker, by kind and state (done ones are gone).",
                                  labels=["kind", "state"])
        for kind, counts in jobs.items():
            for state, count in counts.items():
                queue.add_metric([kind, state], count)
        yield queue
        yield GaugeMetricFamily("opendsp_jobs_backlog", "Jobs waiting or being done (keyword indexing, fan-out).",
                                value=sum(c["pending"] + c["running"] for c in jobs.values()))
        yield _age("opendsp_jobs_oldest_age_seconds",
                   "Age of the oldest job waiting or being done (0 when none waits).", oldest_job, now)
        if last_checkpoint is not None:
            yield _age("opendsp_trace_checkpoint_age_seconds", "Time since the last trace checkpoint was made.",
                       last_checkpoint, now)


def _age(name: str, documentation: str, since: datetime | None, now: datetime) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=max((now - since).total_seconds(), 0) if since else 0)


class _EveryFolder(MultiProcessCollector):
    """The files of the folder and of its sub-folders, added up.

    In containers every process numbers itself from 1, so processes of two
    containers must not write to one folder: deploy/entrypoint.sh gives each
    container a sub-folder of a shared volume, and ``opendsp metrics`` (given
    the volume) adds them all up.
    """

    def collect(self) -> Iterator[Metric]:
        import glob

        files = glob.glob(os.path.join(self._path, "*.db")) + glob.glob(os.path.join(self._path, "*", "*.db"))
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return]


class _ThisProcess:
    """This process's own metrics, when no multi-process folder is configured (one process, or the tests)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_registry(platform: Platform) -> CollectorRegistry:
    registry = CollectorRegistry()
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        _EveryFolder(registry, path=folder)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    registry.register(DatabaseFigures(platform))  # type: ignore[arg-type]
    return registry


def serve_metrics(platform: Platform, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` on its own port, in a thread; ``server.shutdown()`` stops it."""
    return start_http_server(port, addr=host, registry=metrics_registry(platform))
