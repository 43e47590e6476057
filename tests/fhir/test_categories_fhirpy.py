"""Every new document category driven by a FHIR client written by others (fhirpy), live: the ePrescription, the
eDispensation, the imaging report with its ImagingStudy, the discharge report and the vaccination record are
provided with ITI-65, found by patient, type and EHDS category, read, fetched with their hash checked, and their
structured entries found; a professional without access is answered as ADR 12 says."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, ResourceNotFound

from opendsp.demo.clinical import AMOXICILLIN, VACCINES
from opendsp.demo.fhir import GivenVaccine, Ids, Prescribed, dispensation, prescription, vaccination_record
from opendsp.fhir.systems import EHDS_CATEGORY
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from tests.factories import as_holder, make_organisation, make_professional
from tests.fhir.conftest import World, live_token, provide_bundle, register, valid
from tests.fhir.test_imaging_and_discharge import discharge_bundle, imaging_bundle
from tests.fhir.test_medications import DOCTOR, PATIENT, PHARMACY

LOINC = "http://loinc.org"
ENTRIES = ("MedicationRequest", "MedicationDispense", "ImagingStudy", "DiagnosticReport", "Procedure",
           "MedicationStatement", "Immunization")
SCOPES = " ".join(["system/DocumentReference.crs system/Binary.r system/List.s system/Patient.rs",
                   *(f"system/{kind}.s" for kind in ENTRIES)])


@dataclass(frozen=True)
class Category:
    bundle: Callable[[], dict[str, Any]]
    type_code: str
    ehds: str
    entries: tuple[str, ...]  # the structured resource types the document deposits
    profession: str = "doctor"  # who deposits it: a doctor of the hospital or a pharmacist


def vaccination() -> dict[str, Any]:
    """A vaccination recorded by the professional who gave it (the portal's vaccination form builds the same)."""
    flu = VACCINES["influenza"]
    given = GivenVaccine(vaccine={"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": flu.cvx,
                                              "display": flu.display}]},
                         words=flu.name[0], given=date(2024, 10, 15), dose=1, lot_number="FLU-77")
    return vaccination_record(Ids(random.Random(11)), patient=PATIENT, author=DOCTOR, day=date(2024, 10, 15),
                              language="fr", title="Vaccination", given=given)


CATEGORIES = {
    "ePrescription": Category(lambda: prescription(
        Ids(random.Random(7)), patient=PATIENT, author=DOCTOR, day=date(2025, 3, 1), language="fr",
        title="Ordonnance", items=[Prescribed(AMOXICILLIN, "0712345", (2, "boîte"))]),
        "57833-6", "eprescription", ("MedicationRequest",)),
    "eDispensation": Category(lambda: dispensation(
        Ids(random.Random(8)), patient=PATIENT, author=PHARMACY, day=date(2025, 3, 2), language="fr",
        title="Délivrance", items=[Prescribed(AMOXICILLIN, "0712345", (2, "boîte"))]),
        "60593-1", "eprescription", ("MedicationDispense",), profession="pharmacist"),
    "imaging report": Category(imaging_bundle, "18748-4", "imaging-report", ("DiagnosticReport", "ImagingStudy")),
    "discharge report": Category(discharge_bundle, "18842-5", "discharge-report", ("MedicationStatement", "Procedure")),
    "vaccination record": Category(vaccination, "11369-6", "other", ("Immunization",)),
}


def depositor(served: Platform, world: World, profession: str) -> tuple[str, Professional]:
    """A professional of the record's trusted circle who may deposit the category, with their software."""
    with served.transaction() as session:
        if profession == "pharmacist":
            pharmacy = make_organisation(session, served, OrganisationKind.pharmacy, name="Pharmacie du Centre")
            professional = make_professional(session, served, profession="pharmacist", specialties=(),
                                             organisation=pharmacy, family_name="Kieffer")
        else:
            pharmacy = None
            professional = make_professional(session, served, organisation=world.hospital,
                                             specialties=("radiology",), family_name="Kremer")
        as_holder(session, served, session.get(Record, world.record.id)).add_to_circle(world.record.id,
                                                                                       professional.id)
        session.expunge(professional)
    if pharmacy is None:
        return "hospital", professional
    world.software["pharmacy"] = register(served, pharmacy, "Pharmacy software")
    return "pharmacy", professional


def fhirpy(url: str, served: Platform, world: World, software: str, professional: Professional) -> SyncFHIRClient:
    token = live_token(url, served, world, software, professional, SCOPES)
    return SyncFHIRClient(f"{url}/fhir", authorization=f"Bearer {token}")


