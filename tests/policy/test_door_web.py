"""The rules the portals rely on, one line each: a document named by the holder's side for a change must be one
they see, and the role through which a person acts for someone else's record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from opendsp.actors import ActorKind
from opendsp.policy import Action, Effect, Grants, Reason, decide
from opendsp.policy.decision import acting_role
from opendsp.records.models import RecordState
from tests.policy.scenario import ASSISTANT, HOLDER, MINOR_RECORD, NOW, PARENT, RECORD, document, pid, request

A = Action
DELAYED = document(holder_from=NOW + timedelta(days=1))
NAMED = [
    ("the holder hides a document they see", request(HOLDER, A.manage_access, document=document(),
                                                     names_document=True), Effect.permit, Reason.holder_side),
    ("a document released to the holder later does not exist for them yet",
     request(HOLDER, A.manage_access, document=DELAYED, names_document=True), Effect.deny, Reason.not_found),
    ("an id that is none of the record's documents",
     request(HOLDER, A.manage_access, document=None, names_document=True), Effect.deny, Reason.not_found),
    ("a closed record answers as closed, whatever the id",
     request(HOLDER, A.manage_access, document=None, names_document=True,
             record=replace(RECORD, state=RecordState.closed)), Effect.deny, Reason.record_closed),
    ("a change that names no document (the circle) is not about one",
     request(HOLDER, A.manage_access), Effect.permit, Reason.holder_side),
]


@pytest.mark.parametrize(("rule", "asked", "effect", "reason"), NAMED, ids=[n[0] for n in NAMED])
def test_a_document_named_for_a_change(rule: str, asked, effect: Effect, reason: Reason) -> None:  # type: ignore[no-untyped-def]
    decision = decide(asked)
    assert (decision.effect, decision.reason) == (effect, reason), decision


GROWN = replace(MINOR_RECORD, holder_birth_date=date(2000, 6, 1))
BOTH = Grants(assistants={pid(PARENT): None}, representatives=frozenset({pid(PARENT)}))
ROLES = [
    ("a parent of a minor acts as the representative", MINOR_RECORD, BOTH, ActorKind.representative),
    ("a former representative who is an assistant acts as the assistant", GROWN, BOTH, ActorKind.assistant),
    ("a former representative who is not an assistant acts as nobody", GROWN,
     Grants(representatives=frozenset({pid(PARENT)})), None),
    ("an assistant whose delegation ended acts as nobody", RECORD,
     Grants(assistants={pid(PARENT): NOW - timedelta(days=1)}), None),
]


@pytest.mark.parametrize(("rule", "record", "grants", "role"), ROLES, ids=[r[0] for r in ROLES])
def test_the_role_a_person_acts_for_a_record_through(rule: str, record, grants: Grants,  # type: ignore[no-untyped-def]
                                                     role: ActorKind | None) -> None:
    as_assistant = replace(ASSISTANT, id=PARENT.id)
    requests = {ActorKind.representative: request(PARENT, A.enter_record, record=record, grants=grants),
                ActorKind.assistant: request(as_assistant, A.enter_record, record=record, grants=grants)}
    assert acting_role(requests) is role
