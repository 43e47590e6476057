"""The agency's console (helpdesk): accounts, letters, unlocking, second factors, registrations, figures.

Staff log in with a password and an authenticator app. Helpdesk staff find
persons and manage their accounts; administrators also register
professionals and organisations. No page shows clinical content: the
console reads persons, accounts, letters' dates and aggregate counts only.
Every act, looking a person up included, is traced (on the person's record
chain when it concerns a holder).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.accounts import guard, services
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.accounts.letters import issue_letters
from opendsp.accounts.models import Account, AccountKind, AccountState, ActivationLetter, StaffRole
from opendsp.actors import Actor
from opendsp.web.charts import bar_chart, in_words
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.professionals.services import RegistrationRefused, register_organisation, register_professional
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.records.services import record_of, write_trace
from opendsp.web.auth_views import (
    EnrolmentForm,
    PlatformDep,
    activation_page,
    activation_submit,
    code_page,
    code_submit,
    enrolment_page,
    enrolment_submit,
    login_page,
    login_submit,
    require_viewer,
)
from opendsp.web.security import Viewer, csrf_protect
from opendsp.web.templating import render, translate

router = APIRouter(prefix="/console", dependencies=[Depends(csrf_protect)])

RESET_CHECKS = ("identity_document", "call_back", "postal_address")
# Labels the templates compose ("state:" + state, "check:" + check), listed for the catalogues.
LABELS = (
    N_("state:created"), N_("state:letter_sent"), N_("state:active"), N_("state:locked"), N_("state:closed"),
    N_("state:none"), N_("check:identity_document"), N_("check:call_back"), N_("check:postal_address"),
)


def staff(request: Request) -> Viewer:
    return require_viewer(request, AccountKind.staff)


class AdministratorsOnly(HTTPException):
    """A staff member without the administrator role asked for an administrator's page."""

    def __init__(self) -> None:
        super().__init__(403, N_("Only administrators may do this."))


async def administrators_only(request: Request, error: Exception) -> Response:
    """The refusal as a page of the console (its menu kept), saying what the helpdesk may do instead."""
    return render(request, "console/refused.html", 403)


def administrator(request: Request) -> Viewer:
    viewer = staff(request)
    if StaffRole.administrator.value not in viewer.roles:
        raise AdministratorsOnly()
    return viewer


Staff = Annotated[Viewer, Depends(staff)]
Administrator = Annotated[Viewer, Depends(administrator)]


def actor_of(viewer: Viewer) -> Actor:
    return actors.agency(str(viewer.account_id), viewer.display_name, viewer.roles)


# -- logging in and activating staff accounts ------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return login_page(request, AccountKind.staff)


@router.post("/login")
def login(request: Request, platform: PlatformDep, identifier: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "") -> Response:
    return login_submit(request, platform, AccountKind.staff, identifier, password)


@router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request) -> HTMLResponse:
    return code_page(request, staff=True)


@router.post("/login/code")
def code(request: Request, platform: PlatformDep, code: Annotated[str, Form()] = "") -> Response:
    return code_submit(request, platform, True, code)


@router.get("/activate", response_class=HTMLResponse)
def activate_form(request: Request) -> HTMLResponse:
    return activation_page(request, AccountKind.staff)


@router.post("/activate")
def activate(request: Request, platform: PlatformDep, identifier: Annotated[str, Form()] = "",
             code: Annotated[str, Form()] = "") -> Response:
    return activation_submit(request, platform, AccountKind.staff, identifier, code)


@router.get("/activate/account")
def activate_account_form(request: Request, platform: PlatformDep) -> Response:
    return enrolment_page(request, platform, AccountKind.staff)


@router.post("/activate/account")
def activate_account(request: Request, platform: PlatformDep, form: EnrolmentForm) -> Response:
    return enrolment_submit(request, platform, AccountKind.staff, form)


# -- finding persons -----------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def search_form(request: Request, viewer: Staff) -> HTMLResponse:
    """The empty form: a national number or a name travels in a POST body, never in an address."""
    return render(request, "console/search.html", q="", persons=[], professionals=[])


@router.post("", response_class=HTMLResponse)
def search(request: Request, platform: PlatformDep, viewer: Staff,
           q: Annotated[str, Form()] = "") -> HTMLResponse:
    """Persons by national number or name; professionals by licence number or name (to unlock them, or reset
    their authenticator). The search is traced with how many of each it found, never with the words."""
    query = q.strip()[:200]
    persons: list[Person] = []
    professionals: list[Professional] = []
    if query:
        words = [w for w in query.split() if w][:5]
        with platform.transaction() as session:
            try:
                condition = Person.national_number == national_number_from_input(query)
            except InvalidNationalNumber:
                condition = or_(*[Person.family_name.ilike(f"%{w}%") | Person.given_name.ilike(f"%{w}%") for w in words])
            persons = list(session.scalars(select(Person).where(condition).order_by(Person.family_name).limit(50)))
            named = or_(Professional.licence_number == query, *[
                Professional.family_name.ilike(f"%{w}%") | Professional.given_name.ilike(f"%{w}%") for w in words])
            professionals = list(session.scalars(
                select(Professional).where(named).order_by(Professional.family_name).limit(50)))
            write_trace(session, platform, "console.search", actor=actor_of(viewer),
                        context={"results": len(persons), "professionals": len(professionals)})
    return render(request, "console/search.html", q=query, persons=persons, professionals=professionals)


