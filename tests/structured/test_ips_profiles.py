"""Every structured document the platform builds conforms to the International Patient Summary profiles
(hl7.fhir.uv.ips 2.0.0) where one exists: the patient summary as an IPS document (Bundle-uv-ips, Composition-uv-ips),
and in every other document each resource with an IPS profile for its type (docs/fhir.md, "Profiles").

The profiles are read from the published package (scripts/fetch-ips-package.sh unpacks it in var/fhir-packages/);
the checker is tests/structured/ips_profiles.py (docs/adr/0039-ips-profile-validation.md)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from opendsp.demo.clinical import ALLERGIES, AMOXICILLIN, ANALYTES, CONDITIONS, VACCINES
from opendsp.demo.fhir import (
    AuthorInfo,
    DischargeContent,
    Ids,
    ImagingContent,
    LabResult,
    PatientInfo,
    Prescribed,
    SummaryContent,
    discharge_report,
    dispensation,
    imaging_report,
    laboratory_report,
    patient_summary,
    prescription,
)
from opendsp.demo.plan import make_plan
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.structured.declared import Declaration, Holder, declared_vaccination

pytest.importorskip("fhirpathpy", reason="fhirpathpy (the FHIRPath engine for the profiles' invariants) is not "
                                         "installed")
from tests.structured.ips_profiles import IPS, PACKAGE, VERSION, Profiles, matches, package_directory  # noqa: E402

if not (package_directory() / "StructureDefinition-Bundle-uv-ips.json").is_file():
    pytest.skip(f"the {PACKAGE} {VERSION} package is not unpacked in {package_directory()}: run "
                "scripts/fetch-ips-package.sh (it needs the npm registry)", allow_module_level=True)

PATIENT = PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1))
AUTHOR = AuthorInfo("L123", "Muller", "Jean", "ORG1", "Labo Demo")
DAY = date(2025, 3, 4)


def summary(content: SummaryContent | None = None) -> dict[str, Any]:
    content = content or SummaryContent(
        allergies=[ALLERGIES[0][0]],
        conditions=[(CONDITIONS["hypertension"], date(2020, 5, 1))],
        medicines=[(AMOXICILLIN, date(2025, 2, 1))],
        immunizations=[(VACCINES["influenza"], date(2024, 10, 15), "AB12")])
    return patient_summary(Ids(random.Random(3)), patient=PATIENT, author=AUTHOR, day=DAY, language="en",
                           title="Patient summary", content=content)


def laboratory() -> dict[str, Any]:
    results = [LabResult(ANALYTES["haemoglobin"], 11.0, 12.0, 16.0, "L"),
               LabResult(ANALYTES["platelets"], 250, 150, 400, "N")]
    return laboratory_report(Ids(random.Random(1)), patient=PATIENT, author=AUTHOR, day=DAY, language="fr",
                             title="Bilan sanguin", results=results)


def imaging() -> dict[str, Any]:
    content = ImagingContent(examination=("36643-5", "XR Chest 2 Views"), modality=("CR", "Computed Radiography"),
                             body_site=("51185008", "Thoracic structure"), study_uid="1.2.826.0.1.3680043.8.498.1",
                             accession_number="ACC-1", series=2, instances=4, conclusion="Opacité basale droite.",
                             conclusion_code=("233604007", "Pneumonia"))
    return imaging_report(Ids(random.Random(7)), patient=PATIENT, author=AUTHOR, day=DAY, language="fr",
                          title="Radiographie du thorax", content=content)


def discharge() -> dict[str, Any]:
    content = DischargeContent(admission=date(2025, 3, 1), discharge=DAY, reason="Douleurs abdominales.",
                               course="Appendicite opérée.", procedures=[(("6025007", "Laparoscopic appendectomy"),
                                                                          date(2025, 3, 1))],
                               medicines=[AMOXICILLIN], follow_up="Contrôle dans 3 semaines.")
    return discharge_report(Ids(random.Random(8)), patient=PATIENT, author=AUTHOR, language="fr",
                            title="Lettre de sortie", content=content)


def prescribed() -> dict[str, Any]:
    return prescription(Ids(random.Random(5)), patient=PATIENT, author=AUTHOR, day=DAY, language="de",
                        title="Ordonnance", items=[Prescribed(AMOXICILLIN, "0123456", (2, "box"))])


def dispensed() -> dict[str, Any]:
    return dispensation(Ids(random.Random(6)), patient=PATIENT, author=AUTHOR, day=DAY, language="pt",
                        title="Délivrance", items=[Prescribed(AMOXICILLIN, None, (1, "box"))])


def declared() -> dict[str, Any]:
    """A vaccination the holder declares (reported, not recorded by a professional)."""
    ids = Ids(random.Random(9))
    declaration = Declaration(vaccine_code=None, vaccine_text="Tetanus booster", given=date(2019, 6, 3), dose=2,
                              lot_number="LOT-7", place="Pharmacie du Centre")
    holder = Holder(PATIENT.national_number, PATIENT.family_name, PATIENT.given_name, PATIENT.sex,
                    PATIENT.birth_date)
    return declared_vaccination(declaration, holder=holder, title="Vaccination", language="fr",
                                moment="2025-03-04T10:00:00+01:00", new_id=ids.new)


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "patient summary": summary, "laboratory report": laboratory, "imaging report": imaging,
    "discharge report": discharge, "prescription": prescribed, "dispensation": dispensed,
    "declared vaccination": declared,
}
# The IPS profile each resource type follows in every document; an Observation's depends on the document.
BY_TYPE = {kind: f"{IPS}{kind}-uv-ips" for kind in (
    "Patient", "Practitioner", "PractitionerRole", "Organization", "AllergyIntolerance", "Condition",
    "MedicationStatement", "MedicationRequest", "Medication", "Immunization", "Procedure", "DiagnosticReport",
    "ImagingStudy", "Specimen", "Device")}
OBSERVATIONS = {"laboratory report": f"{IPS}Observation-results-laboratory-pathology-uv-ips",
                "imaging report": f"{IPS}Observation-results-radiology-uv-ips"}


@pytest.fixture(scope="module")
def profiles() -> Profiles:
    return Profiles(package_directory())


def profiled_resources(name: str, bundle: dict[str, Any]) -> list[tuple[int, dict[str, Any], str]]:
    out = []
    for index, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        kind = resource["resourceType"]
        url = OBSERVATIONS.get(name) if kind == "Observation" else BY_TYPE.get(kind)
        if url:
            out.append((index, resource, url))
    return out


def test_the_package_is_the_published_one_with_the_profiles_named_in_the_docs(profiles: Profiles) -> None:
    named = set(BY_TYPE.values()) | set(OBSERVATIONS.values()) | {f"{IPS}Bundle-uv-ips", f"{IPS}Composition-uv-ips"}
    assert named <= set(profiles.trees), named - set(profiles.trees)


def _examples() -> list[str]:
    return sorted(path.name for path in (package_directory() / "example").glob("*.json"))


@pytest.mark.parametrize("example", _examples())
def test_the_guide_s_own_examples_conform_to_the_profiles_they_claim(profiles: Profiles, example: str) -> None:
    """The checker finds nothing wrong in what HL7 publishes as conformant: no false failure."""
    resource = json.loads((package_directory() / "example" / example).read_text(encoding="utf-8"))
    claimed = [url.partition("|")[0] for url in resource.get("meta", {}).get("profile", [])]
    claimed = [url for url in claimed if url in profiles.trees] or (
        [f"{IPS}Bundle-uv-ips"] if resource["resourceType"] == "Bundle" else [])
    assert claimed, f"{example} claims no profile of the package"
    assert [failure for url in claimed for failure in profiles.validate(resource, url)] == []


def test_the_patient_summary_is_an_ips_document(profiles: Profiles) -> None:
    bundle = summary()
    assert profiles.validate(bundle, f"{IPS}Bundle-uv-ips") == []
    assert profiles.validate(bundle["entry"][0]["resource"], f"{IPS}Composition-uv-ips", bundle=bundle) == []


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_resource_of_every_structured_document_follows_its_ips_profile(profiles: Profiles,
                                                                            name: str) -> None:
    bundle = BUILDERS[name]()
    checked = profiled_resources(name, bundle)
    assert checked, "a structured document with no resource an IPS profile covers"
    failures = [f"entry[{index}] {url.rsplit('/', 1)[1]}: {failure}" for index, resource, url in checked
                for failure in profiles.validate(resource, url, bundle=bundle)]
    assert failures == []


# The demo's document types and the builder each is made by (the demo's imaging reports are structured one in two).
DEMO_BUILDERS = {DocumentType.patient_summary: "patient summary", DocumentType.laboratory_report: "laboratory report",
                 DocumentType.imaging_report: "imaging report", DocumentType.prescription: "prescription",
                 DocumentType.dispensation: "dispensation", DocumentType.discharge_letter: "discharge report"}


def test_every_structured_document_of_the_demo_follows_its_profiles(profiles: Profiles) -> None:
    """The demo's persons give the builders varied content: many conditions, allergies, vaccines, analytes."""
    plan = make_plan(20260101)
    seen: dict[str, int] = {}
    failures: list[str] = []
    for person, documents in plan.documents.items():
        for number, document in enumerate(documents):
            if document.media_type != FHIR_MEDIA_TYPE:
                continue
            name = DEMO_BUILDERS[document.type]
            seen[name] = seen.get(name, 0) + 1
            bundle = json.loads(document.content)
            checked = [(f"{IPS}Bundle-uv-ips", bundle)] if name == "patient summary" else []
            checked += [(url, resource) for _index, resource, url in profiled_resources(name, bundle)]
            failures += [f"person {person} document {number} ({name}): {failure}"
                         for url, resource in checked for failure in profiles.validate(resource, url, bundle=bundle)]
    assert failures == []
    assert {"patient summary", "laboratory report", "imaging report", "prescription", "dispensation"} <= set(seen)


