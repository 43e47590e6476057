"""Login, activation, federation and the account page: thin adapters over ``opendsp.accounts``.

Each POST checks the CSRF token (router dependency), the client's rate limit
for the secret it carries, then calls one service in one transaction. A
refusal raised by a service rolls the transaction back; the failure it
counted and traced is written again on its own (see ``accounts.services``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from opendsp.access.services import InvalidRequest
from opendsp.accounts import delegations, guard, invitations, services, totp
from opendsp.accounts import sessions as web_sessions
from opendsp.accounts.federation import FederationRefused, OidcClient, Pending
from opendsp.accounts.invitations import InvitationRefused
from opendsp.accounts.models import Account, AccountKind, AccountState, WebSession
from opendsp.accounts.services import AccountRefused, Client
from opendsp.locale import DEFAULT_LANGUAGE, LANGUAGES, N_
from opendsp.locale.formats import format_datetime
from opendsp.notifications import services as notifications
from opendsp.notifications.messages import KIND_LABELS
from opendsp.persons.models import Person
from opendsp.persons.services import find_by_national_number
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.professionals.models import Organisation, Professional
from opendsp.trace.vocabulary import Outcome
from opendsp.web.devices import device_of
from opendsp.web.devices import remember as remember_device
from opendsp.web.proxies import client_address
from opendsp.web.security import LANGUAGE_COOKIE, Viewer, csrf_protect, security, step, update_flow
from opendsp.web.templating import render, translate

router = APIRouter(dependencies=[Depends(csrf_protect)])

# Where each kind of account logs in, activates, and lands.
REALMS = {
    AccountKind.person: {"login": "/login", "activate": "/activate", "home": "/record"},
    AccountKind.professional: {"login": "/login", "activate": "/pro/activate", "home": "/pro"},
    AccountKind.staff: {"login": "/console/login", "activate": "/console/activate", "home": "/console"},
}


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(platform_of)]


def client_of(request: Request) -> Client:
    device = device_of(request)
    return Client(
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
        request_id=request.headers.get("x-request-id"),
        device=device.id,
        device_accounts=device.accounts,
    )


def refusal_text(request: Request, refusal: AccountRefused) -> str:
    """The refusal in the reader's language, its placeholders filled (a time in Luxembourg's)."""
    text = translate(request, refusal.message)
    if "until" in refusal.params:
        text = text % {"until": format_datetime(refusal.params["until"], getattr(request.state, "language", DEFAULT_LANGUAGE))}
    return text


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def now_iso(platform: Platform) -> str:
    return platform.clock.now().isoformat()


def require_viewer(request: Request, *kinds: AccountKind) -> Viewer:
    viewer = security(request).viewer(request)
    if viewer is None or viewer.kind not in kinds:
        raise NotLoggedIn(REALMS[kinds[0]]["login"])
    return viewer


class NotLoggedIn(Exception):
    def __init__(self, login_url: str) -> None:
        self.login_url = login_url


# -- language ------------------------------------------------------------------------------


@router.post("/language")
def choose_language(request: Request, platform: PlatformDep, lang: Annotated[str, Form()] = "",
                    next: Annotated[str, Form()] = "/") -> Response:
    """The language of the pages; an owner logged in keeps it (a person's preferred language: next logins,
    letters; a professional's or staff member's own: next logins, e-mails about the account).

    A POST with the CSRF token (the links are small forms): a saved setting never changes on a GET.
    """
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = see_other(target)
    if lang in LANGUAGES:
        remember_language(response, lang)
        viewer = security(request).viewer(request)
        if viewer is not None:
            with platform.transaction() as session:
                account = session.get(Account, viewer.account_id)
                assert account is not None
                services.set_language(session=session, platform=platform, account=account, language=lang)
    return response


# -- login ---------------------------------------------------------------------------------


def login_page(request: Request, kind: AccountKind | None, error: str | None = None, status: int = 200) -> HTMLResponse:
    action = "/console/login" if kind is AccountKind.staff else "/login"
    return render(request, "login.html", status, action=action, staff=kind is AccountKind.staff, error=error)


def login_submit(request: Request, platform: Platform, kind: AccountKind | None, identifier: str, password: str) -> Response:
    security(request).allow_attempt(request, "password")
    try:
        with platform.transaction() as session:
            account = services.check_password(
                session=session, platform=platform, kind=kind, identifier=identifier, password=password,
                client=client_of(request),
            )
            account_id = account.id
    except AccountRefused as refusal:
        return login_page(request, kind, refusal_text(request, refusal), 429 if refusal.code == "held" else 400)
    update_flow(request, login={"account": str(account_id), "at": now_iso(platform)})
    return see_other(("/console" if kind is AccountKind.staff else "") + "/login/code")


def code_page(request: Request, staff: bool, error: str | None = None, status: int = 200) -> HTMLResponse:
    return render(request, "second_factor.html", status, action=("/console" if staff else "") + "/login/code", error=error)


def code_submit(request: Request, platform: Platform, staff: bool, code: str) -> Response:
    security(request).allow_attempt(request, "second_factor")
    pending = step(request, "login", platform.clock.now())
    if pending is None:
        return see_other("/console/login" if staff else "/login")
    try:
        with platform.transaction() as session:
            account_id = uuid.UUID(pending["account"])
            method = services.check_second_factor(
                session=session, platform=platform, account_id=account_id, code=code, client=client_of(request)
            )
            account = session.get(Account, account_id)
            assert account is not None
            if (account.kind is AccountKind.staff) != staff:
                raise services.refuse("flow_expired")
            token, home, language = _open(session, platform, account, method, request.state.language)
    except AccountRefused as refusal:
        if refusal.code in ("held", "flow_expired"):
            update_flow(request, login=None)
        return code_page(request, staff, refusal_text(request, refusal), 429 if refusal.code == "held" else 400)
    return _logged_in(request, token, home, language, account_id)


def _open(session: Session, platform: Platform, account: Account, method: str,
          shown_in: str | None = None) -> tuple[str, str, str | None]:
    """A new web session for the account: its token, the account's home page, the owner's language
    (``shown_in``, the language of the login's pages, is kept by an account without a person that has none)."""
    if shown_in is not None:
        services.keep_first_language(account=account, language=shown_in)
    organisation = None
    if account.kind is AccountKind.professional:
        professional = session.get(Professional, account.professional_id)
        assert professional is not None
        # One organisation: acting for it goes without saying; several: the professional chooses.
        organisation = professional.organisations[0].id if len(professional.organisations) == 1 else None
    token, _web = web_sessions.open_session(
        session=session, platform=platform, account=account, method=method, organisation_id=organisation
    )
    return token, REALMS[account.kind]["home"], services.preferred_language(session, account)


def safe_next(target: str | None) -> str | None:
    """A page of this site to go back to after logging in: a local path only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(c in target for c in "\r\n") or len(target) > 3000:
        return None
    return target


def remember_language(response: Response, language: str | None) -> None:
    """The browser keeps the language chosen for a year (the person's preferred language is kept by the account)."""
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, path="/", samesite="lax",
                            httponly=True)


def _logged_in(request: Request, token: str, home: str, language: str | None = None,
               account_id: uuid.UUID | None = None) -> Response:
    # Back where the login was asked for (e.g. an app's authorization request), else home.
    chosen = safe_next(request.state.flow.get("next"))
    response = see_other(chosen if chosen and not home.startswith("/console") else home)
    security(request).set_session_cookie(response, token)
    if account_id is not None:
        remember_device(request, response, account_id)  # a known browser: strangers' failures do not hold it back
    remember_language(response, language)
    # A new CSRF token for the new session; the flow's steps are done.
    request.state.flow.clear()
    update_flow(request, csrf=uuid.uuid4().hex + uuid.uuid4().hex)
    return response


def home_of(request: Request) -> str | None:
    """The home of whoever is logged in on this request (None for a visitor)."""
    viewer = security(request).viewer(request)
    return REALMS[viewer.kind]["home"] if viewer else None


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    home = home_of(request)
    if home is not None:  # already logged in: where the login was asked for (an app's authorization), else home
        chosen = safe_next(next)
        return see_other(chosen if chosen and not home.startswith("/console") else home)
    # Remembered in the flow for the end of the login (password, then the second factor).
    update_flow(request, next=safe_next(next))
    return login_page(request, None)


@router.post("/login")
def login(request: Request, platform: PlatformDep, identifier: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "") -> Response:
    return login_submit(request, platform, None, identifier, password)


@router.get("/login/code", response_class=HTMLResponse)
def login_code_form(request: Request) -> HTMLResponse:
    return code_page(request, staff=False)


@router.post("/login/code")
def login_code(request: Request, platform: PlatformDep, code: Annotated[str, Form()] = "") -> Response:
    return code_submit(request, platform, False, code)


@router.post("/logout")
def logout(request: Request, platform: PlatformDep) -> Response:
    viewer = security(request).viewer(request)
    response = see_other("/console/login" if viewer and viewer.kind is AccountKind.staff else "/login")
    if viewer:
        with platform.transaction() as session:
            web = session.get(WebSession, viewer.session_id)
            account = session.get(Account, viewer.account_id)
            assert web is not None and account is not None
            web_sessions.end_session(session=session, platform=platform, web=web,
                                     actor=services.owner_actor(session, account))
    security(request).clear_session_cookie(response)
    return response


@router.post("/logout/everywhere")
def logout_everywhere(request: Request, platform: PlatformDep) -> Response:
    viewer = security(request).viewer(request)
    response = see_other("/console/login" if viewer and viewer.kind is AccountKind.staff else "/login")
    if viewer:
        with platform.transaction() as session:
            account = session.get(Account, viewer.account_id)
            assert account is not None
            web_sessions.end_all_sessions(session=session, platform=platform, account=account,
                                          actor=services.owner_actor(session, account))
    security(request).clear_session_cookie(response)
    return response


# -- activation ----------------------------------------------------------------------------


def activation_page(request: Request, kind: AccountKind, error: str | None = None, status: int = 200) -> HTMLResponse:
    return render(request, "activate.html", status, action=REALMS[kind]["activate"], kind=kind.value, error=error)


def activation_submit(request: Request, platform: Platform, kind: AccountKind, identifier: str, code: str) -> Response:
    security(request).allow_attempt(request, "activation_code")
    try:
        with platform.transaction() as session:
            account, accepted = services.check_activation_code(
                session=session, platform=platform, kind=kind, identifier=identifier, code=code,
                client=client_of(request),
            )
            proof = {"account": str(account.id), "code": str(accepted.id), "kind": kind.value, "at": now_iso(platform)}
    except AccountRefused as refusal:
        return activation_page(request, kind, refusal_text(request, refusal), 429 if refusal.code == "held" else 400)
    update_flow(request, activation=proof)
    return see_other(REALMS[kind]["activate"] + "/account")


def enrolment_page(request: Request, platform: Platform, kind: AccountKind, error: str | None = None,
                   status: int = 200, values: dict[str, str] | None = None) -> Response:
    proof = step(request, "activation", platform.clock.now())
    if proof is None or proof.get("kind") != kind.value:
        return see_other(REALMS[kind]["activate"])
    with platform.transaction() as session:
        account = session.get(Account, uuid.UUID(proof["account"]))
        assert account is not None
        secret = services.pending_totp_secret(session=session, platform=platform, account=account)
        label = account.login
    uri = totp.provisioning_uri(secret, label)
    return render(
        request, "activate_account.html", status, action=REALMS[kind]["activate"] + "/account", kind=kind.value,
        qr=totp.qr_svg(uri), secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), error=error,
        values=values or {},
    )


