"""The holder's portal (myDSP): the pages of one's own record, or of a record one acts for.

Each module is one part of the portal; ``SECTIONS`` is its menu. Pages are
thin: they read and act through ``RecordAccess`` (see ``context.py``).
"""

from __future__ import annotations

from types import ModuleType

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from opendsp.access.services import RecordNotFound
from opendsp.locale import N_
from opendsp.web.security import csrf_protect
from opendsp.web.templating import render, translate

# (path, label): the portal's menu, in the order of the myDSP screens.
SECTIONS: list[tuple[str, str]] = [
    ("/record", N_("Home")),
    ("/record/notifications", N_("Notifications")),
    ("/record/timeline", N_("Timeline")),
    ("/record/documents", N_("Documents")),
    ("/record/vaccinations", N_("Vaccination record")),
    ("/record/medications", N_("Medication list")),
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
    from opendsp.web.holder import (
        assistants,
        consents,
        declare_vaccination,
        documents,
        export,
        hidden,
        home,
        medications,
        notifications,
        passwords,
        professionals,
        readers,
        reading,
        state,
        timeline,
        trace,
        upload,
        vaccinations,
    )

    return [home, notifications, timeline, documents, readers, reading, vaccinations, declare_vaccination,
            medications, trace, upload,
            professionals, consents, assistants, hidden, passwords, state, export]


def routers() -> list[APIRouter]:
    """Each part's pages, and its forms when it has them apart."""
    return [router for part in parts() for router in (part.router, getattr(part, "forms", None)) if router]


def install(app: FastAPI) -> None:
    for part in parts():
        for router in (part.router, getattr(part, "forms", None)):
            if router is None:
                continue
            # Every form needs the browser's CSRF token (docs/identity.md); a part that streams its form
            # (an upload) checks the token itself, after the login and before it reads the file.
            checked_here = getattr(part, "CHECKS_ITS_OWN_CSRF_TOKEN", False) and router is part.router
            app.include_router(router, dependencies=[] if checked_here else [Depends(csrf_protect)])
    app.add_exception_handler(RecordNotFound, _no_record)
    # The menu offers only what this server serves.
    served = {getattr(route, "path", None) for part in parts() for route in part.router.routes}
    app.state.holder_sections = [(path, label) for path, label in SECTIONS if path in served]


async def _no_record(request: Request, error: Exception) -> Response:
    return render(request, "message.html", 404, title_text=translate(request, N_("This record does not exist.")))
