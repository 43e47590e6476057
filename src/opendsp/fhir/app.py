"""The /fhir application: one router per IHE transaction, over one request context (``fhir.context``).

Mounted by ``opendsp.web.app.create_app``. Its own exception handlers make
every error an OperationOutcome. Each route parses, calls ``RecordAccess``
through its context, maps and sends; none reads a clinical table.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from opendsp.clients.services import Tokens
from opendsp.fhir.context import FhirSettings
from opendsp.fhir.errors import install_handlers
from opendsp.fhir.routes import audit, consent, documents, encounter, metadata, patients, structured, submission
from opendsp.platform import Platform

# A Provide Document Bundle carries its documents in base64: this bounds what one request may hold.
MAX_REQUEST_BYTES = 64 * 1024 * 1024

ROUTERS = (
    metadata.router,  # CapabilityStatement, SMART configuration
    submission.router,  # ITI-65 Provide Document Bundle
    documents.router,  # ITI-67 Find Document References (read, withdraw), ITI-68 Binary, ITI-66 List
    patients.router,  # ITI-78 PDQm, and the presence code
    audit.router,  # ITI-81 / BALP AuditEvent
    consent.router,  # the holder's choices as Consents
    encounter.router,  # hospital stays
    structured.router,  # entries of structured documents
)


def create_fhir_app(platform: Platform, tokens: Tokens, *, max_request_bytes: int | None = None) -> FastAPI:
    app = FastAPI(title="OpenDSP FHIR", docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    app.state.fhir = FhirSettings(platform=platform, tokens=tokens,
                                  base=platform.settings.public_base_url.rstrip("/") + "/fhir",
                                  max_request_bytes=max_request_bytes or MAX_REQUEST_BYTES)
    for router in ROUTERS:
        app.include_router(router)
    return app


class at_base:  # noqa: N801 - an ASGI app (Starlette runs a plain function as a request handler instead)
    """The FHIR app as a route for its base URL (``/fhir``, no slash): the request goes on as ``/fhir/``, as if
    the mount had matched it, rather than being redirected."""

    def __init__(self, fhir: ASGIApp) -> None:
        self.fhir = fhir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "") + "/fhir"
        await self.fhir({**scope, "root_path": root, "path": root + "/", "raw_path": (root + "/").encode()},
                        receive, send)