def enrolment_submit(request: Request, platform: Platform, kind: AccountKind, form: dict[str, str]) -> Response:
    security(request).allow_attempt(request, "second_factor")
    proof = step(request, "activation", platform.clock.now())
    if proof is None or proof.get("kind") != kind.value:
        return see_other(REALMS[kind]["activate"])
    try:
        with platform.transaction() as session:
            done = services.complete_activation(
                session=session, platform=platform, account_id=uuid.UUID(proof["account"]),
                code_id=uuid.UUID(proof["code"]), email=form["email"], mobile=form["mobile"],
                password=form["password"], confirmation=form["confirmation"], totp_code=form["code"],
                client=client_of(request),
            )
            token, home, language = _open(session, platform, done.account, "activation", request.state.language)
    except AccountRefused as refusal:
        kept = {"email": form["email"], "mobile": form["mobile"]}
        return enrolment_page(request, platform, kind, translate(request, refusal.message), 400, kept)
    request.state.flow.clear()
    update_flow(request, csrf=uuid.uuid4().hex + uuid.uuid4().hex)
    response = render(request, "recovery_codes.html", codes=done.recovery_codes, home=home)
    security(request).set_session_cookie(response, token)
    remember_device(request, response, uuid.UUID(proof["account"]))
    remember_language(response, language)
    return response


