"""The medication list from MedicationRequest and MedicationDispense entries: one line per medicine (by ATC code),
what was prescribed and what was dispensed, since the first prescription, the most recent first."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from opendsp.fhir.systems import ATC, LU_MEDICINAL_PRODUCT
from opendsp.structured.medications import medication_list, medicine_key, party_names

ORDER_2025, ORDER_2024, PHARMACY_2025, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
DOCTOR = {"urn:uuid:doc": "Dr Weber"}


def concept(atc: str | None, *, product: str | None = None, text: str | None = None) -> dict[str, Any]:
    codings = [{"system": ATC, "code": atc}] if atc else []
    if product:
        codings.append({"system": LU_MEDICINAL_PRODUCT, "code": product})
    out: dict[str, Any] = {"coding": codings}
    if text:
        out["text"] = text
    return out


def request(medicine: dict[str, Any], authored: Any, *, dosage: str = "1 per day", status: str = "active",
            intent: str = "order") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": status, "intent": intent,
            "medicationCodeableConcept": medicine, "authoredOn": authored,
            "requester": {"reference": "urn:uuid:doc"}, "dosageInstruction": [{"text": dosage}]}


def dispense(medicine: dict[str, Any], handed: Any, *, quantity: Any = None,
             status: str = "completed") -> dict[str, Any]:
    resource = {"resourceType": "MedicationDispense", "status": status, "medicationCodeableConcept": medicine,
                "whenHandedOver": handed, "performer": [{"actor": {"display": "Pharmacie du Centre"}}]}
    if quantity is not None:
        resource["quantity"] = quantity
    return resource


def test_prescriptions_and_dispensations_of_one_medicine_are_one_line_since_the_first_prescription() -> None:
    amlodipine = concept("C08CA01", text="Amlodipine 5 mg")
    listed = medication_list([
        (PHARMACY_2025, [dispense(concept("C08CA01", product="1234567"), "2025-03-02T15:00:00Z",
                                  quantity={"value": 2, "unit": "box"})], {}),
        (ORDER_2025, [request(amlodipine, "2025-03-01", dosage="1 in the morning")], DOCTOR),
        (ORDER_2024, [request(amlodipine, "2024-01-10"), request(concept("J01CA04"), "2024-02-01")], DOCTOR),
    ])
    assert [m.atc for m in listed] == ["C08CA01", "J01CA04"]  # the most recently prescribed or dispensed first
    line = listed[0]
    assert line.since == "2024-01-10"
    assert [(p.authored, p.dosage, p.prescriber, p.document_id) for p in line.prescribed] == [
        ("2025-03-01", "1 in the morning", "Dr Weber", ORDER_2025), ("2024-01-10", "1 per day", "Dr Weber", ORDER_2024)]
    assert [(d.handed_over, d.quantity, d.pharmacy, d.document_id) for d in line.dispensed] == [
        ("2025-03-02T15:00:00Z", "2 box", "Pharmacie du Centre", PHARMACY_2025)]
    assert line.document_ids == [ORDER_2025, ORDER_2024, PHARMACY_2025]
    assert listed[1].dispensed == []


@pytest.mark.parametrize(("resource", "listed"), [
    (request(concept("N02BE01"), "2025-01-01", status="cancelled"), False),
    (request(concept("N02BE01"), "2025-01-01", status="entered-in-error"), False),
    (request(concept("N02BE01"), "2025-01-01", status="draft"), False),
    (request(concept("N02BE01"), "2025-01-01", intent="proposal"), False),
    (request(concept("N02BE01"), "2025-01-01", status="completed"), True),
    (request(concept("N02BE01"), "2025-01-01", status="stopped"), True),  # prescribed once: history
    (dispense(concept("N02BE01"), "2025-01-01", status="declined"), False),
    (dispense(concept("N02BE01"), "2025-01-01", status="entered-in-error"), False),
    (dispense(concept("N02BE01"), "2025-01-01", status="preparation"), False),
    (dispense(concept("N02BE01"), "2025-01-01"), True),
    ({"resourceType": "MedicationStatement", "medicationCodeableConcept": concept("N02BE01")}, False),
    ({"resourceType": "MedicationRequest", "status": "active", "medicationCodeableConcept": "paracetamol"}, False),
    ({"resourceType": "MedicationRequest", "status": "active"}, False),
    (request({"coding": []}, "2025-01-01"), False),  # nothing says which medicine
])
def test_what_was_not_prescribed_or_not_handed_over_is_left_out(resource: dict[str, Any], listed: bool) -> None:
    assert bool(medication_list([(OTHER, [resource], {})])) is listed


@pytest.mark.parametrize(("first", "second", "lines"), [
    (concept("C10AA05", text="Atorvastatin 20 mg"), concept("C10AA05", text="Sortis 20 mg"), 1),  # two brands
    (concept("c10aa05 "), concept("C10AA05"), 1),  # the code as written, not its case
    (concept(None, product="0712345"), concept(None, product="0712345"), 1),  # the national product alone
    (concept(None, text="Magistral cream"), concept(None, text="magistral CREAM"), 1),
    (concept("C10AA05"), concept("C10AA07"), 2),
    (concept(None, text="Magistral cream"), concept(None, text="Other cream"), 2),
])
def test_a_medicine_is_known_by_its_atc_code_else_its_product_else_its_text(first: dict[str, Any],
                                                                          second: dict[str, Any], lines: int) -> None:
    assert len(medication_list([(ORDER_2025, [request(first, "2025-01-01")], {}),
                                (ORDER_2024, [request(second, "2024-01-01")], {})])) == lines


def test_the_same_prescription_repeated_by_another_document_is_kept_once_with_the_newest_source() -> None:
    statin = request(concept("C10AA05"), "2024-06-01")
    listed = medication_list([(ORDER_2025, [statin], DOCTOR), (ORDER_2024, [statin], DOCTOR)])
    assert [p.document_id for p in listed[0].prescribed] == [ORDER_2025]


def test_only_dispensed_or_undated_medicines_have_no_since_and_undated_lines_come_last() -> None:
    listed = medication_list([(OTHER, [
        request(concept("R03AC02"), "not a date"),
        dispense(concept("M01AE01"), "2023-05-01", quantity={"value": 20.0, "unit": "tablet"}),
        request(concept("H03AA01"), "2022-11"),
    ], {})])
    assert [(m.atc, m.since) for m in listed] == [("M01AE01", None), ("H03AA01", "2022-11"), ("R03AC02", None)]
    assert listed[0].dispensed[0].quantity == "20 tablet"


def test_the_quantity_to_dispense_is_the_prescription_s() -> None:
    ordered = {**request(concept("J01CA04"), "2025-01-01"),
               "dispenseRequest": {"quantity": {"value": 2, "unit": "box"}},
               "quantity": {"value": 99, "unit": "not a prescription field"}}
    assert medication_list([(OTHER, [ordered], {})])[0].prescribed[0].quantity == "2 box"


def test_names_of_the_parties_come_from_the_bundle() -> None:
    bundle = {"entry": [
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Practitioner",
                                               "name": [{"prefix": ["Dr"], "given": ["Anne"], "family": "Weber"}]}},
        {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Organization", "name": "Pharmacie du Centre"}},
        {"fullUrl": "urn:uuid:x", "resource": "not a resource"},
    ]}
    assert party_names(bundle) == {"urn:uuid:p": "Dr Anne Weber", "urn:uuid:o": "Pharmacie du Centre"}
    assert medicine_key({"coding": [{"system": ATC, "code": 5}]}) is None
