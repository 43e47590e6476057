"""Over FHIR: the holder's wishes as Consents for a professional with access (search and read, traced, unknown
otherwise), and a document the holder restricted (securityLabel R; absent and unknown for a professional not
named)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from opendsp.access.wishes import WishKind, WishValue
from opendsp.documents.types import ConfidentialityLevel
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.factories import PDF, as_holder, as_professional, make_professional, professional_draft
from tests.fhir.conftest import Fhir, World, valid

SCOPES = "system/Consent.rs system/DocumentReference.rs system/Binary.r"


def _wishes_read(platform: Platform, world: World, actor_id: uuid.UUID) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(
            TraceEntry.chain == str(world.record.id), TraceEntry.action == "wishes.read",
            TraceEntry.actor_id == str(actor_id)).order_by(TraceEntry.seq)))


def test_a_professional_with_access_reads_the_wishes_as_consents(platform: Platform, world: World,
                                                                 fhir: Fhir) -> None:
    with platform.transaction() as session:
        first = as_holder(session, platform, world.record).set_wish(world.record.id, WishKind.organ_donation,
                                                                    WishValue.yes).id
    gp = fhir.token(world.software["hospital"], world.gp, SCOPES)
    bundle = valid(fhir.get(f"/fhir/Consent?patient={world.person_id}", gp).json())
    assert bundle["total"] == 1
    consent = bundle["entry"][0]["resource"]
    assert consent["id"] == str(first) and consent["status"] == "active"
    assert consent["scope"]["coding"][0]["code"] == "adr" and consent["provision"]["type"] == "permit"
    assert consent["patient"] == {"reference": f"Patient/{world.person_id}"}
    read = fhir.get(f"/fhir/Consent/{first}", gp)
    assert read.status_code == 200 and valid(read.json()) == consent
    traced = _wishes_read(platform, world, world.gp.id)
    assert [e.outcome.value for e in traced] == ["permitted", "permitted"] and traced[1].context["wish"] == str(first)

    # A new answer: the search shows it; the earlier one, read by its id, is inactive.
    platform.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    with platform.transaction() as session:
        second = as_holder(session, platform, world.record).set_wish(world.record.id, WishKind.organ_donation,
                                                                     WishValue.no).id
    bundle = valid(fhir.get(f"/fhir/Consent?patient={world.person_id}", gp).json())
    assert [(e["resource"]["id"], e["resource"]["provision"]["type"]) for e in bundle["entry"]] == [
        (str(second), "deny")]
    assert valid(fhir.get(f"/fhir/Consent/{first}", gp).json())["status"] == "inactive"


def test_a_professional_without_access_reads_no_wish(platform: Platform, world: World, fhir: Fhir) -> None:
    with platform.transaction() as session:
        holder = as_holder(session, platform, world.record)
        wish = holder.set_wish(world.record.id, WishKind.organ_donation, WishValue.yes).id
        platform.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]  # answers are ordered by time
        unstated = holder.set_wish(world.record.id, WishKind.organ_donation, WishValue.not_stated).id
    outsider = fhir.token(world.software["hospital"], world.outsider, SCOPES)
    search = fhir.get(f"/fhir/Consent?patient={world.person_id}", outsider)
    assert search.status_code == 403 and "presence_code" in search.text  # told how to obtain access, no wish
    read, unknown = fhir.get(f"/fhir/Consent/{wish}", outsider), fhir.get(f"/fhir/Consent/{uuid.uuid4()}", outsider)
    assert read.status_code == unknown.status_code == 404 and read.json() == unknown.json()
    refused = _wishes_read(platform, world, world.outsider.id)
    assert [e.outcome.value for e in refused] == ["refused", "refused"]  # both traced on the record
    # "Not stated" is no Consent, even for the GP of the circle; a malformed id is none either.
    gp = fhir.token(world.software["hospital"], world.gp, SCOPES)
    assert fhir.get(f"/fhir/Consent/{unstated}", gp).status_code == 404
    assert fhir.get("/fhir/Consent/not-an-id", gp).status_code == 404
    assert valid(fhir.get(f"/fhir/Consent?patient={world.person_id}", gp).json())["total"] == 0
    # A blocked professional: the wishes are as unknown as the person.
    with platform.transaction() as session:
        as_holder(session, platform, world.record).block(world.record.id, world.gp.id)
    blocked = fhir.get(f"/fhir/Consent?patient={world.person_id}", gp)
    assert blocked.status_code == 404 and blocked.json() == fhir.get(
        f"/fhir/Consent?patient={uuid.uuid4()}", gp).json()


def test_a_restricted_document_is_labelled_and_unknown_to_a_professional_not_named(
    platform: Platform, world: World, fhir: Fhir
) -> None:
    with platform.transaction() as session:
        named = make_professional(session, platform, organisation=world.hospital, family_name="Kieffer")
        other = make_professional(session, platform, organisation=world.hospital, family_name="Schmit")
        holder = as_holder(session, platform, world.record)
        for professional in (named, other):
            holder.add_to_circle(world.record.id, professional.id)
        document = as_professional(session, platform, world.gp).deposit(
            world.record.id, professional_draft(title="Consultation de psychiatrie"), [PDF]).id
        holder.set_confidentiality_in(world.record.id, document, ConfidentialityLevel.restricted, named=[named.id])
    search = f"/fhir/DocumentReference?patient={world.person_id}"
    for reader in (named, world.gp):  # the professional named, and the author
        token = fhir.token(world.software["hospital"], reader, SCOPES)
        found = valid(fhir.get(search, token).json())
        assert [e["resource"]["id"] for e in found["entry"]] == [str(document)]
        label = found["entry"][0]["resource"]["securityLabel"][0]["coding"][0]
        assert (label["system"], label["code"]) == ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")
        assert fhir.get(f"/fhir/DocumentReference/{document}", token).status_code == 200
    token = fhir.token(world.software["hospital"], other, SCOPES)
    assert valid(fhir.get(search, token).json())["total"] == 0
    for path in ("DocumentReference", "Binary"):
        hidden = fhir.get(f"/fhir/{path}/{document}", token, headers={"Accept": "application/fhir+json"})
        unknown = fhir.get(f"/fhir/{path}/{uuid.uuid4()}", token, headers={"Accept": "application/fhir+json"})
        assert hidden.status_code == 404 and hidden.json() == unknown.json()
    # Lifted: the other professional of the circle finds it.
    with platform.transaction() as session:
        as_holder(session, platform, world.record).set_confidentiality_in(world.record.id, document,
                                                                          ConfidentialityLevel.normal)
    assert valid(fhir.get(search, token).json())["total"] == 1
