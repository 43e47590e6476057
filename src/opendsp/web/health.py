"""Liveness and readiness probes, for the orchestrator and the load balancer.

``/healthz/live`` says the process answers (no dependency is asked: a
database outage must not get every worker restarted). ``/healthz/ready`` asks
what a request needs: the database (one ``SELECT 1``), the content store (its
folder or bucket reachable and writable) and the master keys (a throw-away
key wrapped and unwrapped by the key provider, in the HSM when there is one).
A failed check answers 503 naming the check, never the error: an error text
may hold a host name, a path or a connection string. The error's kind goes to
the server's log for the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from opendsp.clock import SystemRandomness
from opendsp.platform import Platform

log = logging.getLogger("opendsp.health")
_PROBE_CONTEXT = b"opendsp readiness probe"


def _database(platform: Platform) -> None:
    assert platform.engine is not None
    with platform.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


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


def health_router(platform: Platform) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/healthz/ready")
    def ready() -> JSONResponse:  # a plain function: the checks block, so Starlette runs them in its thread pool
        checks = readiness(platform)
        ok = all(result == "ok" for result in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    return router