def _professional(request: Request, platform: PlatformDep, viewer: Viewer, professional_id: uuid.UUID,
                  notice: str | None = None, error: str | None = None, status: int = 200,
                  code: str | None = None) -> HTMLResponse:
    """A professional's account as the helpdesk sees it: its state, failed logins, the second factor."""
    with platform.transaction() as session:
        professional = session.get(Professional, professional_id)
        if professional is None:
            raise HTTPException(404, N_("No such professional."))
        account = services.account_of_professional(session=session, platform=platform, professional=professional)
        state, holds = _viewed(session, platform, viewer, account)
        return render(
            request, "console/professional_account.html", status, professional=professional, account=account,
            state=state, holds=holds, checks=RESET_CHECKS, notice=notice, error=error, code=code,
            organisations=[o.name for o in professional.organisations],
        )


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, platform: PlatformDep, viewer: Staff, person_id: uuid.UUID) -> HTMLResponse:
    return _person(request, platform, viewer, person_id)


def _person(request: Request, platform: PlatformDep, viewer: Viewer, person_id: uuid.UUID,
            notice: str | None = None, error: str | None = None, status: int = 200) -> HTMLResponse:
    with platform.transaction() as session:
        person = session.get(Person, person_id)
        if person is None:
            raise HTTPException(404, N_("No such person."))
        account = services.account_of_person(session=session, platform=platform, person=person)
        record = record_of(session, person.id)
        letters = list(session.scalars(
            select(ActivationLetter).where(ActivationLetter.account_id == account.id).order_by(ActivationLetter.created_at)
        ))
        state, holds = _viewed(session, platform, viewer, account)
        return render(
            request, "console/person.html", status, person=person, account=account,
            state=state, record_state=record.state.value if record else None,
            letters=letters, checks=RESET_CHECKS, notice=notice, error=error, holds=holds,
        )


def _viewed(session, platform: PlatformDep, viewer: Viewer, account: Account):  # type: ignore[no-untyped-def]
    """An account opened in the console (traced): its state as shown, and the failed logins still remembered,
    per source, which the helpdesk can lift (accounts/guard.py)."""
    services.trace(session, platform, account, "console.account.view", actor=actor_of(viewer))
    now = platform.clock.now()
    holds = guard.holds_of(session, account_id=account.id, now=now)
    state = account.display_state(now)
    if state != "closed" and any(h.until for h in holds):
        state = "locked"
    return state, holds


@router.post("/persons/{person_id}/letter")
def new_letter(request: Request, platform: PlatformDep, viewer: Staff, person_id: uuid.UUID) -> Response:
    """A new letter to the person's postal address: new codes, the old ones stop working.

    The letter goes to the print outbox; the helpdesk never sees its codes.
    """
    with platform.sessions() as session:
        account = session.scalars(select(Account).where(Account.person_id == person_id)).first()
        if account is not None and account.state in (AccountState.active, AccountState.closed):
            return _person(request, platform, viewer, person_id, status=409,
                           error=translate(request, "This account does not need a letter."))
    issue_letters(platform=platform, person_ids=[person_id], actor=actor_of(viewer))
    return _person(request, platform, viewer, person_id,
                   notice=translate(request, "A new letter is ready for printing; the previous codes no longer work."))


@router.post("/accounts/{account_id}/unlock")
def unlock(request: Request, platform: PlatformDep, viewer: Staff, account_id: uuid.UUID) -> Response:
    with platform.transaction() as session:
        account = _account(session, account_id)
        services.unlock(session=session, platform=platform, account=account, actor=actor_of(viewer))
        person_id, professional_id = account.person_id, account.professional_id
    notice = translate(request, "The account is unlocked.")
    if professional_id:
        return _professional(request, platform, viewer, professional_id, notice=notice)
    return _after(request, platform, viewer, person_id, notice)


