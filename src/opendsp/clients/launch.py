"""SMART App Launch, standalone: the authorization request, who approves it, the single-use code.

The portal's authorization endpoint (``clients/views.py``) calls these in
order: ``check_request`` (client, exact redirect URI, state, aud, PKCE S256,
scopes), ``approver`` (the professional or person logged in on the portal, and
for whom they act), then ``grant`` or ``refuse`` once they have answered on the
confirmation page. ``grant`` keeps only the code's SHA-256 and traces the
approval in the same transaction; the token endpoint exchanges the code
(``Tokens.claim_code``, ``Tokens.exchange_code``). Errors follow RFC 6749
§4.1.2.1: a bad client or redirect URI is shown to the person, anything else
is sent back to the app.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.accounts.models import AccountKind
from opendsp.actors import Actor
from opendsp.clients.models import AuthorizationCode, Client, ClientUsers
from opendsp.clients.services import (
    _CHALLENGE,
    TOKEN_LIFETIME,
    AppScopes,
    TokenRefused,
    code_digest,
    parse_app_scopes,
)
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.services import write_trace
from opendsp.trace.vocabulary import Outcome, RequestContext

# RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes is RECOMMENDED"; an app redeems at once.
CODE_LIFETIME = timedelta(seconds=60)
PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "aud", "code_challenge",
              "code_challenge_method")


class AuthorizationError(Exception):
    """Refused. ``redirect``: tell the app (error, state at its redirect URI); else tell the person (``message``)."""

    def __init__(self, error: str, description: str, *, redirect: bool, message: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect = redirect
        self.message = message  # for people, translated where it is shown


@dataclass(frozen=True)
class AppRequest:
    """An authorization request that passed every check, with what the confirmation page names."""

    client_id: str
    client_name: str
    users: ClientUsers
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    redirect_uri: str
    state: str
    aud: str
    code_challenge: str
    granted: AppScopes

    def parameters(self) -> dict[str, str]:
        """The request as the confirmation form sends it back (checked again then)."""
        return {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                "scope": self.granted.text, "state": self.state, "aud": self.aud,
                "code_challenge": self.code_challenge, "code_challenge_method": "S256"}


def redirect_to(uri: str, **parameters: str | None) -> str:
    query = urlencode({k: v for k, v in parameters.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def check_request(session: Session, params: Mapping[str, str], fhir_base: str) -> AppRequest:
    client_id = params.get("client_id") or ""
    client = session.scalars(select(Client).where(Client.client_id == client_id)).first() if client_id else None
    if client is None or client.disabled_at is not None or not client.is_app:
        raise AuthorizationError("invalid_request", "unknown client, or not a SMART app", redirect=False,
                                 message=N_("This application is not known to the shared care record."))
    redirect_uri = params.get("redirect_uri") or ""
    if redirect_uri not in client.redirect_uris:
        raise AuthorizationError("invalid_request", "redirect_uri is not one registered for this client",
                                 redirect=False,
                                 message=N_("The application gave an address to return to that is not registered "
                                            "for it: nothing was shared."))
    if params.get("response_type") != "code":
        raise AuthorizationError("unsupported_response_type", "response_type must be code", redirect=True)
    state = params.get("state") or ""
    if not state or len(state) > 500:
        raise AuthorizationError("invalid_request", "state is required (at most 500 characters)", redirect=True)
    if "launch" in params:
        raise AuthorizationError("invalid_request", "EHR launch is not offered: use the standalone launch (no launch "
                                 "parameter)", redirect=True)
    aud = params.get("aud") or ""
    if aud.rstrip("/") != fhir_base:
        raise AuthorizationError("invalid_request", f"aud must be this server's FHIR base URL, {fhir_base}",
                                 redirect=True)
    if params.get("code_challenge_method") != "S256":
        raise AuthorizationError("invalid_request", "PKCE is required with code_challenge_method S256 (plain is "
                                 "refused)", redirect=True)
    challenge = params.get("code_challenge") or ""
    if not _CHALLENGE.match(challenge):
        raise AuthorizationError("invalid_request", "code_challenge must be the base64url SHA-256 of the "
                                 "code_verifier (43 characters)", redirect=True)
    try:
        granted = parse_app_scopes(params.get("scope") or "", client.users)
    except TokenRefused as refused:
        raise AuthorizationError("invalid_scope", refused.description, redirect=True) from None
    organisation = session.get(Organisation, client.organisation_id) if client.organisation_id else None
    return AppRequest(
        client_id=client.client_id, client_name=client.name, users=client.users,
        organisation_id=organisation.id if organisation else None,
        organisation_name=organisation.name if organisation else None,
        redirect_uri=redirect_uri, state=state, aud=aud, code_challenge=challenge, granted=granted,
    )


@dataclass(frozen=True)
class Approver:
    """Who approves on the portal: a professional acting for the app's organisation, or a person on a record."""

    account_id: uuid.UUID
    actor: Actor
    professional_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    # For the confirmation page: whose record a person's app opens.
    patient_name: str | None = None
    own_record: bool = True


