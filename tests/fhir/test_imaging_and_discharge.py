"""Imaging reports (a DiagnosticReport with its ImagingStudy) and discharge reports (sections) over ITI-65:
checked before anything is stored, indexed, searched, out of reach for whoever may not consult them."""

from __future__ import annotations

import copy
import json
import random
import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select

from opendsp.demo.clinical import AMOXICILLIN
from opendsp.demo.fhir import (
    AuthorInfo,
    DischargeContent,
    Ids,
    ImagingContent,
    PatientInfo,
    discharge_report,
    imaging_report,
)
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from opendsp.records.models import Record
from opendsp.structured.models import StructuredEntry
from tests.factories import as_holder, make_professional
from tests.fhir.conftest import Fhir, World, provide_bundle, valid

LOINC = "http://loinc.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
PATIENT = PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1))
RADIOLOGIST = AuthorInfo("L9", "Kremer", "Paul", "ORG1", "Hôpital Demo")
STUDY_UID = "1.2.826.0.1.3680043.8.498.12345"
CHEST = ImagingContent(examination=("36643-5", "XR Chest 2 Views"), modality=("CR", "Computed Radiography"),
                       body_site=("51185008", "Thoracic structure"), study_uid=STUDY_UID, accession_number="ACC-2025-77",
                       series=2, instances=4, conclusion="Opacité basale droite <compatible> avec une pneumonie.",
                       conclusion_code=("233604007", "Pneumonia"))


def imaging_bundle(content: ImagingContent = CHEST) -> dict[str, Any]:
    return imaging_report(Ids(random.Random(7)), patient=PATIENT, author=RADIOLOGIST, day=date(2025, 3, 4),
                          language="fr", title="Radiographie du thorax", content=content)


def discharge_bundle(reason: str = "Douleurs abdominales aiguës depuis 24 heures.") -> dict[str, Any]:
    content = DischargeContent(
        admission=date(2025, 3, 1), discharge=date(2025, 3, 4), reason=reason,
        course="Appendicite aiguë opérée le jour de l'admission ; suites simples.",
        procedures=[(("6025007", "Laparoscopic appendectomy"), date(2025, 3, 1))],
        medicines=[AMOXICILLIN], follow_up="Consultation de contrôle chez le chirurgien dans 3 semaines.")
    return discharge_report(Ids(random.Random(8)), patient=PATIENT, author=RADIOLOGIST, language="fr",
                            title="Lettre de sortie", content=content)


def test_both_builders_write_valid_fhir() -> None:
    from opendsp.fhir.validation import validate

    for bundle in (imaging_bundle(), discharge_bundle()):
        validate(bundle, ["Bundle"])  # FHIR R4 (4.0.1) and R4B, as the API checks every resource


def radiologist(platform: Platform, world: World) -> Professional:
    with platform.transaction() as session:
        doctor = make_professional(session, platform, organisation=world.hospital, specialties=("radiology",),
                                   family_name="Kremer")
        as_holder(session, platform, session.get(Record, world.record.id)).add_to_circle(world.record.id, doctor.id)
        session.expunge(doctor)
        return doctor


def submit(fhir: Fhir, world: World, token: str, bundle: dict[str, Any] | bytes, code: str) -> Any:
    content = bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode()
    return fhir.post("/fhir/", token, provide_bundle(world.person_id, content=content,
                                                     media_type="application/fhir+json",
                                                     type_coding={"system": LOINC, "code": code}))


def stored(platform: Platform) -> tuple[int, int]:
    with platform.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Document)) or 0,
                session.scalar(select(func.count()).select_from(StructuredEntry)) or 0)


