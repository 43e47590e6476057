"""The vaccination record from Immunization entries: each vaccination once, newest first, never one not given."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from opendsp.structured.vaccinations import vaccination_record

CVX = "http://hl7.org/fhir/sid/cvx"
SUMMARY_2024, SUMMARY_2025, OWN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def immunization(code: str | None, given: Any, *, text: str | None = None, status: str = "completed",
                 lot: Any = None, dose: dict[str, Any] | None = None) -> dict[str, Any]:
    vaccine: dict[str, Any] = {"coding": [{"system": CVX, "code": code}]} if code else {}
    if text:
        vaccine["text"] = text
    resource: dict[str, Any] = {"resourceType": "Immunization", "status": status, "vaccineCode": vaccine,
                                "occurrenceDateTime": given}
    if lot is not None:
        resource["lotNumber"] = lot
    if dose is not None:
        resource["protocolApplied"] = [dose]
    return resource


def test_a_vaccination_repeated_by_later_summaries_is_listed_once_with_the_newest_source() -> None:
    flu = immunization("140", "2024-10-15", lot="FLU-1")
    record = vaccination_record([(SUMMARY_2025, [flu, immunization("208", "2025-01-10")]),
                                 (SUMMARY_2024, [flu])])
    assert [(v.vaccine["coding"][0]["code"], v.given, v.document_id) for v in record] == [
        ("208", "2025-01-10", SUMMARY_2025), ("140", "2024-10-15", SUMMARY_2025)]
    assert record[1].lot_number == "FLU-1"


@pytest.mark.parametrize(("first", "second", "listed"), [
    ("2024-10-15", "2024-10-15T09:30:00+02:00", 1),  # the same day, once with its hour
    ("2024-10-15", "2023-10-15", 2),  # a booster a year later is another vaccination
    ("2024", "2024-10-15", 2),  # a year alone is not that day
])
def test_the_same_vaccine_on_the_same_day_is_one_vaccination(first: str, second: str, listed: int) -> None:
    record = vaccination_record([(SUMMARY_2025, [immunization("140", first)]),
                                 (SUMMARY_2024, [immunization("140", second)])])
    assert len(record) == listed


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_a_vaccination_not_given_is_not_in_the_record(status: str) -> None:
    assert vaccination_record([(OWN, [immunization("03", "2020-05-01", status=status)])]) == []


@pytest.mark.parametrize("resource", [
    {"resourceType": "Observation", "code": {"coding": [{"system": CVX, "code": "03"}]}},
    {"resourceType": "Immunization", "status": "completed", "vaccineCode": "MMR"},
    {"resourceType": "Immunization", "status": "completed"},
])
def test_what_is_not_an_immunization_with_a_vaccine_is_left_out(resource: dict[str, Any]) -> None:
    assert vaccination_record([(OWN, [resource])]) == []


def test_newest_first_undated_last_and_text_only_vaccines_kept() -> None:
    record = vaccination_record([(OWN, [
        immunization("21", "2019-03"),
        immunization(None, None, text="Fièvre jaune (certificat de voyage)"),
        immunization("03", "2021-06-01T10:00:00Z", dose={"doseNumberPositiveInt": 2}),
        immunization("03", "not a date"),
    ])])
    assert [v.given for v in record] == ["2021-06-01T10:00:00Z", "2019-03", None, None]
    assert record[0].dose == "2"
    assert {v.vaccine.get("text") for v in record if v.given is None} == {"Fièvre jaune (certificat de voyage)", None}
