"""Liveness and readiness probes of the web application, for the orchestrator and the load balancer.

``/healthz/live`` says the process answers; ``/healthz/ready`` runs the
checks of opendsp/health.py (database, content store, master keys), which the
other processes answer on their own health port.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opendsp.health import readiness
from opendsp.platform import Platform


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
