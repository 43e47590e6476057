"""The professional's pages share one layout: who acts for which organisation, the patient, the portal's menu."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from opendsp.locale import N_
from opendsp.policy.decision import Decision
from opendsp.policy.disclosure import Answer, answer_for
from opendsp.policy.vocabulary import Reason
from opendsp.web.portals import REFUSED, page_missing
from opendsp.web.professional.context import Patient, ProfessionalView
from opendsp.web.templating import render, translate


def render_pro(request: Request, view: ProfessionalView, template: str, status_code: int = 200, *,
               patient: Patient | None = None, **context: Any) -> HTMLResponse:
    return render(request, template, status_code, professional=view.professional, organisation=view.organisation,
                  patient=patient, current=request.url.path, **context)


# What a refusal says, by the policy's reason: never whether anything exists behind it.
REFUSAL_TEXT: dict[Reason, str] = {
    Reason.no_access: N_("You have no access to this record."),
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
                   status_code: int = 403, reason_text: str = "") -> Response:
    """The record-level refusal: why, and how access can be obtained (the forms for the ways that apply).

    A refusal that would tell what the holder did not say to this professional (a block, a closed record, one
    not activated yet) is the page of an unknown record, byte for byte (``policy.disclosure``; docs/access-policy.md
    rule 10), returned rather than raised so that the refusal's trace entry commits with the request.
    """
    if answer_for(decision) is Answer.unknown_patient:
        return page_missing(request, acting=(view.professional, view.organisation))
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
