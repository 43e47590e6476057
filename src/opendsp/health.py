"""Readiness checks, and the small health server of the processes that serve no web pages.

Every process answers two probes. *Live*: the process answers (nothing else
is asked: a database outage must not get every process restarted). *Ready*:
what its work needs answers now: the database (one ``SELECT 1``), the content
store (its folder or bucket reachable and writable) and the master keys (a
throw-away key wrapped and unwrapped by the key provider, in the HSM when
there is one). A process that was asked to stop is no longer ready, so that
nothing new is sent to it while it finishes what it holds.

The web application answers them at ``/healthz/live`` and ``/healthz/ready``
(web/health.py); ``opendsp worker``, ``opendsp mllp`` and ``opendsp trace
checkpointer`` answer the same paths on a port of their own
(``--health-port``), with a standard-library HTTP server in a thread.

A failed check answers 503 naming the check, never the error: an error text
may hold a host name, a path or a connection string. The error's kind goes
to the log for the operator.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from opendsp.clock import SystemRandomness

if TYPE_CHECKING:
    from opendsp.platform import Platform

log = logging.getLogger("opendsp.health")
_PROBE_CONTEXT = b"opendsp readiness probe"


def _database(platform: Platform) -> None:
    # On the driver's connection: through SQLAlchemy, SQLite's BEGIN IMMEDIATE would wait for the write lock, and
    # a long writer (a deposit, an import batch) would make every process look down.
    assert platform.engine is not None
    raw = platform.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.close()
    finally:
        raw.close()


def _content_store(platform: Platform) -> None:
    assert platform.blob_store is not None
    platform.blob_store.check()


def _master_keys(platform: Platform) -> None:
    keys, randomness = platform.keys, SystemRandomness()  # not the platform's: a probe must not shift its sequence
    probe = randomness.bytes(32)
    key_id, wrapped = keys.wrap(probe, _PROBE_CONTEXT, randomness)
    if keys.unwrap(key_id, wrapped, _PROBE_CONTEXT) != probe:
        raise ValueError("the master key did not give back the key it wrapped")


CHECKS: dict[str, Callable[[Platform], None]] = {
    "database": _database,
    "content_store": _content_store,
    "master_keys": _master_keys,
}


def readiness(platform: Platform) -> dict[str, str]:
    """Each check's result, ``ok`` or ``failed``, in a fixed order."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check(platform)
        except Exception as error:  # any failure makes the process unready; which one is logged, not answered
            log.warning("readiness: the %s check failed (%s)", name, type(error).__name__)
            results[name] = "failed"
        else:
            results[name] = "ok"
    return results


class HealthServer:
    """``/healthz/live`` and ``/healthz/ready`` of one process, on a port of its own, in a daemon thread.

    ``stopping`` is the process's stop event: once it is set, ready answers 503
    with ``"status": "stopping"`` while the process finishes what it holds.
    ``serving``, for a process that listens on a port of its own (the MLLP
    listener), is set once it listens: until then ready answers 503 with
    ``"status": "starting"``, so that nothing is sent to a port not yet open.
    """

    def __init__(self, platform: Platform, role: str, host: str, port: int, stopping: threading.Event,
                 serving: threading.Event | None = None) -> None:
        self.platform = platform
        self.role = role
        self.stopping = stopping
        self.serving = serving
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                status, body = health.answer(self.path.split("?", 1)[0])
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - probes every few seconds
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"health-{role}", daemon=True)

    def answer(self, path: str) -> tuple[int, dict[str, object]]:
        if path == "/healthz/live":
            return 200, {"status": "ok", "process": self.role}
        if path != "/healthz/ready":
            return 404, {"status": "not found"}
        checks = readiness(self.platform)
        if self.stopping.is_set():
            return 503, {"status": "stopping", "process": self.role, "checks": checks}
        if self.serving is not None and not self.serving.is_set():
            return 503, {"status": "starting", "process": self.role, "checks": checks}
        ok = all(result == "ok" for result in checks.values())
        return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "process": self.role, "checks": checks}

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
