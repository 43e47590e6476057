"""Creating records and moving them through their states, each act traced."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from opendsp.actors import Actor
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action
from opendsp.records.models import ALLOWED_TRANSITIONS, Record, RecordState, RecordStateChange
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.trace.service import RequestContext, TraceEvent


class TransitionRefused(Exception):
    """The record cannot move to that state from where it is."""


class NoPermit(PermissionError):
    """A state change was attempted without a permit for it."""


class RecordExists(Exception):
    """The person has a record already: one record per person."""


_TRANSITION_ACTIONS = {
    (RecordState.created, RecordState.active): Action.activate_record,
    (RecordState.created, RecordState.closed): Action.close_record,
    (RecordState.active, RecordState.closed): Action.close_record,
    (RecordState.closed, RecordState.active): Action.reopen_record,
}


def trace_event(
    actor: Actor | None,
    action: str,
    *,
    record_id: uuid.UUID | None,
    outcome: Outcome = Outcome.permitted,
    request: RequestContext = RequestContext(),
    party: str = "anonymous",
    party_id: str | None = None,
    **details: object,
) -> TraceEvent:
    """A trace event for ``actor`` with the usual who-for-whom fields filled in.

    Without an actor, the act is an unauthenticated party's: ``party`` says which (``anonymous``, or a
    ``client`` presenting a code), ``party_id`` names it when it can be named.
    """
    return TraceEvent(
        action=action,
        outcome=outcome,
        actor_kind=actor.kind.value if actor else party,
        actor_id=actor.id if actor else party_id,
        actor_display=actor.display if actor else None,
        on_behalf_of=str(actor.on_behalf_of) if actor and actor.on_behalf_of else None,
        record_id=record_id,
        request=request,
        **details,  # type: ignore[arg-type]
    )


def write_trace(
    session: Session,
    platform: Platform,
    action: str,
    *,
    actor: Actor | None,
    record_id: uuid.UUID | None = None,
    outcome: Outcome = Outcome.permitted,
    reason: str | None = None,
    request: RequestContext = RequestContext(),
    party: str = "anonymous",
    party_id: str | None = None,
    context: dict[str, Any] | None = None,
) -> TraceEntry:
    """Write one entry for an act that is not a decision of ``RecordAccess``: the one writer of the others.

    Logins, tokens, client registrations, console searches and platform jobs write through here, on the
    platform chain (``record_id`` None) or on a record's; never a ``TraceEvent`` of their own.
    """
    return platform.trace.append(session, trace_event(
        actor, action, record_id=record_id, outcome=outcome, request=request, party=party, party_id=party_id,
        reason=reason, context=context or {},
    ))


def create_record(*, session: Session, platform: Platform, person: Person, actor: Actor) -> Record:
    """A person's record, named on the person first: the one statement that keeps one record per person.

    ``persons.record_id`` is written only where it is NULL, so of two transactions creating a record for the same
    person the second finds the row taken (after waiting for the first on PostgreSQL) and is refused before it
    writes anything; the unique key on the column stands behind it."""
    now = platform.clock.now()
    record_id = uuid.uuid4()
    claimed = session.execute(
        update(Person).where(Person.id == person.id, Person.record_id.is_(None)).values(record_id=record_id)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise RecordExists(f"person {person.id} has a record already")
    set_committed_value(person, "record_id", record_id)
    record = Record(id=record_id, person_id=person.id, state=RecordState.created, created_at=now)
    session.add(record)
    session.add(RecordStateChange(record_id=record.id, from_state=None, to_state=RecordState.created, changed_at=now))
    platform.trace.start_chain(session, record.id)
    session.flush()
    platform.trace.append(session, trace_event(actor, "record.create", record_id=record.id))
    return record


def change_state(
    *, session: Session, platform: Platform, permit: Decision, record: Record, to_state: RecordState,
    reason: str | None = None,
) -> Record:
    """Move a record to another state; the permit's action must be that move."""
    expected = _TRANSITION_ACTIONS.get((record.state, to_state))
    if expected is None or to_state not in ALLOWED_TRANSITIONS[record.state]:
        raise TransitionRefused(f"a {record.state.value} record cannot become {to_state.value}")
    if not permit.covers(expected, record.id):
        raise NoPermit(f"no permit for {expected.value} on record {record.id}")
    if to_state is not RecordState.closed and _erased(session, record.id):
        raise TransitionRefused("an erased record stays closed")
    now = platform.clock.now()
    from_state = record.state
    if expected is Action.reopen_record:
        record.reopened_at = now
    elif to_state is RecordState.active:
        record.activated_at = now
    else:
        record.closed_at = now
    record.state = to_state
    session.add(
        RecordStateChange(record_id=record.id, from_state=from_state, to_state=to_state, changed_at=now, reason=reason)
    )
    session.flush()
    return record


def _erased(session: Session, record_id: uuid.UUID) -> bool:
    from opendsp.content.models import RecordKey

    key = session.get(RecordKey, record_id)
    return key is not None and key.wrapped_key is None


def record_of(session: Session, person_id: uuid.UUID) -> Record | None:
    """A person's record: the person (often in the session already), then the record by its id."""
    return record_of_person(session, session.get(Person, person_id))


def record_of_person(session: Session, person: Person | None) -> Record | None:
    """The record ``persons.record_id`` names, if it names this person as its holder (the record's row wins)."""
    if person is None or person.record_id is None:
        return None
    record = session.get(Record, person.record_id)
    return record if record is not None and record.person_id == person.id else None
