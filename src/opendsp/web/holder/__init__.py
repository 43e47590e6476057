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
    from opendsp.web.holder import documents, hidden, home, reading, timeline, upload

    parts = (home, timeline, documents, reading, upload, hidden)
    for part in parts:
        app.include_router(part.router)
        if hasattr(part, "forms"):
            app.include_router(part.forms)
    # The menu offers only what this server serves.
    served = {getattr(route, "path", None) for part in parts for route in part.router.routes}
    app.state.holder_sections = [(path, label) for path, label in SECTIONS if path in served]