def approver(session: Session, request: AppRequest, *, account_id: uuid.UUID, kind: AccountKind,
             professional_id: uuid.UUID | None, person_id: uuid.UUID | None,
             acting_for: uuid.UUID | None) -> Approver:
    """The logged-in account as the approver of this app, or a refusal to show (never sent to the app)."""
    if request.users is ClientUsers.professionals:
        professional = session.get(Professional, professional_id) if kind is AccountKind.professional else None
        if professional is None:
            raise AuthorizationError("access_denied", "not a professional", redirect=False,
                                     message=N_("This application is for health professionals: log in with your "
                                                "licence number."))
        organisation = session.get(Organisation, request.organisation_id)
        if organisation is None or organisation not in professional.organisations:
            raise AuthorizationError("access_denied", "not a professional of the client's organisation",
                                     redirect=False,
                                     message=N_("This application is registered for another organisation: only its "
                                                "professionals can use it."))
        return Approver(account_id=account_id, actor=actors.professional(professional, organisation=organisation),
                        professional_id=professional.id, organisation_id=organisation.id)
    person = session.get(Person, person_id) if kind is AccountKind.person else None
    if person is None:
        raise AuthorizationError("access_denied", "not a person", redirect=False,
                                 message=N_("This application is for patients and their assistants: log in with "
                                            "your national number."))
    from opendsp.accounts.delegations import actor_for

    holder = session.get(Person, acting_for) if acting_for else person
    assert holder is not None
    return Approver(account_id=account_id, actor=actor_for(session, person, acting_for), person_id=person.id,
                    patient_id=holder.id, patient_name=holder.display_name, own_record=holder.id == person.id)


def grant(*, session: Session, platform: Platform, request: AppRequest, approver: Approver, fhir_base: str,
          request_id: str | None = None) -> str:
    """Approved: a new single-use code, its approval traced; returns where the browser goes back to the app."""
    code = platform.randomness.bytes(32).hex()
    now = platform.clock.now()
    row = AuthorizationCode(
        code_hash=code_digest(code), client_id=request.client_id, redirect_uri=request.redirect_uri,
        code_challenge=request.code_challenge, scope=request.granted.text, account_id=approver.account_id,
        professional_id=approver.professional_id, organisation_id=approver.organisation_id,
        person_id=approver.person_id, patient_id=approver.patient_id, created_at=now, expires_at=now + CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    _trace(session, platform, request, approver, Outcome.permitted, request_id, code=str(row.id))
    return redirect_to(request.redirect_uri, code=code, state=request.state, iss=fhir_base)


def refuse(*, session: Session, platform: Platform, request: AppRequest, approver: Approver,
           request_id: str | None = None) -> str:
    """The person said no: traced, and the app is told access_denied."""
    _trace(session, platform, request, approver, Outcome.refused, request_id, reason="refused_by_user")
    return redirect_to(request.redirect_uri, error="access_denied",
                       error_description="the user refused to let this app use their access", state=request.state)


def _trace(session: Session, platform: Platform, request: AppRequest, approver: Approver, outcome: Outcome,
           request_id: str | None, *, reason: str | None = None, code: str | None = None) -> None:
    context = {"client_id": request.client_id, "scope": request.granted.text, "redirect_uri": request.redirect_uri}
    if code:
        context["code"] = code
    if approver.patient_id:
        context["patient"] = str(approver.patient_id)
    write_trace(
        session, platform, "app.authorize", actor=approver.actor, outcome=outcome, reason=reason,
        request=RequestContext(request_id=request_id, client_software=f"{request.client_name} "
                                                                      f"(client {request.client_id})"),
        context=context,
    )


__all__ = ["CODE_LIFETIME", "TOKEN_LIFETIME", "AppRequest", "Approver", "AuthorizationError", "approver",
           "check_request", "grant", "redirect_to", "refuse"]
