"""PDQm patient search, the trace as BALP AuditEvents, the holder's choices as Consents."""

from __future__ import annotations

from sqlalchemy import select

from opendsp.fhir.consent import consents
from opendsp.fhir.mapping import audit_event
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder
from tests.fhir.conftest import Fhir, World, valid
from tests.fhir.test_mhd import deposit


def test_patients_by_national_number_and_by_name_with_birth_date(platform: Platform, world: World,
                                                                  fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.outsider, "system/Patient.rs")
    by_number = fhir.get(f"/fhir/Patient?identifier=urn:oid:1.3.182.4.4|{world.national_number}", token)
    bundle = valid(by_number.json())
    assert bundle["total"] == 1
    patient = bundle["entry"][0]["resource"]
    assert patient["id"] == str(world.person_id)
    assert "address" not in patient and "telecom" not in patient
    assert patient["identifier"][0] == {"use": "official", "system": "urn:oid:1.3.182.4.4",
                                        "value": world.national_number}
    by_name = valid(fhir.get("/fhir/Patient?family=schmit&birthdate=1980-05-17&gender=female", token).json())
    assert str(world.person_id) in [e["resource"]["id"] for e in by_name["entry"]]
    assert valid(fhir.get("/fhir/Patient?family=Schmit&birthdate=1981-05-17", token).json())["total"] == 0
    read = fhir.get(f"/fhir/Patient/{world.person_id}", token)
    assert valid(read.json())["birthDate"] == "1980-05-17"
    with platform.sessions() as session:
        searches = session.scalars(select(TraceEntry).where(TraceEntry.action == "patients.search",
                                                            TraceEntry.record_id.is_(None))).all()
    assert len(searches) == 4 and all(e.actor_id == str(world.outsider.id) for e in searches)
    assert searches[0].context["found"] == [str(world.person_id)]


def test_audit_events_are_the_holders_only_and_professionals_find_no_choices_among_consents(
    world: World, fhir: Fhir
) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/AuditEvent.s system/Consent.s")
    response = fhir.get(f"/fhir/AuditEvent?patient={world.person_id}", token)
    assert response.status_code == 403, response.text
    assert valid(response.json())["issue"][0]["details"]["coding"][0]["code"] == "holder_only"
    # The trusted circle (the GP is in it) is the holder's business: a professional gets the wishes only.
    bundle = valid(fhir.get(f"/fhir/Consent?patient={world.person_id}", token).json())
    assert bundle["total"] == 0


def test_every_trace_entry_maps_to_a_valid_balp_audit_event(platform: Platform, world: World, fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    document_id = deposit(fhir, world, lab)
    gp = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s system/Binary.r")
    fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", gp)
    fhir.get(f"/fhir/Binary/{document_id}", gp, headers={"Accept": "*/*"})
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/DocumentReference.s")
    fhir.get(f"/fhir/DocumentReference?patient={world.person_id}", outsider)
    with platform.sessions() as session:
        entries = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(world.record.id))
                                  .order_by(TraceEntry.seq)).all()
    events = [valid(audit_event(entry, person_id=world.person_id)) for entry in entries]
    read = next(e for e in events if e["action"] == "R")
    assert read["meta"]["profile"] == ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"]
    assert read["outcome"] == "0"
    assert any(a["who"].get("display", "").startswith("Hospital HIS") for a in read["agent"])
    assert {"what": {"reference": f"DocumentReference/{document_id}"}} .items() <= read["entity"][1].items()
    refused = events[-1]
    assert refused["outcome"] == "4" and refused["outcomeDesc"].startswith("no_access")


def test_the_holders_choices_map_to_valid_consents(platform: Platform, world: World) -> None:
    with platform.transaction() as session:
        holder = as_holder(session, platform, world.record)
        holder.block(world.record.id, world.outsider.id)
        holder.set_emergency_allowed(world.record.id, False)
        view = holder.consent_view(world.record.id)
        resources = [valid(c) for c in consents(world.record.id, world.person_id, view, platform.clock.now())]
    provisions = sorted((c["provision"]["type"], c["policyRule"]["coding"][0]["code"]) for c in resources)
    assert provisions == [("deny", "OPTOUT"), ("deny", "OPTOUT"), ("permit", "OPTIN")]
    circle = next(c for c in resources if c["provision"]["type"] == "permit")
    assert circle["provision"]["actor"][0]["reference"]["identifier"]["value"] == world.gp.licence_number


def test_the_organ_donation_wish_is_a_consent_once_stated(platform: Platform, world: World) -> None:
    from datetime import timedelta

    from opendsp.access.wishes import WishKind, WishValue

    with platform.transaction() as session:
        holder = as_holder(session, platform, world.record)
        holder.set_wish(world.record.id, WishKind.organ_donation, WishValue.not_stated)
        unstated = consents(world.record.id, world.person_id, holder.consent_view(world.record.id),
                            platform.clock.now())
        platform.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        holder.set_wish(world.record.id, WishKind.organ_donation, WishValue.yes)
        stated = consents(world.record.id, world.person_id, holder.consent_view(world.record.id),
                          platform.clock.now())
    assert all(c["scope"]["coding"][0]["code"] != "adr" for c in unstated)
    donation = [valid(c) for c in stated if c["scope"]["coding"][0]["code"] == "adr"]
    assert len(donation) == 1 and donation[0]["provision"]["type"] == "permit"
