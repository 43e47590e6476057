"""What every page of the professional's portal stands on: who acts, for which organisation, through the policy.

A professional logged in acts for one of their organisations (chosen at
``/account``). Every page opens one transaction and one ``RecordAccess`` with
that actor — the same actor the FHIR API builds for their software — so the
policy decides each read and act and the trace records it in the same
transaction. Pages never decide access: they show what the policy permitted,
and turn its refusals into pages that say how access can be obtained.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.accounts.models import AccountKind
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Basis
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.models import Record
from opendsp.trace.vocabulary import RequestContext
from opendsp.web.auth_views import require_viewer
from opendsp.web.security import Viewer

NO_RECORD = N_("There is no such record.")


@dataclass
class Patient:
    """The record a page is about, and how the professional is on it now."""

    record: Record
    person: Person
    permit: Decision | None = None  # the decision that let the professional list the record, if asked
    emergency_until: datetime | None = None  # set while the professional's access is an emergency access

    @property
    def basis(self) -> Basis | None:
        return self.permit.basis if self.permit else None


@dataclass
class ProfessionalView:
    session: Session
    access: RecordAccess
    viewer: Viewer
    professional: Professional
    organisation: Organisation | None

    @property
    def now(self) -> datetime:
        return self.access.now

    def patient(self, record_id: uuid.UUID, permit: Decision | None = None) -> Patient:
        """The record and its holder's identity (the policy decides every act on it)."""
        record = self.session.get(Record, record_id)
        person = self.session.get(Person, record.person_id) if record else None
        if record is None or person is None:
            raise HTTPException(404, NO_RECORD)
        patient = Patient(record=record, person=person, permit=permit)
        if permit is not None:
            # The banner is part of the page's act: read under its permit, neither decided again nor traced.
            patient.emergency_until = self.access.emergency_until(permit)
        return patient


def request_context(request: Request) -> RequestContext:
    return RequestContext(request_id=str(uuid.uuid4()), client_software="portal")


@contextmanager
def professional_view(request: Request, platform: Platform) -> Iterator[ProfessionalView]:
    """One transaction, acting as the logged-in professional for the organisation of their session."""
    viewer = require_viewer(request, AccountKind.professional)
    with platform.transaction() as session:
        professional = session.get(Professional, viewer.professional_id)
        assert professional is not None
        organisation = session.get(Organisation, viewer.organisation_id) if viewer.organisation_id else None
        if organisation is not None and organisation not in professional.organisations:
            organisation = None  # no longer a member: act for no organisation until they choose again
        access = RecordAccess(session=session, platform=platform,
                              actor=actors.professional(professional, organisation=organisation),
                              request=request_context(request))
        yield ProfessionalView(session=session, access=access, viewer=viewer, professional=professional,
                               organisation=organisation)
