"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from opendsp import __version__
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.web.health import health_router
from opendsp.web.perimeter import install_perimeter, limit_bodies
from opendsp.web.portals import install_portals


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    settings = settings or (platform.settings if platform else Settings())
    settings.check_production()
    platform = platform or Platform(settings=settings)
    platform.matrix  # noqa: B018 - load and validate the rights matrix now, not on the first request
    app = FastAPI(title="OpenDSP", version=__version__, docs_url=None, redoc_url=None)
    app.state.platform = platform
    limit_bodies(app)  # innermost: each route's body limit, while the body streams in
    install_portals(app, platform)  # login, activation, accounts, the agency's console
    _mount_fhir(app, platform)
    _publish_checkpoint_key(app)
    install_perimeter(app, settings)  # logs, headers, bad addresses, body limits: around everything

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__, "database": settings.database_kind}

    app.include_router(health_router(platform))  # /healthz/live and /healthz/ready

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        # The portal's front door: a logged-in person's home, else the login page in the visitor's language.
        from opendsp.web.auth_views import home_of

        return RedirectResponse(home_of(request) or "/login", status_code=303)

    return app


def worker_app() -> FastAPI:
    """The application of one of ``opendsp serve --workers N``'s processes: built there, from the environment."""
    return counted_as_web(create_app())


def counted_as_web(app: FastAPI) -> FastAPI:
    """The server process's metrics carry the role ``web``; its live gauges go when the application stops."""
    from contextlib import asynccontextmanager

    from opendsp.metrics import count_as, forget_this_process

    count_as("web", app.state.platform.engine)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        async with inner(served) as state:
            yield state
        forget_this_process()

    app.router.lifespan_context = lifespan
    return app


def _publish_checkpoint_key(app: FastAPI) -> None:
    """The trace checkpoints' public key, for holders checking their signed extract (no account needed)."""
    from opendsp.web.checkpoint_key import router

    app.include_router(router)


def _mount_fhir(app: FastAPI, platform: Platform) -> None:
    """The FHIR API at /fhir, its OAuth token endpoint at /auth/token, the SMART authorization page /auth/authorize."""
    from opendsp.clients.services import Tokens
    from opendsp.clients.views import authorize_router, token_router
    from starlette.routing import Mount, Route

    from opendsp.fhir.app import at_base, create_fhir_app

    tokens = Tokens(platform)
    app.include_router(token_router(platform, tokens))
    app.include_router(authorize_router(platform))
    fhir = create_fhir_app(platform, tokens)
    # First among the routes: the router tries its routes in order, and no portal page lives under /fhir, so an
    # API request (the busiest path) need not be matched against every portal route first (issue 15).
    # The base URL itself (``POST /fhir``: ITI-65, as the CapabilityStatement names it) is answered, not
    # redirected to /fhir/: many clients do not follow a 307 for a POST.
    app.router.routes[:0] = [Route("/fhir", endpoint=at_base(fhir), methods=["GET", "POST"]), Mount("/fhir", fhir)]