def _enrolment_form(
    email: Annotated[str, Form()] = "",
    mobile: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    confirmation: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> dict[str, str]:
    return {"email": email, "mobile": mobile, "password": password, "confirmation": confirmation, "code": code}


EnrolmentForm = Annotated[dict[str, str], Depends(_enrolment_form)]


@router.get("/activate", response_class=HTMLResponse)
def activate_form(request: Request) -> HTMLResponse:
    return activation_page(request, AccountKind.person)


@router.post("/activate")
def activate(request: Request, platform: PlatformDep, identifier: Annotated[str, Form()] = "",
             code: Annotated[str, Form()] = "") -> Response:
    return activation_submit(request, platform, AccountKind.person, identifier, code)


@router.get("/activate/account")
def activate_account_form(request: Request, platform: PlatformDep) -> Response:
    return enrolment_page(request, platform, AccountKind.person)


@router.post("/activate/account")
def activate_account(request: Request, platform: PlatformDep, form: EnrolmentForm) -> Response:
    return enrolment_submit(request, platform, AccountKind.person, form)


@router.get("/pro/activate", response_class=HTMLResponse)
def pro_activate_form(request: Request) -> HTMLResponse:
    return activation_page(request, AccountKind.professional)


@router.post("/pro/activate")
def pro_activate(request: Request, platform: PlatformDep, identifier: Annotated[str, Form()] = "",
                 code: Annotated[str, Form()] = "") -> Response:
    return activation_submit(request, platform, AccountKind.professional, identifier, code)


@router.get("/pro/activate/account")
def pro_activate_account_form(request: Request, platform: PlatformDep) -> Response:
    return enrolment_page(request, platform, AccountKind.professional)


@router.post("/pro/activate/account")
def pro_activate_account(request: Request, platform: PlatformDep, form: EnrolmentForm) -> Response:
    return enrolment_submit(request, platform, AccountKind.professional, form)


# -- federation ----------------------------------------------------------------------------


def federation_of(request: Request) -> OidcClient:
    client = request.app.state.federation
    if client is None:
        raise HTTPException(404, N_("Login through the State's portal is not configured."))
    return client  # type: ignore[no-any-return]


@router.get("/login/federated")
def federated_login(request: Request, platform: PlatformDep, next: str = "") -> Response:
    oidc = federation_of(request)
    if safe_next(next):
        update_flow(request, next=safe_next(next))  # e.g. back to a sensitive act after a step-up
    try:
        url, pending = oidc.start(platform.randomness)
    except FederationRefused:
        return render(request, "message.html", 502, title_text=translate(request, "The State's portal cannot be reached."))
    update_flow(request, oidc={**pending.as_dict(), "at": now_iso(platform)})
    return RedirectResponse(url, status_code=303)


@router.get("/login/federated/callback")
def federated_callback(request: Request, platform: PlatformDep, code: str = "", state: str = "",
                       error: str = "") -> Response:
    oidc = federation_of(request)
    security(request).allow_attempt(request, "federation")
    pending = step(request, "oidc", platform.clock.now())
    update_flow(request, oidc=None)  # one use: a replayed callback finds nothing
    failure = "no_pending_login" if pending is None else ("provider_error" if error else None)
    identity = None
    if failure is None:
        assert pending is not None
        try:
            identity = oidc.finish(code=code, state=state,
                                   pending=Pending(pending["state"], pending["nonce"], pending["verifier"]))
        except FederationRefused as refusal:
            failure = refusal.reason
    if identity is None:
        _trace_federation_refusal(platform, request, failure or "unknown")
        return render(request, "message.html", 400,
                      title_text=translate(request, "The login through the State's portal did not succeed."),
                      body_text=translate(request, "Try again, or log in with your password and your authenticator app."))
    with platform.transaction() as session:
        account = services.find(session, kind=AccountKind.person, login=identity.national_number)
        if account is None:
            person = find_by_national_number(session, identity.national_number)
            account = services.account_of_person(session=session, platform=platform, person=person) if person else None
        if account is None or account.state is AccountState.closed or services.is_locked(account, platform.clock.now()):
            reason = "unknown_person" if account is None else ("closed" if account.state is AccountState.closed else "locked")
            if account is not None:
                services.trace(session, platform, account, "account.login", outcome=Outcome.refused, reason=reason,
                               client=client_of(request), method="federated")
            return render(request, "message.html", 403,
                          title_text=translate(request, "No account can be opened for this identity."),
                          body_text=translate(request, "Call the helpdesk: +352 27 12 50 18 33."))
        if account.state is not AccountState.active:
            update_flow(request, federated={"account": str(account.id), "subject": identity.subject,
                                            "at": now_iso(platform)})
            return see_other("/activate/federated")
        try:
            services.match_federated_subject(session=session, platform=platform, account=account,
                                             subject=identity.subject, client=client_of(request))
        except AccountRefused:
            return render(request, "message.html", 403,
                          title_text=translate(request, "No account can be opened for this identity."),
                          body_text=translate(request, "Call the helpdesk: +352 27 12 50 18 33."))
        services.trace(session, platform, account, "account.login", actor=services.owner_actor(session, account),
                       method="federated", acr=identity.acr, amr=list(identity.amr))
        token, home, language = _open(session, platform, account, "federated", request.state.language)
        account_id = account.id
    return _logged_in(request, token, home, language, account_id)


def _trace_federation_refusal(platform: Platform, request: Request, reason: str) -> None:
    from opendsp.records.services import write_trace

    with platform.transaction() as session:
        write_trace(session, platform, "account.login", actor=None, outcome=Outcome.refused,
                    reason=f"federation:{reason}", request=client_of(request).request,
                    context={"method": "federated", "client": client_of(request).ip})


@router.get("/activate/federated")
def federated_activation_form(request: Request, platform: PlatformDep) -> Response:
    if step(request, "federated", platform.clock.now()) is None:
        return see_other("/login")
    return render(request, "activate_federated.html", error=None, values={})


@router.post("/activate/federated")
def federated_activation(request: Request, platform: PlatformDep, email: Annotated[str, Form()] = "",
                         mobile: Annotated[str, Form()] = "") -> Response:
    proof = step(request, "federated", platform.clock.now())
    if proof is None:
        return see_other("/login")
    try:
        with platform.transaction() as session:
            account = session.get(Account, uuid.UUID(proof["account"]))
            assert account is not None
            services.activate_federated(session=session, platform=platform, account=account, email=email,
                                        mobile=mobile, subject=proof["subject"])
            token, home, language = _open(session, platform, account, "federated", request.state.language)
            account_id = account.id
    except AccountRefused as refusal:
        return render(request, "activate_federated.html", 400, error=translate(request, refusal.message),
                      values={"email": email, "mobile": mobile})
    return _logged_in(request, token, home, language, account_id)


# -- the account page ----------------------------------------------------------------------


@router.get("/account", response_class=HTMLResponse)
def account_home(request: Request, platform: PlatformDep) -> HTMLResponse:
    return account_page(request, platform)


def account_page(request: Request, platform: Platform, notice: str | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    viewer = require_viewer(request, AccountKind.person, AccountKind.professional)
    now = platform.clock.now()
    with platform.sessions() as session:
        account = session.get(Account, viewer.account_id)
        assert account is not None
        context: dict[str, object] = {"account": account, "state": account.display_state(now),
                                      "holds": [h for h in guard.holds_of(session, account_id=account.id, now=now)
                                                if h.source != "*"]}
        if viewer.kind is AccountKind.person:
            person = session.get(Person, viewer.person_id)
            assert person is not None
            acting = session.get(Person, viewer.acting_for) if viewer.acting_for else None
            context.update(person=person, acting_for=acting, options=delegations.acting_options(session, person, platform=platform))
        else:
            professional = session.get(Professional, viewer.professional_id)
            assert professional is not None
            context.update(professional=professional, organisations=list(professional.organisations),
                           organisation=session.get(Organisation, viewer.organisation_id) if viewer.organisation_id else None)
        return render(request, "account.html", status, notice=notice, error=error, **context)


@router.post("/account/act-for")
def act_for(request: Request, platform: PlatformDep, person: Annotated[str, Form()] = "",
            next: Annotated[str, Form()] = "/account") -> Response:
    """Switch to a record one acts for, or back to one's own; ``next``: the page to go to (of this site)."""
    viewer = require_viewer(request, AccountKind.person)
    try:
        with platform.transaction() as session:
            web = session.get(WebSession, viewer.session_id)
            me = session.get(Person, viewer.person_id)
            assert web is not None and me is not None
            target = uuid.UUID(person) if person else None
            delegations.switch(session=session, platform=platform, web=web, person=me, holder_id=target)
    except (AccessDenied, InvalidRequest, ValueError):
        return account_page(request, platform, error=translate(request, "You can no longer act for this person."),
                            status=403)
    return see_other(next if next.startswith("/") and not next.startswith("//") else "/account")


@router.post("/account/organisation")
def choose_organisation(request: Request, platform: PlatformDep, organisation: Annotated[str, Form()] = "") -> Response:
    viewer = require_viewer(request, AccountKind.professional)
    with platform.transaction() as session:
        professional = session.get(Professional, viewer.professional_id)
        web = session.get(WebSession, viewer.session_id)
        assert professional is not None and web is not None
        chosen = next((o for o in professional.organisations if str(o.id) == organisation), None)
        if chosen is None:
            raise HTTPException(400, N_("Choose one of your organisations."))
        web.organisation_id = chosen.id
        account = session.get(Account, viewer.account_id)
        assert account is not None
        services.trace(session, platform, account, "session.organisation", actor=services.owner_actor(session, account),
                       organisation=str(chosen.id))
    return see_other(REALMS[AccountKind.professional]["home"])


# Naming, inviting and removing assistants: the record's page "Accompagnateurs" (web/holder/assistants.py).


# -- what reaches a person by e-mail (docs/notifications.md) -------------------------------


def notification_settings_page(request: Request, platform: Platform, notice: str | None = None,
                               error: str | None = None, status: int = 200) -> HTMLResponse:
    viewer = require_viewer(request, AccountKind.person)
    assert viewer.person_id is not None
    with platform.sessions() as session:
        account = session.get(Account, viewer.account_id)
        assert account is not None
        chosen = notifications.email_choices(session, viewer.person_id)
        choices = [(kind, KIND_LABELS[kind], by_email) for kind, by_email in chosen.items()]
        return render(request, "notification_settings.html", status, notice=notice, error=error, choices=choices,
                      email=account.email)


@router.get("/account/notifications", response_class=HTMLResponse)
def notification_settings(request: Request, platform: PlatformDep) -> HTMLResponse:
    return notification_settings_page(request, platform)


@router.post("/account/notifications")
def save_notification_settings(request: Request, platform: PlatformDep,
                               by_email: Annotated[list[str] | None, Form()] = None) -> Response:
    """The kinds of notification the person receives by e-mail (the portal shows them all anyway). Traced."""
    viewer = require_viewer(request, AccountKind.person)
    assert viewer.person_id is not None
    try:
        with platform.transaction() as session:
            account = session.get(Account, viewer.account_id)
            assert account is not None
            chosen = notifications.set_email_choices(session, platform, person_id=viewer.person_id,
                                                     by_email=by_email or [])
            services.trace(session, platform, account, "account.notifications",
                           actor=services.owner_actor(session, account),
                           by_email=sorted(kind for kind, on in chosen.items() if on))
    except ValueError:
        return notification_settings_page(request, platform, error=translate(request, "The form is incomplete."),
                                          status=400)
    return notification_settings_page(request, platform, notice=translate(request, "Your choices are saved."))


# -- assistants invited by e-mail (docs/identity.md) ---------------------------------------


def _managed_record(session: Session, viewer: Viewer) -> tuple[actors.Actor, uuid.UUID]:
    """The actor of the request and the record whose assistants it manages (own, or the one acted for)."""
    me = session.get(Person, viewer.person_id)
    assert me is not None
    record = record_of(session, viewer.acting_for or me.id)
    if record is None:
        raise InvalidRequest("no record")
    return delegations.actor_for(session, me, viewer.acting_for), record.id


def _invitation_refused(request: Request, refusal: InvitationRefused) -> HTMLResponse:
    status = {"unknown": 404, "own_record": 403, "no_right": 403}.get(refusal.code, 410)
    return render(request, "message.html", status, title_text=translate(request, refusal.message),
                  body_text=translate(request, "Nothing was changed."))


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(request: Request, platform: PlatformDep, token: str) -> HTMLResponse:
    """The link of the e-mail: what the invitation is, and how to accept it with one's own account."""
    viewer = security(request).viewer(request)
    with platform.sessions() as session:
        try:
            invitation = invitations.check(invitations.find(session, token), platform.clock.now())
        except InvitationRefused as refusal:
            return _invitation_refused(request, refusal)
        holder = invitations.holder_of(session, invitation)
        own = viewer is not None and viewer.person_id == holder.id
        return render(request, "invitation.html", token=token, holder_name=holder.given_name,
                      until=invitation.until, expires=invitation.expires_at,
                      person=viewer is not None and viewer.kind is AccountKind.person, own=own)


@router.post("/invitations/{token}")
def accept_invitation(request: Request, platform: PlatformDep, token: str) -> Response:
    """The invited person accepts with their own account; the invitation is checked again and used once."""
    viewer = security(request).viewer(request)
    if viewer is None or viewer.kind is not AccountKind.person:
        return see_other(f"/invitations/{token}")
    try:
        with platform.transaction() as session:
            me = session.get(Person, viewer.person_id)
            assert me is not None
            _delegation, holder = invitations.accept(session=session, platform=platform, token=token, person=me,
                                                     request=client_of(request).request)
            name = holder.display_name
    except InvitationRefused as refusal:
        return _invitation_refused(request, refusal)
    return account_page(request, platform, notice=translate(
        request, "You are now the assistant of %(name)s: choose their record below to act for them.") % {"name": name})
