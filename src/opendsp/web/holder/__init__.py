"""The holder's portal (myDSP): the pages of one's own record, or of a record one acts for.

Each module is one part of the portal; ``SECTIONS`` is its menu. Pages are
thin: they read and act through ``RecordAccess`` (see ``context.py``).
"""

from __future__ import annotations

from fastapi import FastAPI

from opendsp.locale import N_

# (path, label): the portal's menu, in the order of the myDSP screens.
SECTIONS: list[tuple[str, str]] = [
    ("/record", N_("Home")),
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


def install(app: FastAPI) -> None:
    from fastapi import Depends

    from opendsp.web.holder import assistants, consents, export, passwords, professionals, state, timeline, trace
    from opendsp.web.security import csrf_protect

    parts = (timeline, trace, professionals, consents, assistants, passwords, state, export)
    for part in parts:
        # Every form of every part needs the browser's CSRF token (docs/identity.md).
        app.include_router(part.router, dependencies=[Depends(csrf_protect)])
    _refusals_are_pages(app)
    # The menu offers only what this server serves.
    served = {getattr(route, "path", None) for part in parts for route in part.router.routes}
    app.state.holder_sections = [(path, label) for path, label in SECTIONS if path in served]


def _refusals_are_pages(app: FastAPI) -> None:
    """A refusal of the policy on a page of the record (an assistant whose delegation ended, ...) is a page too."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    from opendsp.access.services import RecordNotFound
    from opendsp.policy.decision import AccessDenied
    from opendsp.web.holder.common import refused_page
    from opendsp.web.templating import render, translate

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, AccessDenied)
        if not request.url.path.startswith("/record"):
            return JSONResponse({"detail": error.decision.reason.value}, status_code=403)
        return refused_page(request, error)

    async def no_record(request: Request, error: Exception) -> Response:
        return render(request, "message.html", 404, title_text=translate(request, N_("This record does not exist.")))

    app.add_exception_handler(AccessDenied, refused)
    app.add_exception_handler(RecordNotFound, no_record)
