"""PDQm (ITI-78): exact demographics only, a limited number of lookups per professional, and every person
found has the lookup in their own record's trace.

The rights matrix of this module allows 3 lookups an hour, so that the limit is reached quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.policy.matrix import DEFAULT_MATRIX
from opendsp.settings import Settings
from opendsp.trace.models import Outcome, TraceEntry
from tests.factories import as_holder
from tests.fhir.conftest import Fhir, World, valid

LOOKUPS_PER_HOUR = 3
NATIONAL = "urn:oid:1.3.182.4.4"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    matrix = tmp_path / "rights.yaml"
    text = DEFAULT_MATRIX.read_text()
    assert "patient_lookups_per_hour: 60" in text
    matrix.write_text(text.replace("patient_lookups_per_hour: 60", f"patient_lookups_per_hour: {LOOKUPS_PER_HOUR}"))
    yield Settings(var_dir=tmp_path / "var", database_url=database_url, rights_matrix=matrix)


BROWSING = [
    ("a birth date after a prefix", "family=Schmit&birthdate=ge1900-01-01"),
    ("a birth date other than one", "family=Schmit&birthdate=ne1980-05-17"),
    ("a birth date starting after", "family=Schmit&birthdate=sa1900-01-01"),
    ("an approximate birth date", "family=Schmit&birthdate=ap1980-05-17"),
    ("a birth year", "family=Schmit&birthdate=1980"),
    ("a birth month", "family=Schmit&birthdate=1980-05"),
    ("a family name containing", "family:contains=mi&birthdate=1980-05-17"),
    ("a name containing", "name:contains=a&birthdate=1980-05-17"),
    ("a name missing", "family:missing=false&birthdate=1980-05-17"),
    ("several names at once", "family=Schmit,Muller,Weber&birthdate=1980-05-17"),
    ("several birth dates at once", "family=Schmit&birthdate=1980-05-17,1980-05-18"),
    ("one letter of a name", "family=S&birthdate=1980-05-17"),
    ("an identifier modifier", f"identifier:contains={NATIONAL}|1980"),
    ("several identifiers at once", f"identifier={NATIONAL}|1980051700001,{NATIONAL}|1980051700002"),
    ("a name without birth date", "family=Schmit"),
    ("a gender alone", "gender=female"),
]


@pytest.mark.parametrize("query", [q for _, q in BROWSING], ids=[c for c, _ in BROWSING])
def test_lookups_that_would_browse_the_population_are_refused_with_a_clear_400(
    platform: Platform, world: World, fhir: Fhir, query: str
) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.s")
    response = fhir.get(f"/fhir/Patient?{query}", token)
    assert response.status_code == 400, response.text
    issue = valid(response.json())["issue"][0]
    assert issue["severity"] == "error" and issue["diagnostics"]
    with platform.sessions() as session:  # refused before any lookup: nothing counted, nobody's trace touched
        assert not session.scalars(select(TraceEntry).where(TraceEntry.action == "patients.search")).all()


def test_names_match_whole_not_by_their_beginning(world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.s")
    whole = valid(fhir.get("/fhir/Patient?family=SCHMIT&birthdate=1980-05-17", token).json())
    start = valid(fhir.get("/fhir/Patient?family=Schm&birthdate=1980-05-17", token).json())
    exact = valid(fhir.get("/fhir/Patient?family:exact=Schmit&birthdate=1980-05-17", token).json())
    assert str(world.person_id) in [e["resource"]["id"] for e in whole["entry"]]
    assert start["total"] == 0
    assert exact["total"] == whole["total"]


def test_a_lookup_is_in_the_trace_of_the_person_found(platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.rs")
    found = fhir.get(f"/fhir/Patient?identifier={NATIONAL}|{world.national_number}", token)
    assert valid(found.json())["total"] == 1
    with platform.sessions() as session:
        theirs = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(world.record.id),
                                                          TraceEntry.action == "patients.search")).all()
    assert len(theirs) == 1
    assert (theirs[0].actor_id, theirs[0].outcome, theirs[0].basis) == (
        str(world.outsider.id), Outcome.permitted, "licensed_professional")
    assert theirs[0].context["criteria"] == {"identifier": [f"{NATIONAL}|{world.national_number}"]}


def test_a_person_who_blocked_the_professional_is_not_found_and_sees_the_attempt(
    platform: Platform, world: World, fhir: Fhir
) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, world.record).block(world.record.id, world.outsider.id)
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.rs")
    found = valid(fhir.get(f"/fhir/Patient?identifier={NATIONAL}|{world.national_number}", token).json())
    assert found["total"] == 0 and "entry" not in found
    read = fhir.get(f"/fhir/Patient/{world.person_id}", token)
    assert read.status_code == 404
    with platform.sessions() as session:
        theirs = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(world.record.id),
                                                          TraceEntry.action == "patients.search")).all()
    assert [(e.outcome, e.reason) for e in theirs] == [(Outcome.refused, "blocked")] * 2


def test_lookups_are_limited_per_professional_and_hour_counted_in_the_database(
    platform: Platform, world: World, fhir: Fhir, clock: FrozenClock
) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.rs")
    colleague = fhir.token(world.software["hospital"], world.gp, "system/Patient.rs")
    query = f"/fhir/Patient?identifier={NATIONAL}|{world.national_number}"
    for _ in range(LOOKUPS_PER_HOUR):
        assert fhir.get(query, token).status_code == 200
    limited = fhir.get(query, token)
    assert limited.status_code == 429
    issue = valid(limited.json())["issue"][0]
    assert issue["code"] == "throttled" and "too many patient lookups" in issue["diagnostics"]
    assert fhir.get(f"/fhir/Patient/{world.person_id}", token).status_code == 429
    assert fhir.get(query, colleague).status_code == 200  # counted per professional
    clock.advance(timedelta(hours=1))
    again = fhir.token(world.software["hospital"], world.outsider, "system/Patient.rs")
    assert fhir.get(query, again).status_code == 200
    with platform.sessions() as session:
        refused = session.scalars(select(TraceEntry).where(
            TraceEntry.action == "patients.search", TraceEntry.reason == "too_many_lookups")).all()
    assert len(refused) == 2 and all(e.record_id is None for e in refused)
