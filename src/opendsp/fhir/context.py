"""The one request context of the FHIR API, built once per request by a dependency.

Every route declares what it needs with ``Annotated[FhirContext, allowed(resource, permission)]``:
the dependency verifies the bearer token, checks that its scopes cover the
interaction, opens the request's one transaction and hands out the caller, a
``RecordAccess`` for the actor the token names (a professional for backend
software or a professional's app, the person a person's app acts for), with
the client software in the trace. The transaction commits when the route
returns, before the response is sent (a Binary streams after its decision
and trace entry are committed), and rolls back on any error. The session is
for identity tables only (persons); clinical data comes through the access.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.access.services import RecordAccess
from opendsp.clients.services import Caller, TokenInvalid, Tokens
from opendsp.fhir import systems
from opendsp.fhir.errors import FhirError, from_denial, unknown_patient
from opendsp.fhir.search import Query, reference_id
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.disclosure import may_retry_with_emergency
from opendsp.trace.vocabulary import RequestContext

T = TypeVar("T")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="opendsp-fhir"'}


@dataclass(frozen=True)
class FhirSettings:
    """What the routes share for the life of the app (kept in ``app.state.fhir``)."""

    platform: Platform
    tokens: Tokens
    base: str  # the FHIR base URL, for references and links
    max_request_bytes: int


def fhir_settings(request: Request) -> FhirSettings:
    settings: FhirSettings = request.app.state.fhir
    return settings


@dataclass
class FhirContext:
    session: Session  # identity tables only
    caller: Caller
    access: RecordAccess
    base: str
    platform: Platform

    def with_break_glass(self, act: Callable[[], T]) -> T:
        """Run ``act``; with an ETREAT token, a refusal the policy lets be retried opens emergency access once.

        Opening is itself decided by the policy (emergency departments only, if
        the holder allows it) and traced, then the act is tried again.
        """
        try:
            return act()
        except AccessDenied as denied:
            decision = denied.decision
            if not may_retry_with_emergency(decision, purpose_of_use=self.caller.purpose_of_use):
                raise
            assert decision.record_id is not None
            self.access.open_emergency_access(decision.record_id, self.caller.emergency_reason or "")
        return act()

    def by_document_id(self, act: Callable[[], T]) -> T:
        """Run ``act`` on a document the caller named by its id: a refusal answers as an unknown id."""
        try:
            return self.with_break_glass(act)
        except AccessDenied as denied:
            raise from_denial(denied, named_by_document=True) from None

    def record_of_patient(self, query: Query) -> tuple[Person, uuid.UUID]:
        """The person a search names (``patient`` or ``patient.identifier``) and the id of their record."""
        patient = query.single("patient")
        identifier = query.single("patient.identifier")
        if (patient is None) == (identifier is None):
            raise FhirError(400, "required", "name the patient: either patient or patient.identifier (not both)",
                            expression="patient")
        if patient is not None:
            person_id = reference_id(patient, "Patient", self.base)
            found, record_id = self.access.person_and_record(person_id) if person_id else (None, None)
            return self._bound(found, record_id)
        assert identifier is not None
        system, _, value = identifier.rpartition("|")
        if system and system != systems.NATIONAL_NUMBER:
            raise FhirError(400, "not-supported", f"patient identifiers use the system {systems.NATIONAL_NUMBER}",
                            expression="patient.identifier")
        return self.record_of(self.person_numbered(value))

    def person(self, person_id: uuid.UUID | None) -> Person | None:
        return self.session.get(Person, person_id) if person_id else None

    def person_numbered(self, national_number: Any) -> Person | None:
        return self.session.scalars(select(Person).where(Person.national_number == national_number)).first()

    def record_of(self, person: Person | None) -> tuple[Person, uuid.UUID]:
        return self._bound(person, self.access.record_of_person(person.id) if person else None)

    def _bound(self, person: Person | None, record_id: uuid.UUID | None) -> tuple[Person, uuid.UUID]:
        bound = self.caller.patient
        # A person's app is bound to the record it was approved for (SMART patient/ scopes): another
        # person does not exist for it.
        if person is None or record_id is None or (bound is not None and person.id != bound.id):
            raise unknown_patient()
        return person, record_id


def resource_id(value: str) -> uuid.UUID:
    """The id in a route's path; one that is not an id is a resource that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FhirError(404, "not-found", f"no resource with id {value!r}") from None


def allowed(resource: str, permission: str) -> Any:
    """The dependency giving a route its ``FhirContext`` for ``resource`` and ``permission`` (SMART: c r u d s)."""

    def context(request: Request) -> Iterator[FhirContext]:
        settings = fhir_settings(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FhirError(401, "login", "a bearer access token is required (SMART Backend Services)",
                            headers=CHALLENGE)
        with settings.platform.transaction() as session:
            try:
                caller = settings.tokens.verify(session, token.strip())
            except TokenInvalid as invalid:
                raise FhirError(401, "login", str(invalid),
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
            if not caller.allows(resource, permission):
                raise FhirError(403, "forbidden", f"the token's scopes do not allow "
                                f"{caller.scopes[0].context}/{resource}.{permission}",
                                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
            request_context = RequestContext(request_id=str(uuid.uuid4()), client_software=caller.software)
            access = RecordAccess(session=session, platform=settings.platform, actor=caller.actor(session),
                                  request=request_context)
            yield FhirContext(session=session, caller=caller, access=access, base=settings.base,
                              platform=settings.platform)

    # Ended when the route returns, before the response is sent: the act is committed first.
    return Depends(context, scope="function")
