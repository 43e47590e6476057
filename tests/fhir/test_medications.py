"""ePrescription and eDispensation over ITI-65: a prescription (MedicationRequest) and a dispensation
(MedicationDispense) deposited as FHIR documents, indexed by ATC code, searchable, rendered in the reader's language;
who may deposit a dispensation follows the rights matrix."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

from sqlalchemy import select

from opendsp.demo.clinical import AMOXICILLIN, CONDITIONS
from opendsp.demo.fhir import AuthorInfo, Ids, PatientInfo, Prescribed, dispensation, prescription
from opendsp.documents.models import Document
from opendsp.documents.types import DocumentType
from opendsp.fhir.structured import parse_document, render_html
from opendsp.fhir.systems import ATC, LU_MEDICINAL_PRODUCT
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.structured.models import StructuredEntry
from tests.factories import as_holder, make_organisation, make_professional
from tests.fhir.conftest import Fhir, World, provide_bundle, register, valid

LOINC = "http://loinc.org"
PATIENT = PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1))
DOCTOR = AuthorInfo("L123", "Hoffmann", "Jean", "ORG1", "Hôpital Demo")
PHARMACY = AuthorInfo("P9", "Kieffer", "Lis", "ORG9", "Pharmacie du Centre")
STATIN = CONDITIONS["hyperlipidaemia"].medicine


def provide(fhir: Fhir, world: World, token: str, bundle: dict[str, Any], type_code: str) -> Any:
    return fhir.post("/fhir/", token, provide_bundle(
        world.person_id, content=json.dumps(bundle).encode(), media_type="application/fhir+json",
        type_coding={"system": LOINC, "code": type_code}))


def search(fhir: Fhir, token: str, path: str) -> list[dict[str, Any]]:
    response = fhir.get(path, token)
    assert response.status_code == 200, response.text
    return [valid(entry["resource"]) for entry in valid(response.json()).get("entry", [])]


def test_a_prescription_and_its_dispensation_over_iti_65_indexed_searchable_and_rendered(
        platform: Platform, world: World, fhir: Fhir) -> None:
    gp = fhir.token(world.software["hospital"], world.gp, "system/*.cruds")
    ordered = prescription(Ids(random.Random(7)), patient=PATIENT, author=DOCTOR, day=date(2025, 3, 1),
                           language="fr", title="Ordonnance",
                           items=[Prescribed(AMOXICILLIN, "0712345", (2, "boîte")), Prescribed(STATIN)])
    response = provide(fhir, world, gp, ordered, "57833-6")
    assert response.status_code == 200, response.text
    prescription_id = valid(response.json())["entry"][1]["response"]["location"].split("/")[1]

    with platform.transaction() as session:
        pharmacy = make_organisation(session, platform, OrganisationKind.pharmacy, name="Pharmacie du Centre")
        pharmacist = make_professional(session, platform, profession="pharmacist", specialties=(),
                                       organisation=pharmacy, family_name="Kieffer")
        as_holder(session, platform, session.get(Record, world.record.id)).add_to_circle(world.record.id,
                                                                                         pharmacist.id)
    software = register(platform, pharmacy, "Pharmacy software")
    handed = dispensation(Ids(random.Random(8)), patient=PATIENT, author=PHARMACY, day=date(2025, 3, 2),
                          language="fr", title="Délivrance", items=[Prescribed(AMOXICILLIN, "0712345", (2, "boîte"))])
    at_pharmacy = fhir.token(software, pharmacist, "system/*.cruds")
    response = provide(fhir, world, at_pharmacy, handed, "60593-1")
    assert response.status_code == 200, response.text
    dispensation_id = valid(response.json())["entry"][1]["response"]["location"].split("/")[1]

    with platform.sessions() as session:
        documents = {str(d.id): d.type for d in session.scalars(
            select(Document).where(Document.record_id == world.record.id))}
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)
                                       .where(StructuredEntry.record_id == world.record.id)))
    assert documents[prescription_id] is DocumentType.prescription
    assert documents[dispensation_id] is DocumentType.dispensation
    assert kinds == ["MedicationDispense", "MedicationRequest", "MedicationRequest"]

    patient = f"Patient/{world.person_id}"
    requests = search(fhir, gp, f"/fhir/MedicationRequest?patient={patient}&code={ATC}|{AMOXICILLIN.atc}")
    assert len(requests) == 1 and requests[0]["authoredOn"] == "2025-03-01"
    assert requests[0]["meta"]["source"].endswith(f"/DocumentReference/{prescription_id}")
    assert len(search(fhir, gp, f"/fhir/MedicationRequest?patient={patient}&code={LU_MEDICINAL_PRODUCT}|0712345")) == 1
    assert len(search(fhir, gp, f"/fhir/MedicationRequest?patient={patient}&date=ge2025-01-01")) == 2
    dispensed = search(fhir, at_pharmacy, f"/fhir/MedicationDispense?patient={patient}&code={AMOXICILLIN.atc}")
    assert len(dispensed) == 1 and dispensed[0]["quantity"]["value"] == 2
    # The pharmacist consults prescriptions; an outsider to the record is refused.
    assert len(search(fhir, at_pharmacy, f"/fhir/MedicationRequest?patient={patient}")) == 2
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/*.s")
    assert fhir.get(f"/fhir/MedicationRequest?patient={patient}", outsider).status_code == 403

    # Rendered in the reader's language: the medicine's words, the dates in their format.
    bundle = parse_document(json.dumps(handed).encode())
    assert bundle is not None
    german = render_html(bundle, "de")
    assert "abgegeben am 2.3.2025" in german and "Menge 2 boîte" in german
    ordered_only_coded = json.loads(json.dumps(ordered))
    for entry in ordered_only_coded["entry"]:
        entry["resource"].get("medicationCodeableConcept", {}).pop("text", None)
    assert "Amoxicilline" in render_html(ordered_only_coded, "fr") and "Atorvastatin" in render_html(
        ordered_only_coded, "de")


def test_only_a_pharmacist_deposits_a_dispensation(platform: Platform, world: World, fhir: Fhir) -> None:
    gp = fhir.token(world.software["hospital"], world.gp, "system/*.cruds")
    handed = dispensation(Ids(random.Random(9)), patient=PATIENT, author=DOCTOR, day=date(2025, 3, 2),
                          language="fr", title="Délivrance", items=[Prescribed(AMOXICILLIN)])
    refused = provide(fhir, world, gp, handed, "60593-1")
    assert refused.status_code == 403, refused.text
    with platform.sessions() as session:
        assert session.scalars(select(Document).where(Document.record_id == world.record.id)).all() == []
