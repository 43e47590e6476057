"""The policy seen through the FHIR API: every case decided by RecordAccess and traced."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.trace.models import Outcome, TraceEntry
from tests.factories import as_holder
from tests.fhir.conftest import Fhir, World, valid
from tests.fhir.test_mhd import deposit


def reason(response) -> str:  # type: ignore[no-untyped-def]
    return valid(response.json())["issue"][0]["details"]["coding"][0]["code"]


def trace(platform: Platform, world: World) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(TraceEntry.chain == str(world.record.id))
                                    .order_by(TraceEntry.seq)))


def test_outside_the_circle_is_refused_and_told_how_to_get_in(platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    assert response.status_code == 403
    outcome = valid(response.json())
    assert outcome["issue"][0]["code"] == "forbidden"
    assert reason(response) == "no_access"
    assert "presence_code" in outcome["issue"][0]["diagnostics"]
    last = trace(platform, world)[-1]
    assert (last.action, last.outcome, last.actor_id) == ("documents.list", Outcome.refused, str(world.outsider.id))


def test_a_presence_code_opens_24_hours(platform: Platform, world: World, fhir: Fhir, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        code = as_holder(session, platform, world.record).regenerate_presence_code(world.record.id)
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.r system/DocumentReference.s")
    wrong = fhir.post(f"/fhir/Patient/{world.person_id}/$presence-code", token,
                      {"resourceType": "Parameters", "parameter": [{"name": "code", "valueString": "AAAA-AAAA"}]})
    assert wrong.status_code == 403 and reason(wrong) == "wrong_presence_code"
    opened = fhir.post(f"/fhir/Patient/{world.person_id}/$presence-code", token,
                       {"resourceType": "Parameters", "parameter": [{"name": "code", "valueString": code}]})
    assert opened.status_code == 200, opened.text
    assert valid(opened.json())["parameter"][0]["name"] == "expires"
    assert fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token).status_code == 200
    clock.advance(timedelta(hours=24))
    later = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    assert fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", later).status_code == 403


def test_emergency_access_with_etreat(platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    deposit(fhir, world, lab)
    treat = fhir.token(world.software["emergency"], world.emergency_doctor, "system/DocumentReference.s")
    assert fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", treat).status_code == 403
    etreat = fhir.token(world.software["emergency"], world.emergency_doctor, "system/DocumentReference.s",
                        purpose_of_use="ETREAT", reason="patient inconscient")
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", etreat)
    assert response.status_code == 200, response.text
    assert valid(response.json())["total"] == 1
    entries = trace(platform, world)[-3:]
    assert [(e.action, e.outcome) for e in entries] == [
        ("documents.list", Outcome.refused), ("emergency.open", Outcome.permitted), ("documents.list", Outcome.permitted)
    ]
    assert entries[-1].basis == "emergency" and entries[-1].context.get("emergency") is True
    # A hospital's software is no emergency department's: it gets no ETREAT token (and the policy would refuse it).
    other = fhir.token_response(world.software["hospital"], world.outsider, "system/DocumentReference.s",
                                purpose_of_use="ETREAT", reason="urgence")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


def test_a_blocked_professional_is_refused_even_in_the_circle(platform: Platform, world: World, fhir: Fhir) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, world.record).block(world.record.id, world.gp.id)
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    # Refused, and told nothing of the holder's choice: the patient does not exist for them.
    assert response.status_code == 404 and valid(response.json())["issue"][0]["diagnostics"] == "no such patient"
    last = trace(platform, world)[-1]
    assert (last.action, last.outcome, last.reason) == ("documents.list", Outcome.refused, "blocked")


def test_a_hidden_document_is_absent_from_results_and_total(platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    shown = deposit(fhir, world, lab, title="Visible")
    hidden = deposit(fhir, world, lab, title="Caché")
    with platform.transaction() as session:
        as_holder(session, platform, world.record).hide(__import__("uuid").UUID(hidden))
    token = fhir.token(world.software["hospital"], world.gp,
                       "system/DocumentReference.rs system/Binary.r system/List.s")
    bundle = valid(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token).json())
    assert bundle["total"] == 1 and [e["resource"]["id"] for e in bundle["entry"]] == [shown]
    assert fhir.get(f"/fhir/DocumentReference/{hidden}", token).status_code == 404
    assert fhir.get(f"/fhir/Binary/{hidden}", token).status_code == 404
    lists = valid(fhir.get(f"/fhir/List?patient={world.person_id}", token).json())
    listed = [e["item"]["reference"] for entry in lists["entry"] for e in entry["resource"]["entry"]]
    assert listed == [f"DocumentReference/{shown}"] and lists["total"] == 1


def test_a_closed_record_refuses_every_professional(platform: Platform, world: World, fhir: Fhir) -> None:
    with platform.transaction() as session:
        as_holder(session, platform, world.record).close(world.record.id)
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.cs")
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    assert response.status_code == 404 and valid(response.json())["issue"][0]["diagnostics"] == "no such patient"
    last = trace(platform, world)[-1]
    assert (last.action, last.outcome, last.reason) == ("documents.list", Outcome.refused, "record_closed")


def test_a_page_link_replayed_by_another_professional_is_decided_for_them(
    platform: Platform, world: World, fhir: Fhir, clock: FrozenClock
) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    for title in ("un", "deux", "trois"):
        deposit(fhir, world, lab, title=title)
        clock.advance(timedelta(seconds=1))
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    page = valid(fhir.get(f"/fhir/DocumentReference?patient={world.person_id}&_count=1", gp).json())
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    replayed = fhir.get(next_url, outsider)
    assert replayed.status_code == 403 and reason(replayed) == "no_access"
    assert fhir.get(next_url, gp).status_code == 200
    last = trace(platform, world)[-2]
    assert (last.actor_id, last.outcome) == (str(world.outsider.id), Outcome.refused)


def test_scopes_bound_what_a_token_may_do(world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/Patient.r")
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    assert response.status_code == 403
    assert "system/DocumentReference.s" in valid(response.json())["issue"][0]["diagnostics"]
    assert fhir.get("/fhir/DocumentReference?patient=x", "not-a-token").status_code == 401
    unauthenticated = fhir.http.get(f"/fhir/DocumentReference?patient={world.person_id}")
    assert unauthenticated.status_code == 401 and unauthenticated.headers["www-authenticate"].startswith("Bearer")
    assert valid(unauthenticated.json())["issue"][0]["code"] == "login"


def test_an_expired_token_is_refused(world: World, fhir: Fhir, clock: FrozenClock) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    clock.advance(timedelta(minutes=5))
    response = fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", token)
    assert response.status_code == 401 and "expired" in valid(response.json())["issue"][0]["diagnostics"]
