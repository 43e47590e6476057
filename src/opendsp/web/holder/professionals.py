"""Professionnels de santé: the trusted circle, the referring doctor, emergency access, blocked professionals,
and access through hospital stays.

Professionals are found in the directory (``RecordAccess.search_directory``,
traced). Every change is one call to ``RecordAccess``, which asks the policy
and traces it; the page only shows what the holder chose
(``RecordAccess.access_choices``) and offers the forms the policy would permit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.services import InvalidRequest
from opendsp.locale import N_
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.common import BadInput, cannot, end_of_day, notice, parse_id, refusal
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.templating import translate

router = APIRouter()
PAGE = "/record/professionals"

DONE = {
    "added": N_("The professional was added to your trusted circle."),
    "removed": N_("The professional was removed from your trusted circle."),
    "referring": N_("The referring doctor was designated."),
    "no-referring": N_("You no longer have a referring doctor."),
    "emergency-allowed": N_("Emergency access is allowed."),
    "emergency-refused": N_("Emergency access is refused."),
    "blocked": N_("The professional is blocked: they can no longer open your record."),
    "unblocked": N_("The professional is no longer blocked."),
    "institutions-allowed": N_("Hospitals may open your record during a stay."),
    "institutions-refused": N_("No hospital may open your record during a stay."),
    "institution-refused": N_("This hospital may no longer open your record during a stay."),
    "institution-allowed": N_("This hospital may open your record again during a stay."),
    "access-ended": N_("The access was ended: this professional can no longer open your record with the code."),
}
CHOOSE = N_("Choose a professional from the search results.")
SEARCH_SHORT = N_("Type at least two characters of a name or a licence number.")
SEARCH_LONG = N_("Type at most 100 characters.")
COMMENT_LONG = N_("The comment has at most 300 characters.")
CANNOT_REFER = N_("This professional cannot be a referring doctor: only general practitioners, internists and "
                  "paediatricians write the patient summary.")
NO_RUNNING_ACCESS = N_("This access is not open (any more).")
CONFIRM_END = N_("Tick the box to confirm that this access ends now.")
UNKNOWN = N_("This professional or organisation is not in the directory.")


def page(request: Request, platform: Platform, *, error: str | None = None, status: int = 200,
         values: dict[str, str] | None = None, search: str = "") -> HTMLResponse:
    search = search.strip()
    with holder_view(request, platform) as view:
        access, record = view.access, view.record
        choices = access.access_choices(record.id)
        results: list[Any] = []
        search_error = None
        if search:
            try:
                results = access.search_directory(record.id, search)
            except InvalidRequest:
                search_error = translate(request, SEARCH_SHORT if len(search) < 2 else SEARCH_LONG)
                status = 400
        cannot_text = cannot(request, access.would(record.id, Action.manage_access))
        in_circle = {choice.professional.id for choice in choices.circle}
        blocked = {choice.professional.id for choice in choices.blocked}
        return render_holder(
            request, view, "holder/professionals.html", status, choices=choices, search=search, results=results,
            search_error=search_error, in_circle=in_circle, blocked=blocked,
            eligible=access.referring_doctor_eligible,
            can_manage=cannot_text is None, cannot_text=cannot_text,
            can_search=access.may(record.id, Action.search_directory),
            notice=notice(request, DONE), error=error, values=values or {},
            organisations=lambda professional: ", ".join(o.name for o in professional.organisations),
            professions=PROFESSIONS, specialties=SPECIALTIES, now=access.now,
        )


@router.get(PAGE, response_class=HTMLResponse)
def professionals(request: Request, platform: PlatformDep) -> HTMLResponse:
    return page(request, platform)


@router.post(PAGE, response_class=HTMLResponse)
def search_directory(request: Request, platform: PlatformDep, q: Annotated[str, Form()] = "") -> HTMLResponse:
    """A name or a licence number travels in a POST body, never in an address (history, logs, proxies)."""
    return page(request, platform, search=q)


def act(request: Request, platform: Platform, change: Callable[[HolderView], str], *, back: str = PAGE,
        values: dict[str, str] | None = None) -> Response:
    """One change through ``RecordAccess``; a redirect with its message, or the page again with the problem."""
    try:
        with holder_view(request, platform) as view:
            done = change(view)
    except BadInput as bad:
        return page(request, platform, error=translate(request, bad.message), status=400, values=values)
    except InvalidRequest:
        return page(request, platform, error=translate(request, UNKNOWN), status=400, values=values)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403)
    return see_other(f"{back}?done={done}")


def _professional_id(value: str) -> uuid.UUID:
    return parse_id(value, CHOOSE)


@router.post(f"{PAGE}/circle")
def add_to_circle(request: Request, platform: PlatformDep, professional: Annotated[str, Form()] = "",
                  comment: Annotated[str, Form()] = "", until: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        text = " ".join(comment.split()) or None
        if text and len(text) > 300:
            raise BadInput(COMMENT_LONG)
        end = end_of_day(until, view.access.now)
        view.access.add_to_circle(view.record.id, _professional_id(professional), until=end, comment=text)
        return "added"

    return act(request, platform, change, values={"professional": professional, "comment": comment, "until": until})


@router.post(PAGE + "/circle/{professional_id}/remove")
def remove_from_circle(request: Request, platform: PlatformDep, professional_id: str) -> Response:
    def change(view: HolderView) -> str:
        view.access.remove_from_circle(view.record.id, _professional_id(professional_id))
        return "removed"

    return act(request, platform, change)


@router.post(f"{PAGE}/referring-doctor")
def referring_doctor(request: Request, platform: PlatformDep, professional: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        chosen = _professional_id(professional) if professional else None
        try:
            view.access.set_referring_doctor(view.record.id, chosen)
        except InvalidRequest:
            raise BadInput(CANNOT_REFER) from None
        return "referring" if chosen else "no-referring"

    return act(request, platform, change)


@router.post(f"{PAGE}/emergency")
def emergency(request: Request, platform: PlatformDep, allowed: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        if allowed not in ("yes", "no"):
            raise BadInput(N_("Choose whether emergency access is allowed."))
        view.access.set_emergency_allowed(view.record.id, allowed == "yes")
        return "emergency-allowed" if allowed == "yes" else "emergency-refused"

    return act(request, platform, change)


@router.post(f"{PAGE}/blocked")
def block(request: Request, platform: PlatformDep, professional: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        view.access.block(view.record.id, _professional_id(professional))
        return "blocked"

    return act(request, platform, change)


@router.post(PAGE + "/blocked/{professional_id}/remove")
def unblock(request: Request, platform: PlatformDep, professional_id: str) -> Response:
    def change(view: HolderView) -> str:
        view.access.unblock(view.record.id, _professional_id(professional_id))
        return "unblocked"

    return act(request, platform, change)


@router.post(f"{PAGE}/institutions")
def institutions(request: Request, platform: PlatformDep, allowed: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        if allowed not in ("yes", "no"):
            raise BadInput(N_("Choose whether hospitals may open your record during a stay."))
        view.access.set_institutional_access(view.record.id, allowed == "yes")
        return "institutions-allowed" if allowed == "yes" else "institutions-refused"

    return act(request, platform, change)


@router.post(f"{PAGE}/institutions/refused")
def refuse_institution(request: Request, platform: PlatformDep, organisation: Annotated[str, Form()] = "") -> Response:
    def change(view: HolderView) -> str:
        chosen = parse_id(organisation, N_("Choose a hospital from the list."))
        view.access.refuse_institution(view.record.id, chosen)
        return "institution-refused"

    return act(request, platform, change)


@router.post(PAGE + "/institutions/refused/{organisation_id}/remove")
def allow_institution(request: Request, platform: PlatformDep, organisation_id: str) -> Response:
    def change(view: HolderView) -> str:
        chosen = parse_id(organisation_id, N_("Choose a hospital from the list."))
        view.access.refuse_institution(view.record.id, chosen, refused=False)
        return "institution-allowed"

    return act(request, platform, change)


@router.post(PAGE + "/accesses/{grant_id}/end")
def end_presence_access(request: Request, platform: PlatformDep, grant_id: str,
                        confirm: Annotated[str, Form()] = "") -> Response:
    """End now an access opened with the presence code (confirmed by a ticked box). An id that is not a running
    access of this record, malformed or another record's, gets the one same answer."""
    def change(view: HolderView) -> str:
        chosen = parse_id(grant_id, NO_RUNNING_ACCESS)
        if confirm != "yes":
            raise BadInput(CONFIRM_END)
        try:
            view.access.end_presence_access(view.record.id, chosen)
        except InvalidRequest:
            raise BadInput(NO_RUNNING_ACCESS) from None
        return "access-ended"

    return act(request, platform, change)
