"""The holder's portal (myDSP): the pages of one's own record, or of a record one acts for.

Each module is one part of the portal; ``SECTIONS`` is its menu. Pages are
thin: they read and act through ``RecordAccess`` (see ``context.py``).
"""

from __future__ import annotations

from types import ModuleType

from fastapi import APIRouter, FastAPI

from opendsp.locale import N_

# (path, label): the portal's menu, in the order of the myDSP screens.
SECTIONS: list[tuple[str, str]] = [
    ("/record", N_("Home")),
    ("/record/notifications", N_("Notifications")),
    ("/record/timeline", N_("Timeline")),
    ("/record/documents", N_("Documents")),
    ("/record/trace", N_("Traceability")),
    ("/record/upload", N_("Add a document")),
    ("/record/professionals", N_("Health professionals")),
    ("/record/consents", N_("Consents")),
    ("/record/assistants", N_("Assistants")),
    ("/record/hidden", N_("Hidden documents")),
    ("/record/passwords", N_("Passwords")),
    ("/record/state", N_("Close the record")),
    ("/record/export", N_("Download everything")),
]


def parts() -> list[ModuleType]:
    from opendsp.web.holder import documents, hidden, home, notifications, reading, timeline, upload

    return [home, notifications, timeline, documents, reading, upload, hidden]


def routers() -> list[APIRouter]:
    """Each part's pages, and its forms (which check the CSRF token) when it has any."""
    return [router for part in parts() for router in (part.router, getattr(part, "forms", None)) if router]


def install(app: FastAPI) -> None:
    for router in routers():
        app.include_router(router)
    # The menu offers only what this server serves.
    served = {getattr(route, "path", None) for part in parts() for route in part.router.routes}
    app.state.holder_sections = [(path, label) for path, label in SECTIONS if path in served]
