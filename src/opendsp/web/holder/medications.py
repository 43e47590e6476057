"""The holder's medication list: each medicine prescribed or dispensed, since when, with its source documents.

Read as one act through ``RecordAccess`` (``opendsp.web.medication_list``); a
parent acting for their child, or an assistant, sees the record they act on.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.medication_list import read_medication_list

router = APIRouter()


@router.get("/record/medications", response_class=HTMLResponse)
def medications(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        found = read_medication_list(view.access, view.record.id)
        return render_holder(request, view, "holder/medications.html", found=found,
                             document_base="/record/documents")