def test_an_empty_patient_summary_still_has_the_required_sections_saying_why_they_are_empty(
        profiles: Profiles) -> None:
    bundle = summary(SummaryContent(allergies=[], conditions=[], medicines=[], immunizations=[]))
    assert profiles.validate(bundle, f"{IPS}Bundle-uv-ips") == []


# -- the checker fails where the profiles say so: each failure names its element path ---------------------------


def _without(bundle: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
    bundle = copy.deepcopy(bundle)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == kind:
            entry["resource"].pop(key, None)
    return bundle


def _with(bundle: dict[str, Any], kind: str, key: str, value: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(bundle)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == kind:
            entry["resource"][key] = value
    return bundle


def _sections(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return bundle["entry"][0]["resource"]["section"]


@pytest.mark.parametrize(("spoil", "expected"), [
    (lambda b: {**b, "type": "collection"}, 'Bundle.type: "collection" is not the fixed value "document"'),
    (lambda b: {k: v for k, v in b.items() if k != "identifier"}, "Bundle.identifier: 0 found, at least 1 required"),
    (lambda b: _without(b, "Patient", "name"), ":patient.resource.name: 0 found, at least 1 required"),
    (lambda b: _without(b, "Immunization", "occurrenceDateTime"), ":immunization.resource.occurrence[x]: 0 found"),
    (lambda b: _without(b, "Composition", "subject"), ":composition.resource.subject: 0 found, at least 1 required"),
    (lambda b: _with(b, "Patient", "extension", [{"url": "urn:x", "valueString": "a",
                                                  "extension": [{"url": "urn:y", "valueString": "b"}]}]),
     ":patient.resource.extension[0]: invariant ext-1 fails"),
    (lambda b: _with(_without(b, "Patient", "birthDate"), "Patient", "_birthDate", {"id": "empty"}),
     ":patient.resource.birthDate: invariant ele-1 fails"),
    (lambda b: (_sections(b).pop(0), b)[1], ".section:sectionAllergies: 0 found, at least 1 required"),
    (lambda b: (_sections(b)[1].pop("text", None), _sections(b)[1].pop("entry", None), b)[2], "invariant"),
])
def test_a_spoilt_summary_fails_at_the_element_the_profile_constrains(
        profiles: Profiles, spoil: Callable[[dict[str, Any]], dict[str, Any]], expected: str) -> None:
    bundle = spoil(copy.deepcopy(summary()))
    failures = profiles.validate(bundle, f"{IPS}Bundle-uv-ips")
    assert any(expected in failure for failure in failures), failures


def test_a_laboratory_observation_without_its_category_fails_its_profile(profiles: Profiles) -> None:
    bundle = laboratory()
    observation = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    observation.pop("category", None)
    failures = profiles.validate(observation, OBSERVATIONS["laboratory report"], bundle=bundle)
    assert any(f.startswith("Observation.category") for f in failures), failures


@pytest.mark.parametrize(("profile", "expected"), [
    ("Patient-uv-ips", "Patient.birthDate: 0 found, at least 1 required"),
    ("AllergyIntolerance-uv-ips", "AllergyIntolerance: invariant ait-1 fails"),
    ("Organization-uv-ips", "Organization: invariant org-1 fails"),
    ("Immunization-uv-ips", "Immunization.occurrence[x]: 0 found, at least 1 required"),
    ("MedicationRequest-uv-ips", "MedicationRequest.medication[x]: 0 found, at least 1 required"),
    ("Observation-results-laboratory-pathology-uv-ips", "Observation.category:laboratory: 0 found"),
    ("Observation-results-laboratory-pathology-uv-ips", "Observation: invariant ips-2 fails"),
    ("Observation-results-radiology-uv-ips", "Observation.category:radiology: 0 found"),
    ("DiagnosticReport-uv-ips", "DiagnosticReport.effective[x]: 0 found, at least 1 required"),
    ("ImagingStudy-uv-ips", "ImagingStudy.subject: 0 found, at least 1 required"),
])
def test_a_bare_resource_fails_its_profile_where_the_profile_requires(profiles: Profiles, profile: str,
                                                                      expected: str) -> None:
    failures = profiles.validate({"resourceType": profile.split("-")[0], "id": "x"}, f"{IPS}{profile}")
    assert any(failure.startswith(expected) for failure in failures), failures


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ({"coding": [{"system": "s", "code": "c"}]}, {"coding": [{"system": "x"}, {"system": "s", "code": "c"}]}, True),
    ({"coding": [{"system": "s", "code": "c"}]}, {"coding": [{"system": "s", "code": "d"}]}, False),
    ({"coding": [{"system": "s"}]}, {"text": "s"}, False),
    ("document", "document", True),
])
def test_pattern_matching_follows_fhir(pattern: Any, value: Any, expected: bool) -> None:
    assert matches(pattern, value) is expected
