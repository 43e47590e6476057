"""The professional's portal: my patients, finding a patient and opening access, the record, deposits.

Each module is one part of the portal. Pages are thin: they read and act
through ``RecordAccess`` as the professional acting for the organisation of
their session (see ``context.py``), the same actor the FHIR API uses for their
software; the policy decides, the trace records. See docs/professional-portal.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from opendsp.web.security import csrf_protect


def routers() -> list[APIRouter]:
    from opendsp.web.professional import deposit, medications, patients, record, summary

    return [part.router for part in (patients, record, summary, medications, deposit)]


def install(app: FastAPI) -> None:
    for router in routers():
        app.include_router(router, dependencies=[Depends(csrf_protect)])
