"""Accompagnateurs: the assistants of the record (named by national number or invited by e-mail), their end
dates, and the person's own switch between their record and the records they act for.

Naming, inviting, changing an end date and removing are ``RecordAccess`` calls
(``assistants.manage``): the policy decides (an assistant cannot designate
further assistants) and the trace keeps each act. The switch itself is
``/account/act-for`` (``accounts.delegations.switch``), offered here as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.access.services import InvalidRequest
from opendsp.accounts import delegations, invitations
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.accounts.invitations import InvitationRefused
from opendsp.locale import N_
from opendsp.persons.services import find_by_national_number
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.web.auth_views import PlatformDep, client_of, see_other
from opendsp.web.stepup import RecentLogin
from opendsp.web.holder.common import BadInput, cannot, end_of_day, notice, parse_id, refusal
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.templating import translate

router = APIRouter()
PAGE = "/record/assistants"

DONE = {
    "added": N_("The assistant was added."),
    "invited": N_("The invitation was sent."),
    "withdrawn": N_("The invitation was withdrawn."),
    "until": N_("The end date was changed."),
    "removed": N_("The assistant was removed: they can no longer act on this record."),
}
NO_PERSON = N_("No person with this national number can be named.")
NOT_ASSISTANT = N_("This person is not an assistant of the record.")


def page(request: Request, platform: Platform, *, error: str | None = None, status: int = 200,
         values: dict[str, str] | None = None) -> HTMLResponse:
    with holder_view(request, platform) as view:
        access, record = view.access, view.record
        side = access.assistants(record.id)
        cannot_text = cannot(request, access.would(record.id, Action.manage_assistants))
        can_manage = cannot_text is None
        pending = invitations.pending(view.session, record.id, access.now) if can_manage else []
        return render_holder(
            request, view, "holder/assistants.html", status, side=side, can_manage=can_manage, pending=pending,
            mail=True, now=access.now,
            options=delegations.acting_options(view.session, view.person, platform=platform),
            person=view.person, acting_for=view.holder if view.acting_for_someone else None,
            cannot_text=cannot_text, notice=notice(request, DONE), error=error, values=values or {},
        )


@router.get(PAGE, response_class=HTMLResponse)
def assistants(request: Request, platform: PlatformDep) -> HTMLResponse:
    return page(request, platform)


def act(request: Request, platform: Platform, change: Callable[[HolderView], str],
        values: dict[str, str] | None = None) -> Response:
    try:
        with holder_view(request, platform) as view:
            done = change(view)
    except BadInput as bad:
        return page(request, platform, error=translate(request, bad.message), status=400, values=values)
    except InvitationRefused as refusal_:
        return page(request, platform, error=translate(request, refusal_.message), status=400, values=values)
    except AccessDenied as denied:
        return page(request, platform, error=refusal(request, denied), status=403, values=values)
    return see_other(f"{PAGE}?done={done}")


@router.post(PAGE, dependencies=[RecentLogin(PAGE)])
def name_assistant(request: Request, platform: PlatformDep, national_number: Annotated[str, Form()] = "",
                   until: Annotated[str, Form()] = "") -> Response:
    """An assistant named by national number; they then log in with their own account."""

    def change(view: HolderView) -> str:
        end = end_of_day(until, view.access.now)
        try:
            person = find_by_national_number(view.session, national_number_from_input(national_number))
        except InvalidNationalNumber:
            raise BadInput(NO_PERSON) from None
        if person is None or person.id == view.holder.id:
            raise BadInput(NO_PERSON)
        try:
            view.access.designate_assistant(view.record.id, person.id, until=end)
        except InvalidRequest:
            raise BadInput(NO_PERSON) from None
        return "added"

    return act(request, platform, change, values={"national_number": national_number, "until": until})


@router.post(f"{PAGE}/invite", dependencies=[RecentLogin(PAGE)])
def invite(request: Request, platform: PlatformDep, email: Annotated[str, Form()] = "",
           until: Annotated[str, Form()] = "") -> Response:
    """An assistant invited by e-mail (docs/identity.md): decided and traced, its e-mail queued in the outbox in the
    same transaction and sent by `opendsp worker` (to var/mail without an SMTP server), like every other e-mail."""
    language = getattr(request.state, "language", "fr")

    def change(view: HolderView) -> str:
        end = end_of_day(until, view.access.now)
        invitations.invite(
            session=view.session, platform=platform, actor=view.actor, record_id=view.record.id, email=email,
            until=end, language=language, request=client_of(request).request,
        )
        return "invited"

    return act(request, platform, change, values={"email": email, "invite_until": until})


@router.post(PAGE + "/invitations/{invitation_id}/withdraw")
def withdraw_invitation(request: Request, platform: PlatformDep, invitation_id: str) -> Response:
    def change(view: HolderView) -> str:
        invitation = parse_id(invitation_id, invitations.refuse("unknown").message)
        invitations.withdraw(session=view.session, platform=platform, actor=view.actor, invitation_id=invitation,
                             record_id=view.record.id, request=client_of(request).request)
        return "withdrawn"

    return act(request, platform, change)


def _assistant(view: HolderView, person_id: str) -> uuid.UUID:
    chosen = parse_id(person_id, NOT_ASSISTANT)
    if chosen not in {choice.person.id for choice in view.access.assistants(view.record.id).assistants}:
        raise BadInput(NOT_ASSISTANT)
    return chosen


@router.post(PAGE + "/{person_id}/until")
def change_until(request: Request, platform: PlatformDep, person_id: str,
                 until: Annotated[str, Form()] = "") -> Response:
    """A new end date (or none) for an assistant: the delegation is designated again with it."""

    def change(view: HolderView) -> str:
        end = end_of_day(until, view.access.now)
        view.access.designate_assistant(view.record.id, _assistant(view, person_id), until=end)
        return "until"

    return act(request, platform, change)


@router.post(PAGE + "/{person_id}/end")
def end_assistant(request: Request, platform: PlatformDep, person_id: str) -> Response:
    def change(view: HolderView) -> str:
        view.access.end_assistant(view.record.id, _assistant(view, person_id))
        return "removed"

    return act(request, platform, change)
