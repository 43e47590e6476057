"""Structured documents: FHIR document Bundles deposited, their entries searched, rendered as HTML."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from opendsp.demo.clinical import ALLERGIES, AMOXICILLIN, ANALYTES, CONDITIONS, VACCINES
from opendsp.demo.fhir import (
    AuthorInfo,
    Ids,
    LabResult,
    PatientInfo,
    SummaryContent,
    laboratory_report,
    patient_summary,
)
from opendsp.fhir.structured import out_of_range, render_html
from opendsp.structured.models import StructuredCode, StructuredEntry
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder
from tests.fhir.conftest import Fhir, World, provide_bundle, valid

LOINC = "http://loinc.org"
HAEMOGLOBIN = ANALYTES["haemoglobin"]
PLATELETS = ANALYTES["platelets"]
PATIENT = PatientInfo("1980010112345", "Weber", "Anne", "female", date(1980, 1, 1))
AUTHOR = AuthorInfo("L123", "Muller", "Jean", "ORG1", "Labo Demo")


def lab_bundle(day: date, haemoglobin: float = 11.0) -> dict[str, Any]:
    results = [
        LabResult(HAEMOGLOBIN, haemoglobin, 12.0, 16.0, "L" if haemoglobin < 12 else "N"),
        LabResult(PLATELETS, 250, 150, 400, "N"),
    ]
    return laboratory_report(Ids(random.Random(day.toordinal())), patient=PATIENT, author=AUTHOR, day=day,
                             language="fr", title="Bilan <sanguin>", results=results)


def summary_bundle() -> dict[str, Any]:
    content = SummaryContent(
        allergies=[ALLERGIES[0][0]],
        conditions=[(CONDITIONS["hypertension"], date(2020, 5, 1))],
        medicines=[(AMOXICILLIN, date(2025, 2, 1))],
        immunizations=[(VACCINES["influenza"], date(2024, 10, 15), "AB12")],
    )
    return patient_summary(Ids(random.Random(3)), patient=PATIENT, author=AUTHOR, day=date(2025, 3, 2),
                           language="en", title="Patient summary", content=content)


def deposit(fhir: Fhir, world: World, token: str, bundle: dict[str, Any], type_code: str) -> str:
    content = json.dumps(bundle).encode()
    response = fhir.post("/fhir/", token, provide_bundle(
        world.person_id, content=content, media_type="application/fhir+json",
        type_coding={"system": LOINC, "code": type_code}))
    assert response.status_code == 200, response.text
    return valid(response.json())["entry"][1]["response"]["location"].split("/")[1]


def search(fhir: Fhir, token: str, path: str) -> dict[str, Any]:
    response = fhir.get(path, token)
    assert response.status_code == 200, response.text
    bundle = valid(response.json())
    for entry in bundle.get("entry", []):
        valid(entry["resource"])
    return bundle


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def test_structured_entries_are_indexed_searched_and_follow_the_policy(platform: Platform, world: World,
                                                                       fhir: Fhir) -> None:
    lab = fhir.token(world.software["lab"], world.biologist, "system/DocumentReference.c")
    march = deposit(fhir, world, lab, lab_bundle(date(2025, 3, 1)), "11502-2")
    january = deposit(fhir, world, lab, lab_bundle(date(2024, 1, 10), 14.0), "11502-2")
    with platform.transaction() as session:
        record = session.get(Record, world.record.id)
        assert record is not None
        as_holder(session, platform, record).set_referring_doctor(record.id, world.gp.id)
    gp_write = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.c")
    deposit(fhir, world, gp_write, summary_bundle(), "60591-5")

    # The index holds no code in clear: only keyed HMACs.
    with platform.sessions() as session:
        tokens = session.scalars(select(StructuredCode.token)).all()
        assert tokens and all(len(t) == 64 and HAEMOGLOBIN.loinc not in t for t in tokens)
        kinds = sorted(session.scalars(select(StructuredEntry.resource_type)).all())
        assert kinds.count("Observation") == 4 and kinds.count("DiagnosticReport") == 2

    gp = fhir.token(world.software["hospital"], world.gp, "system/*.s")
    patient = f"Patient/{world.person_id}"
    everything = search(fhir, gp, f"/fhir/Observation?patient={patient}")
    assert everything["total"] == 4
    found = search(fhir, gp, f"/fhir/Observation?patient={patient}&code={LOINC}|{HAEMOGLOBIN.loinc}")
    assert found["total"] == 2
    observations = resources(found)
    assert [o["valueQuantity"]["value"] for o in observations] == [11.0, 14.0]  # newest first
    assert observations[0]["subject"] == {"reference": patient}
    assert observations[0]["meta"]["source"].endswith(f"/DocumentReference/{march}")
    assert search(fhir, gp, f"/fhir/Observation?patient={patient}&code={HAEMOGLOBIN.loinc}")["total"] == 2
    assert search(fhir, gp, f"/fhir/Observation?patient={patient}&code=http://snomed.info/sct|{HAEMOGLOBIN.loinc}"
                  )["total"] == 0
    recent = search(fhir, gp, f"/fhir/Observation?patient={patient}&code={LOINC}|{HAEMOGLOBIN.loinc}"
                    "&date=ge2025-01-01")
    assert [o["valueQuantity"]["value"] for o in resources(recent)] == [11.0]
    paged = search(fhir, gp, f"/fhir/Observation?patient={patient}&_count=1")
    assert paged["total"] == 4 and len(paged["entry"]) == 1
    assert any(link["relation"] == "next" for link in paged["link"])

    reports = resources(search(fhir, gp, f"/fhir/DiagnosticReport?patient={patient}"))
    assert len(reports) == 2
    assert all(r["result"][0]["reference"].startswith("Observation/") for r in reports)
    for kind in ("AllergyIntolerance", "Condition", "MedicationStatement", "Immunization"):
        bundle = search(fhir, gp, f"/fhir/{kind}?patient.identifier={world.national_number}")
        assert bundle["total"] == 1, kind
        assert resources(bundle)[0]["resourceType"] == kind

    # Each search is one traced reading of the documents it served entries of (test_door.py says more).
    with platform.sessions() as session:
        readings = session.scalars(select(TraceEntry.context).where(TraceEntry.action == "document.consult")).all()
    read = {document for context in readings for document in context.get("documents", [])}
    assert march in read and january in read

    # The holder hides the March report: its entries disappear.
    with platform.transaction() as session:
        record = session.get(Record, world.record.id)
        assert record is not None
        as_holder(session, platform, record).hide(uuid.UUID(march))
    left = search(fhir, gp, f"/fhir/Observation?patient={patient}&code={LOINC}|{HAEMOGLOBIN.loinc}")
    assert [o["valueQuantity"]["value"] for o in resources(left)] == [14.0]
    assert all(january in o["meta"]["source"] for o in resources(left))

    # A professional outside the circle is refused.
    outsider = fhir.token(world.software["hospital"], world.outsider, "system/*.s")
    refused = fhir.get(f"/fhir/Observation?patient={patient}", outsider)
    assert refused.status_code == 403, refused.text
    valid(refused.json())

    # The scope must cover the resource, and unknown parameters are refused.
    only_documents = fhir.token(world.software["hospital"], world.gp, "system/DocumentReference.s")
    assert fhir.get(f"/fhir/Observation?patient={patient}", only_documents).status_code == 403
    assert fhir.get(f"/fhir/Condition?patient={patient}&onset=2020", gp).status_code == 400


def test_render_html_escapes_and_flags() -> None:
    bundle = lab_bundle(date(2025, 3, 1))
    bundle["entry"][0]["resource"]["section"][0]["title"] = "<script>alert(1)</script>"
    text = render_html(bundle, "fr")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "Bilan &lt;sanguin&gt;" in text
    assert '<tr class="out-of-range low">' in text and "bas" in text
    assert "12 – 16" in text and "g/dL" in text
    assert text.count("<tr") == 3  # the header and two results

    summary = render_html(summary_bundle(), "en")
    assert "<ul>" in summary and "Penicillin" in summary and "AB12" not in summary
    assert "Amoxicillin" in summary and "Hypertensive" in summary


def test_out_of_range_from_the_reference_range_without_interpretation() -> None:
    observation = {"valueQuantity": {"value": 500}, "referenceRange": [{"low": {"value": 150}, "high": {"value": 400}}]}
    assert out_of_range(observation) == "high"
    assert out_of_range({**observation, "valueQuantity": {"value": 200}}) is None