def sha1(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode()


@pytest.mark.parametrize("name", list(CATEGORIES))
def test_fhirpy_provides_a_category_and_finds_reads_fetches_and_searches_its_entries(
        server: tuple[str, Platform], world: World, name: str) -> None:
    url, served = server
    category = CATEGORIES[name]
    client = fhirpy(url, served, world, *depositor(served, world, category.profession))
    content = json.dumps(category.bundle()).encode()
    response = client.execute("", method="post", data=provide_bundle(
        world.person_id, content=content, media_type="application/fhir+json",
        type_coding={"system": LOINC, "code": category.type_code}, title=name))
    document_id = valid(response)["entry"][1]["response"]["location"].split("/")[1]

    patient = f"Patient/{world.person_id}"
    documents = client.resources("DocumentReference")
    by_patient = documents.search(patient=patient).fetch_all()
    assert [d.id for d in by_patient] == [document_id]
    by_type = documents.search(patient=patient, type=f"{LOINC}|{category.type_code}").fetch_all()
    assert [d.id for d in by_type] == [document_id]
    by_category = documents.search(patient=patient, category=f"{EHDS_CATEGORY}|{category.ehds}").fetch_all()
    assert [d.id for d in by_category] == [document_id]
    other = "laboratory-result"
    assert documents.search(patient=patient, category=f"{EHDS_CATEGORY}|{other}").fetch_all() == []

    document = valid(client.reference("DocumentReference", document_id).to_resource().serialize())
    assert {"system": EHDS_CATEGORY, "code": category.ehds} in [
        coding for concept in document["category"] for coding in concept["coding"]]
    attachment = document["content"][0]["attachment"]
    assert attachment["hash"] == sha1(content) and attachment["size"] == len(content)
    assert attachment["contentType"] == "application/fhir+json"
    binary_type, binary_id = attachment["url"].split("/")[-2:]
    # Asked for FHIR JSON, a Binary holding a FHIR document is served as that document (FHIR R4 Binary read);
    # asked for plain JSON, as a Binary resource whose bytes carry the hash.
    assert client.reference(binary_type, binary_id).to_resource().serialize() == json.loads(content)
    as_binary = SyncFHIRClient(client.url, authorization=client.authorization,
                               extra_headers={"Accept": "application/json"})
    binary = as_binary.reference(binary_type, binary_id).to_resource()
    assert binary["contentType"] == "application/fhir+json"
    assert sha1(base64.b64decode(binary["data"])) == attachment["hash"]

    capability = client.execute("metadata", method="get")
    served_kinds = {r["type"] for rest in capability["rest"] for r in rest["resource"]}
    for kind in category.entries:
        assert kind in served_kinds, kind
        found = client.resources(kind).search(patient=patient).fetch_all()
        assert found, kind
        for entry in found:
            valid(entry.serialize())
            assert entry["meta"]["source"].endswith(f"/DocumentReference/{document_id}"), kind


def test_fhirpy_of_a_professional_without_access_finds_nothing_and_reads_nothing(
        server: tuple[str, Platform], world: World) -> None:
    url, served = server
    author = fhirpy(url, served, world, *depositor(served, world, "doctor"))
    content = json.dumps(imaging_bundle()).encode()
    response = author.execute("", method="post", data=provide_bundle(
        world.person_id, content=content, media_type="application/fhir+json",
        type_coding={"system": LOINC, "code": "18748-4"}))
    document_id = valid(response)["entry"][1]["response"]["location"].split("/")[1]

    outsider = fhirpy(url, served, world, "hospital", world.outsider)
    patient = f"Patient/{world.person_id}"
    searches = [("DocumentReference", {"patient": patient}),
                ("DocumentReference", {"patient": patient, "category": f"{EHDS_CATEGORY}|imaging-report"}),
                ("DocumentReference", {"patient": patient, "type": f"{LOINC}|18748-4"}),
                *((kind, {"patient": patient}) for kind in ENTRIES)]
    for kind, query in searches:  # the lack of an access basis is told, the same whatever the record holds
        with pytest.raises(ForbiddenError) as refused:
            outsider.resources(kind).search(**query).fetch()
        assert "no_access" in str(refused.value), (kind, query)

    unknown = str(uuid.uuid4())
    for kind in ("DocumentReference", "Binary"):  # a document named by its id answers as an unknown id
        with pytest.raises(ResourceNotFound) as hidden:
            outsider.reference(kind, document_id).to_resource()
        with pytest.raises(ResourceNotFound) as absent:
            outsider.reference(kind, unknown).to_resource()
        assert str(hidden.value).replace(document_id, unknown) == str(absent.value), kind
