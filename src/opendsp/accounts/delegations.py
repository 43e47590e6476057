"""Acting for someone else: assistants and parents switch between their own record and others'.

Which records a person may act for is the policy's answer to entering each
record their delegations and legal representations name (``RecordAccess.may``,
asked without tracing); the switch itself is decided again through
``RecordAccess.enter`` and traced on the record entered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import InvalidRequest, RecordAccess
from opendsp.accounts.models import Account, AccountKind, WebSession
from opendsp.actors import Actor
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.models import Record
from opendsp.records.services import record_of


@dataclass(frozen=True)
class ActingFor:
    person_id: uuid.UUID
    display: str
    relation: str  # "assistant" or "representative"


def acting_options(session: Session, person: Person, *, platform: Platform) -> list[ActingFor]:
    """The persons whose records ``person`` may act for now: those the policy would let them enter.

    The candidates are read from the delegations and legal representations;
    whether each still holds (an end date passed, a child come of age) is
    ``decide``'s answer to entering the record, asked without acting or
    tracing. The switch itself is decided again, and traced, by ``switch``.
    """
    options: list[ActingFor] = []
    asking = RecordAccess(session=session, platform=platform, actor=actors.holder(person))
    for holder_id in asking.acting_candidates():
        holder, record = session.get(Person, holder_id), record_of(session, holder_id)
        if holder is None or record is None:
            continue
        actor = asking.acting_as(record.id)  # the role the policy lets them enter through, if any
        if actor is not None:
            options.append(ActingFor(holder.id, holder.display_name, actor.kind.value))
    return sorted(options, key=lambda o: o.display)


def _relation(session: Session, person: Person, holder: Person, record: Record) -> str:
    represents = session.scalars(
        select(LegalRepresentation.id).where(
            LegalRepresentation.minor_id == holder.id, LegalRepresentation.representative_id == person.id
        )
    ).first()
    return "representative" if represents else "assistant"


def actor_for(session: Session, person: Person, holder_id: uuid.UUID | None, *,
              platform: Platform | None = None) -> Actor:
    """The actor a person's requests carry: themselves, or acting for someone.

    With the platform, the role is the policy's (``RecordAccess.acting_as``): a former legal representative
    who is also an assistant acts as the assistant. When no role holds any more (or without the platform to
    ask), the relation on file: the policy refuses it, and the refusal is traced."""
    if holder_id is None or holder_id == person.id:
        return actors.holder(person)
    holder = session.get(Person, holder_id)
    record = record_of(session, holder_id)
    assert holder is not None and record is not None
    if platform is not None:
        chosen = RecordAccess(session=session, platform=platform, actor=actors.holder(person)).acting_as(record.id)
        if chosen is not None:
            return chosen
    if _relation(session, person, holder, record) == "representative":
        return actors.representative(person, acting_for=holder)
    return actors.assistant(person, acting_for=holder)


def switch(*, session: Session, platform: Platform, web: WebSession, person: Person, holder_id: uuid.UUID | None) -> Actor:
    """Switch the session to another person's record (the policy decides), or back to one's own."""
    if holder_id is None or holder_id == person.id:
        web.acting_for_person_id = None
        session.flush()
        return actors.holder(person)
    holder = session.get(Person, holder_id)
    record = record_of(session, holder_id) if holder else None
    if holder is None or record is None:
        raise InvalidRequest("no such person")
    actor = actor_for(session, person, holder_id, platform=platform)
    RecordAccess(session=session, platform=platform, actor=actor).enter(record.id)  # AccessDenied, traced
    web.acting_for_person_id = holder.id
    session.flush()
    return actor


def session_actor(session: Session, account: Account, web: WebSession) -> Actor:
    """The actor of a logged-in request, from the account and the session's choices."""
    if account.kind is AccountKind.person:
        person = session.get(Person, account.person_id)
        assert person is not None
        return actor_for(session, person, web.acting_for_person_id)
    if account.kind is AccountKind.professional:
        professional = session.get(Professional, account.professional_id)
        assert professional is not None
        organisation = session.get(Organisation, web.organisation_id) if web.organisation_id else None
        return actors.professional(professional, organisation=organisation)
    return actors.agency(str(account.id), account.display_name, frozenset(account.roles))