@router.post("/accounts/{account_id}/reset-second-factor")
def reset_second_factor(request: Request, platform: PlatformDep, viewer: Staff, account_id: uuid.UUID,
                        reference: Annotated[str, Form()] = "", checks: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    done = sorted(set(checks) & set(RESET_CHECKS))
    with platform.sessions() as session:
        person_id = _account(session, account_id).person_id
        professional_id = _account(session, account_id).professional_id
    if len(done) < 2 or not reference.strip():
        error = translate(request, "Check the person's identity in two ways and give the ticket reference first.")
        if professional_id:
            return _professional(request, platform, viewer, professional_id, error=error, status=400)
        if person_id:
            return _person(request, platform, viewer, person_id, error=error, status=400)
        raise HTTPException(400, error)
    with platform.transaction() as session:
        account = _account(session, account_id)
        services.reset_second_factor(session=session, platform=platform, account=account, actor=actor_of(viewer),
                                     checks=done, reference=reference.strip()[:100])
        if professional_id:
            # A professional re-activates with a new code, given like the first one (at registration).
            code = services.issue_activation_code(session=session, platform=platform, account=account,
                                                  actor=actor_of(viewer))
    if professional_id:
        return _professional(request, platform, viewer, professional_id, code=code, notice=translate(
            request, "The second factor is removed. Give the professional this new activation code through a "
                     "channel of its own; it is shown only once:"))
    if person_id:
        # A person re-activates with a new letter sent to the address on file, never through the helpdesk.
        issue_letters(platform=platform, person_ids=[person_id], actor=actor_of(viewer))
    return _after(request, platform, viewer, person_id,
                  translate(request, "The second factor is removed; a new activation letter is ready for printing."))


def _account(session, account_id: uuid.UUID) -> Account:  # type: ignore[no-untyped-def]
    account = session.get(Account, account_id)
    if account is None:
        raise HTTPException(404, N_("No such account."))
    return account  # type: ignore[no-any-return]


def _after(request: Request, platform: PlatformDep, viewer: Viewer, person_id: uuid.UUID | None, notice: str) -> Response:
    if person_id:
        return _person(request, platform, viewer, person_id, notice=notice)
    return render(request, "message.html", title_text=notice)


# -- registrations (administrators) --------------------------------------------------------


@router.get("/professionals/new", response_class=HTMLResponse)
def professional_form(request: Request, platform: PlatformDep, viewer: Administrator) -> HTMLResponse:
    return _professional_form(request, platform)


def _professional_form(request: Request, platform: PlatformDep, error: str | None = None, status: int = 200,
                       code: str | None = None, registered: str | None = None) -> HTMLResponse:
    with platform.sessions() as session:
        organisations = list(session.scalars(select(Organisation).order_by(Organisation.name)))
    return render(request, "console/professional.html", status, professions=PROFESSIONS, specialties=SPECIALTIES,
                  organisations=organisations, error=error, code=code, registered=registered)


@router.post("/professionals/new")
def register_professional_view(
    request: Request, platform: PlatformDep, viewer: Administrator,
    licence_number: Annotated[str, Form()] = "", family_name: Annotated[str, Form()] = "",
    given_name: Annotated[str, Form()] = "", profession: Annotated[str, Form()] = "",
    specialties: Annotated[list[str], Form()] = [], organisations: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    try:
        with platform.transaction() as session:
            chosen = [o for o in (session.get(Organisation, _uuid(i)) for i in organisations) if o is not None]
            if not chosen:
                raise RegistrationRefused("choose at least one organisation")
            professional = register_professional(
                session=session, platform=platform, actor=actor_of(viewer), licence_number=licence_number,
                family_name=family_name, given_name=given_name, profession=profession, specialties=specialties,
                organisations=chosen,
            )
            account = services.account_of_professional(session=session, platform=platform, professional=professional)
            code = services.issue_activation_code(session=session, platform=platform, account=account,
                                                  actor=actor_of(viewer))
            name = professional.display_name
    except RegistrationRefused as refusal:
        return _professional_form(request, platform, error=str(refusal), status=400)
    return _professional_form(request, platform, code=code, registered=name)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@router.get("/organisations/new", response_class=HTMLResponse)
def organisation_form(request: Request, viewer: Administrator) -> HTMLResponse:
    return render(request, "console/organisation.html", kinds=[k.value for k in OrganisationKind], error=None,
                  registered=None)


@router.post("/organisations/new")
def register_organisation_view(
    request: Request, platform: PlatformDep, viewer: Administrator, identifier: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "", city: Annotated[str, Form()] = "",
) -> Response:
    try:
        with platform.transaction() as session:
            register_organisation(session=session, platform=platform, actor=actor_of(viewer), identifier=identifier,
                                  name=name, kind=kind, city=city)
    except RegistrationRefused as refusal:
        return render(request, "console/organisation.html", 400, kinds=[k.value for k in OrganisationKind],
                      error=str(refusal), registered=None)
    return render(request, "console/organisation.html", kinds=[k.value for k in OrganisationKind], error=None,
                  registered=name)


# -- figures -------------------------------------------------------------------------------


@router.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request, platform: PlatformDep, viewer: Staff) -> HTMLResponse:
    with platform.sessions() as session:
        figures = RecordAccess(session=session, platform=platform, actor=actor_of(viewer)).published_figures()
    gettext = lambda message: translate(request, message)  # noqa: E731
    figures = [in_words(figure, request.state.language, gettext) for figure in figures]
    charts = [(figure, bar_chart(figure, f"chart-{n}", gettext)) for n, figure in enumerate(figures)]
    return render(request, "console/statistics.html", charts=charts)


# After /professionals/new, which this address would otherwise take.
@router.get("/professionals/{professional_id}", response_class=HTMLResponse)
def professional_page(request: Request, platform: PlatformDep, viewer: Staff,
                      professional_id: uuid.UUID) -> HTMLResponse:
    return _professional(request, platform, viewer, professional_id)
