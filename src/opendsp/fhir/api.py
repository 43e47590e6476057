"""The per-request unit of the FHIR API: authenticate, check the scope, open one transaction.

Routes use ``Api.unit``: it verifies the bearer token, checks that its scopes
cover the interaction, opens the request's transaction and hands out a
``RecordAccess`` for the professional the token names (backend software or a
professional's SMART app), or for the person a person's app acts for, with the
client software in the trace. Errors become OperationOutcomes (``errors.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
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
from opendsp.records.models import Record
from opendsp.trace.service import RequestContext

T = TypeVar("T")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="opendsp-fhir"'}


@dataclass
class Unit:
    session: Session
    caller: Caller
    access: RecordAccess
    base: str

    def with_break_glass(self, act: Callable[[], T]) -> T:
        """Run ``act``; with an ETREAT token, a refusal for lack of access opens emergency access once.

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

    def record_of_patient(self, query: Query) -> tuple[Person, Record]:
        """The record of the patient a search names (``patient`` or ``patient.identifier``)."""
        patient = query.single("patient")
        identifier = query.single("patient.identifier")
        if (patient is None) == (identifier is None):
            raise FhirError(400, "required", "name the patient: either patient or patient.identifier (not both)",
                            expression="patient")
        if patient is not None:
            person_id = reference_id(patient, "Patient", self.base)
            person = self.session.get(Person, person_id) if person_id else None
        else:
            assert identifier is not None
            system, _, value = identifier.rpartition("|")
            if system and system != systems.NATIONAL_NUMBER:
                raise FhirError(400, "not-supported", f"patient identifiers use the system {systems.NATIONAL_NUMBER}",
                                expression="patient.identifier")
            person = self.session.scalars(select(Person).where(Person.national_number == value)).first()
        return self.record_of(person)

    def record_of(self, person: Person | None) -> tuple[Person, Record]:
        record = (
            self.session.scalars(select(Record).where(Record.person_id == person.id)).first() if person else None
        )
        bound = self.caller.patient
        # A person's app is bound to the record it was approved for (SMART patient/ scopes): another
        # person does not exist for it.
        if person is None or record is None or (bound is not None and person.id != bound.id):
            raise unknown_patient()
        return person, record


class Api:
    def __init__(self, platform: Platform, tokens: Tokens) -> None:
        self.platform = platform
        self.tokens = tokens
        self.base = platform.settings.public_base_url.rstrip("/") + "/fhir"

    @contextmanager
    def unit(self, request: Request, resource: str, permission: str) -> Iterator[Unit]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FhirError(401, "login", "a bearer access token is required (SMART Backend Services)",
                            headers=CHALLENGE)
        with self.platform.transaction() as session:
            try:
                caller = self.tokens.verify(session, token.strip())
            except TokenInvalid as invalid:
                raise FhirError(401, "login", str(invalid),
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
            if not caller.allows(resource, permission):
                raise FhirError(403, "forbidden", f"the token's scopes do not allow "
                                f"{caller.scopes[0].context}/{resource}.{permission}",
                                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
            actor = caller.actor(session)
            context = RequestContext(request_id=str(uuid.uuid4()), client_software=caller.software)
            access = RecordAccess(session=session, platform=self.platform, actor=actor, request=context)
            yield Unit(session=session, caller=caller, access=access, base=self.base)
