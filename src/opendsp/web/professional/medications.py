"""The professional's medication list of a patient: what is prescribed, what was dispensed, since when.

One act through ``RecordAccess`` (``opendsp.web.medication_list``): the
professional sees the prescriptions and dispensations they may consult (their
profession's rights, the holder's hidden and restricted documents); without
access to the record the answer is the same as for an unknown record.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opendsp.policy.decision import AccessDenied
from opendsp.web.auth_views import PlatformDep
from opendsp.web.medication_list import read_medication_list
from opendsp.web.professional.context import professional_view
from opendsp.web.professional.layout import render_pro, render_refusal

router = APIRouter()


@router.get("/pro/patients/{record_id}/medications", response_class=HTMLResponse)
def medications(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> HTMLResponse:
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            found = read_medication_list(view.access, record_id)
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision)
        patient = view.patient(record_id, found.permit)
        return render_pro(request, view, "professional/medications.html", patient=patient, found=found,
                          document_base=f"/pro/patients/{record_id}/documents")
