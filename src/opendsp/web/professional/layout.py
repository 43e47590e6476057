"""The professional's pages share one layout: who acts for which organisation, the patient, the portal's menu."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from opendsp.locale import N_
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Reason
from opendsp.web.portals import REFUSED
from opendsp.web.professional.context import Patient, ProfessionalView
from opendsp.web.templating import render, translate


def render_pro(request: Request, view: ProfessionalView, template: str, status_code: int = 200, *,
               patient: Patient | None = None, **context: Any) -> HTMLResponse:
    return render(request, template, status_code, professional=view.professional, organisation=view.organisation,
                  patient=patient, current=request.url.path, **context)


# What a refusal says, by the policy's reason: never whether anything exists behind it.
REFUSAL_TEXT: dict[Reason, str] = {
    Reason.no_access: N_("You have no access to this record."),
    Reason.blocked: N_("The holder has refused access to you."),
    Reason.record_closed: N_("This record is closed by its holder."),
    Reason.record_not_active: N_("This record has not been activated by its holder yet."),
    Reason.profession_without_rights: N_("Your profession has no rights on shared care records."),
    Reason.wrong_presence_code: N_("The presence code is not correct."),
    Reason.presence_code_locked: N_("Too many wrong presence codes: try again later."),
    Reason.not_emergency_department: N_("Emergency access is reserved to emergency departments."),
    Reason.emergency_refused_by_holder: N_("The holder does not allow emergency access."),
    Reason.emergency_reason_required: N_("Give the reason for the emergency access."),
    Reason.type_not_permitted: N_("Your profession may not deposit this type of document."),
    Reason.referring_doctor_only: N_("Only the holder's referring doctor deposits the patient summary."),
    Reason.not_author: N_("Only the author may replace or withdraw a document."),
    Reason.document_not_current: N_("Only the current version of a document can be replaced or withdrawn."),
    Reason.too_many_lookups: N_("Too many patient lookups: try again later."),
}
WAYS_TEXT = {
    "presence_code": N_("Ask the patient for their presence code and enter it below."),
    "trusted_circle": N_("Ask the patient to add you to their trusted circle."),
    "emergency_access": N_("In an emergency, open an emergency access and give its reason."),
}


def refusal_text(decision: Decision) -> str:
    return REFUSAL_TEXT.get(decision.reason, REFUSED)


def render_refusal(request: Request, view: ProfessionalView, patient: Patient, decision: Decision, *,
                   status_code: int = 403, reason_text: str = "") -> HTMLResponse:
    """The record-level refusal: why, and how access can be obtained (the forms for the ways that apply)."""
    ways = list(decision.how_to_obtain)
    if decision.reason is Reason.wrong_presence_code:
        ways = ["presence_code"]  # try again (wrong codes are counted towards a lockout)
    if decision.reason is Reason.emergency_reason_required:
        ways = ["presence_code", "emergency_access"]  # the error beside its form, the other way still offered
    # No record menu: each of its links would lead to this same refusal.
    return render_pro(request, view, "professional/refused.html", status_code, patient=patient, record_menu=False,
                      error=translate(request, refusal_text(decision)),
                      ways=[(way, WAYS_TEXT[way]) for way in ways if way in WAYS_TEXT],
                      presence="presence_code" in ways, emergency="emergency_access" in ways,
                      reason_text=reason_text)
