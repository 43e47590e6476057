"""What every page of the holder's portal stands on: who is looking, at whose record, through the policy.

A person logged in looks at their own record, or at the record of someone
they act for (as assistant or legal representative). Every page opens one
transaction and one ``RecordAccess`` as that actor, so the policy decides
each read and write and the trace records it in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from opendsp.access.services import RecordAccess
from opendsp.accounts import delegations
from opendsp.accounts.models import AccountKind
from opendsp.actors import Actor, ActorKind
from opendsp.persons.models import Person
from opendsp.policy.vocabulary import Action
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.records.services import record_of
from opendsp.trace.vocabulary import RequestContext
from opendsp.web.auth_views import require_viewer
from opendsp.web.security import Viewer


@dataclass
class HolderView:
    session: Session
    access: RecordAccess
    viewer: Viewer
    person: Person  # who is logged in
    holder: Person  # whose record this is
    record: Record

    @property
    def actor(self) -> Actor:
        return self.access.actor

    @property
    def acting_for_someone(self) -> bool:
        return self.holder.id != self.person.id

    @property
    def is_assistant(self) -> bool:
        return self.actor.kind is ActorKind.assistant


def request_context(request: Request) -> RequestContext:
    return RequestContext(request_id=str(uuid.uuid4()), client_software="portal")


@contextmanager
def holder_view(request: Request, platform: Platform) -> Iterator[HolderView]:
    """One transaction on the record the logged-in person is looking at."""
    viewer = require_viewer(request, AccountKind.person)
    with platform.transaction() as session:
        person = session.get(Person, viewer.person_id)
        assert person is not None
        holder_id = viewer.acting_for or person.id
        holder = session.get(Person, holder_id)
        record = record_of(session, holder_id)
        assert holder is not None and record is not None
        access = RecordAccess(
            session=session, platform=platform, actor=delegations.actor_for(session, person, viewer.acting_for, platform=platform),
            request=request_context(request),
        )
        if viewer.acting_for is not None and not access.may(record.id, Action.enter_record):
            # An assistant whose delegation ended, a child come of age: refused (and traced) before any page.
            access.enter(record.id)
        yield HolderView(session=session, access=access, viewer=viewer, person=person, holder=holder, record=record)