def test_an_imaging_report_is_deposited_indexed_and_searched_by_modality_and_body_site(
        platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], radiologist(platform, world), "system/*.cruds")
    response = submit(fhir, world, token, imaging_bundle(), "18748-4")
    assert response.status_code == 200, response.text
    document_id = valid(response.json())["entry"][1]["response"]["location"].split("/")[1]

    with platform.sessions() as session:
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)
                                       .where(StructuredEntry.document_id == uuid.UUID(document_id))).all())
    assert kinds == ["DiagnosticReport", "ImagingStudy"]

    gp = fhir.token(world.software["hospital"], world.gp, "system/*.s")
    patient = f"Patient/{world.person_id}"
    for query, total in ((f"code={DCM}|CR", 1), (f"code={SNOMED}|51185008", 1), ("code=MR", 0),
                         ("date=ge2025-03-01", 1), ("date=lt2025-03-01", 0)):
        response = fhir.get(f"/fhir/ImagingStudy?patient={patient}&{query}", gp)
        assert response.status_code == 200, response.text
        assert valid(response.json())["total"] == total, query
    study = valid(fhir.get(f"/fhir/ImagingStudy?patient={patient}", gp).json())["entry"][0]["resource"]
    assert study["identifier"][0]["value"] == f"urn:oid:{STUDY_UID}"
    assert study["subject"] == {"reference": patient}
    report = valid(fhir.get(f"/fhir/DiagnosticReport?patient={patient}&code={LOINC}|36643-5", gp).json())
    assert report["total"] == 1
    # The report's reference to its study is served as a reference to the served ImagingStudy.
    assert report["entry"][0]["resource"]["imagingStudy"] == [{"reference": f"ImagingStudy/{study['id']}"}]


def test_an_imaging_report_without_its_study_is_refused_and_nothing_is_stored(
        platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], radiologist(platform, world), "system/*.cruds")
    before = stored(platform)
    good = imaging_bundle()

    without_study = copy.deepcopy(good)
    without_study["entry"] = [e for e in without_study["entry"] if e["resource"]["resourceType"] != "ImagingStudy"]
    without_study["entry"][0]["resource"]["section"][0]["entry"] = [
        ref for ref in without_study["entry"][0]["resource"]["section"][0]["entry"]
        if any(e["fullUrl"] == ref["reference"] for e in without_study["entry"])]
    no_reference = copy.deepcopy(good)
    for entry in no_reference["entry"]:
        entry["resource"].pop("imagingStudy", None)
    elsewhere = copy.deepcopy(good)
    for entry in elsewhere["entry"]:
        if "imagingStudy" in entry["resource"]:
            entry["resource"]["imagingStudy"] = [{"reference": "https://pacs.example.org/fhir/ImagingStudy/1"}]
    not_a_study = copy.deepcopy(good)
    for entry in not_a_study["entry"]:
        if "imagingStudy" in entry["resource"]:
            entry["resource"]["imagingStudy"] = [{"reference": not_a_study["entry"][1]["fullUrl"]}]  # the Patient
    no_report = copy.deepcopy(good)
    no_report["entry"] = [e for e in no_report["entry"] if e["resource"]["resourceType"] != "DiagnosticReport"]
    not_a_document = {**copy.deepcopy(good), "type": "collection"}
    not_fhir = copy.deepcopy(good)
    for entry in not_fhir["entry"]:
        if entry["resource"]["resourceType"] == "ImagingStudy":
            entry["resource"]["numberOfSeries"] = "two"
            entry["resource"]["series"][0]["bodySite"] = {"coding": [{"code": "51185008"}]}  # R5's shape, not R4's

    for name, bundle in (("without its study", without_study), ("no reference", no_reference),
                         ("a study elsewhere", elsewhere), ("a reference to a Patient", not_a_study),
                         ("no report", no_report), ("not a document", not_a_document),
                         ("not FHIR R4", not_fhir),
                         ("not JSON", b"{not json"), ("not a Bundle", b'{"resourceType": "Patient"}')):
        response = submit(fhir, world, token, bundle, "18748-4")
        assert response.status_code == 422, (name, response.text)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome", name
        text = json.dumps(outcome)
        assert ("ImagingStudy" in text or "DiagnosticReport" in text or "document Bundle" in text
                or "does not validate" in text), (name, text)
        assert stored(platform) == before, name


