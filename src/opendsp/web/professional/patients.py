"""My patients, finding a patient by national number, and opening access (presence code, emergency).

The list of patients and a search are identity only; both are authorised and
traced as a patient search before anything is shown. Opening access is an act
of ``RecordAccess``: the policy decides (lockout after wrong codes, emergency
departments only, a mandatory reason) and the trace records it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from opendsp.access.patients import patients_of
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Reason
from opendsp.records.services import record_of
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.professional.context import professional_view
from opendsp.web.professional.layout import refusal_text, render_pro, render_refusal
from opendsp.web.templating import translate

router = APIRouter()

RELATION_LABELS = {
    "emergency": N_("Emergency access"),
    "referring_doctor": N_("Referring doctor"),
    "circle": N_("Trusted circle"),
    "presence_code": N_("Presence code"),
    "stay": N_("Hospital stay"),
}


@router.get("/pro", response_class=HTMLResponse)
def my_patients(request: Request, platform: PlatformDep) -> HTMLResponse:
    with professional_view(request, platform) as view:
        # Decided by the policy (its SQL form), and traced as a patient search before anything is shown.
        relations = patients_of(view.access)
        return render_pro(request, view, "professional/patients.html", relations=relations,
                          labels=RELATION_LABELS,
                          choose_organisation=view.organisation is None and len(view.professional.organisations) > 1)


@router.get("/pro/find", response_class=HTMLResponse)
def find_form(request: Request, platform: PlatformDep) -> HTMLResponse:
    """The empty form: the national number travels in a POST body, never in an address (logs, history)."""
    with professional_view(request, platform) as view:
        return render_pro(request, view, "professional/find.html", searched=False, national_number="")


@router.post("/pro/find", response_class=HTMLResponse)
def find_patient(request: Request, platform: PlatformDep,
                 national_number: Annotated[str, Form()] = "") -> HTMLResponse:
    with professional_view(request, platform) as view:
        if not national_number.strip():
            return render_pro(request, view, "professional/find.html", searched=False, national_number="")
        try:
            number = national_number_from_input(national_number)
        except InvalidNationalNumber:
            return render_pro(request, view, "professional/find.html", 400, searched=False,
                              national_number=national_number,
                              error=translate(request, "This is not a valid national number."))
        # The same per-person lookup as PDQm: each person found has it in their own record's trace, a record
        # closed, not activated or blocking the professional answers as nobody, and it counts in the hour's
        # limit. The number itself is not kept in the trace (the record it names is where the entry is).
        try:
            found, _ = view.access.find_patients(
                select(Person).where(Person.national_number == number), criteria={"national_number": []},
                limit=1, offset=0)
        except AccessDenied as denied:
            status = 429 if denied.decision.reason is Reason.too_many_lookups else 403
            return render_pro(request, view, "professional/find.html", status, searched=False,
                              national_number=number, error=translate(request, refusal_text(denied.decision)))
        record = record_of(view.session, found[0].id) if found else None
        return render_pro(request, view, "professional/find.html", searched=True, national_number=number,
                          person=found[0] if found else None, record=record)


@router.post("/pro/patients/{record_id}/presence-code")
def open_with_presence_code(request: Request, platform: PlatformDep, record_id: uuid.UUID,
                            code: Annotated[str, Form()] = "") -> Response:
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            view.access.open_with_presence_code(record_id, code.strip().upper())
        except AccessDenied as denied:
            # The refusal is traced and commits with this transaction (wrong codes count towards the lockout).
            return render_refusal(request, view, patient, denied.decision,
                                  status_code=429 if denied.decision.reason.value == "presence_code_locked" else 403)
    return see_other(f"/pro/patients/{record_id}")


@router.post("/pro/patients/{record_id}/emergency")
def open_emergency_access(request: Request, platform: PlatformDep, record_id: uuid.UUID,
                          reason: Annotated[str, Form()] = "") -> Response:
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            view.access.open_emergency_access(record_id, reason.strip()[:500])
        except AccessDenied as denied:
            return render_refusal(request, view, patient, denied.decision, status_code=403 if reason.strip() else 400)
    return see_other(f"/pro/patients/{record_id}")