def test_a_discharge_report_is_deposited_by_hospital_software_and_its_entries_indexed(
        platform: Platform, world: World, fhir: Fhir) -> None:
    token = fhir.token(world.software["hospital"], world.gp, "system/*.cruds")  # a physician of the hospital
    response = submit(fhir, world, token, discharge_bundle(), "18842-5")
    assert response.status_code == 200, response.text
    with platform.sessions() as session:
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)).all())
    assert kinds == ["MedicationStatement", "Procedure"]
    found = valid(fhir.get(f"/fhir/Procedure?patient=Patient/{world.person_id}&code={SNOMED}|6025007", token).json())
    assert found["total"] == 1 and found["entry"][0]["resource"]["performedDateTime"] == "2025-03-01"

    before = stored(platform)
    no_sections = discharge_bundle()
    no_sections["entry"][0]["resource"].pop("section")
    for bundle in (no_sections, b"[]"):
        refused = submit(fhir, world, token, bundle, "18842-5")
        assert refused.status_code == 422, refused.text
        assert stored(platform) == before


def test_who_may_not_consult_them_gets_the_answer_of_an_unknown_id(platform: Platform, world: World,
                                                                    fhir: Fhir) -> None:
    radiology = fhir.token(world.software["hospital"], radiologist(platform, world), "system/*.cruds")
    imaging = submit(fhir, world, radiology, imaging_bundle(), "18748-4").json()["entry"][1]["response"]["location"]
    discharge = submit(fhir, world, fhir.token(world.software["hospital"], world.gp), discharge_bundle(),
                       "18842-5").json()["entry"][1]["response"]["location"]
    with platform.transaction() as session:
        pharmacist = make_professional(session, platform, profession="pharmacist", specialties=(),
                                       organisation=world.hospital, family_name="Apotheker")
        as_holder(session, platform, session.get(Record, world.record.id)).add_to_circle(world.record.id,
                                                                                          pharmacist.id)
        session.expunge(pharmacist)
    token = fhir.token(world.software["hospital"], pharmacist, "system/*.rs")
    unknown = fhir.get(f"/fhir/DocumentReference/{uuid.uuid4()}", token)
    for location in (imaging, discharge):
        hidden = fhir.get(f"/fhir/{location.split('/_history')[0]}", token)
        assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json()) == (
            404, unknown.json())
    for kind in ("ImagingStudy", "Procedure"):
        response = fhir.get(f"/fhir/{kind}?patient=Patient/{world.person_id}", token)
        assert response.status_code == 200 and response.json()["total"] == 0


def test_every_door_checks_the_content_not_only_iti_65(platform: Platform, world: World) -> None:
    from opendsp.documents.services import DocumentDraft, DocumentRefused
    from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
    from tests.factories import as_professional

    from opendsp.trace.models import TraceEntry

    def traced() -> int:
        with platform.sessions() as session:
            return session.scalar(select(func.count()).select_from(TraceEntry)) or 0

    doctor = radiologist(platform, world)
    before, entries = stored(platform), traced()
    broken = imaging_bundle()
    for item in broken["entry"]:
        item["resource"].pop("imagingStudy", None)
    for content in (json.dumps(broken).encode(), b"not json"):
        with platform.transaction() as session:
            author = as_professional(session, platform, session.get(Professional, doctor.id))
            draft = DocumentDraft(type=DocumentType.imaging_report, title="Radiographie", care_date=date(2025, 3, 4),
                                  media_type=FHIR_MEDIA_TYPE)
            try:
                author.deposit(world.record.id, draft, [content])
            except DocumentRefused as refused:
                assert "ImagingStudy" in str(refused) or "document Bundle" in str(refused)
            else:
                raise AssertionError("a broken imaging report was stored")
        assert stored(platform) == before
        assert traced() == entries  # refused with the draft: no deposit is traced that did not happen
