"""A vaccination the holder declares: what the form may say, the FHIR document it becomes (reported by the
patient, valid R4B), and how the vaccination record marks it beside a professional's."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

import pytest

from opendsp.fhir.validation import validate
from opendsp.structured.declared import (
    IMMUNIZATION_ORIGIN,
    DeclarationRefused,
    Holder,
    declaration_problems,
    declared_vaccination,
    read_declaration,
    vaccines,
)
from opendsp.structured.vaccinations import vaccination_record

TODAY, BORN = date(2026, 12, 7), date(2016, 9, 1)
HOLDER = Holder("2016090112345", "Schmit", "Léa", "female", BORN)


def read(**fields: str) -> Any:
    return read_declaration({"vaccine": "140", "given": "2024-10-15", **fields}, today=TODAY, birth_date=BORN)


def bundle(**fields: str) -> dict[str, Any]:
    counter = itertools.count()
    return declared_vaccination(read(**fields), holder=HOLDER, title="Vaccination déclarée", language="fr",
                                moment="2026-12-07T18:00:00+00:00",
                                new_id=lambda: str(uuid.UUID(int=next(counter) + 1, version=4)))


def test_the_list_is_the_platform_s_coded_vaccines() -> None:
    assert {"140", "208", "03"} <= set(vaccines()) and all(t.words["pt"] for t in vaccines().values())


def test_a_vaccine_of_the_list_or_in_words_with_its_day_dose_batch_and_place() -> None:
    coded = read(dose="2", lot=" FLU  24 ", place="Pharmacie du Nord")
    assert (coded.vaccine_code, coded.vaccine_text, coded.given, coded.dose, coded.lot_number, coded.place) == (
        "140", None, date(2024, 10, 15), 2, "FLU 24", "Pharmacie du Nord")
    worded = read(vaccine="other", vaccine_text="Encéphalite à tiques")
    assert (worded.vaccine_code, worded.vaccine_text, worded.dose, worded.lot_number) == (
        None, "Encéphalite à tiques", None, None)
    assert read(vaccine="", vaccine_text="Fièvre jaune").vaccine_text == "Fièvre jaune"
    assert read(vaccine="140", vaccine_text="ignored").vaccine_text is None  # the list's choice wins
    assert read(given=BORN.isoformat()).given == BORN and read(given=TODAY.isoformat()).given == TODAY


@pytest.mark.parametrize(("fields", "message"), [
    ({"given": "2027-01-01"}, "cannot be in the future"),
    ({"given": "2016-08-31"}, "cannot be before the birth"),
    ({"given": ""}, "Give the date"),
    ({"given": "15/10/2024"}, "Give the date"),
    ({"given": "2024-02-30"}, "Give the date"),
    ({"vaccine": "999"}, "Choose the vaccine from the list"),
    ({"vaccine": ""}, "Choose the vaccine from the list"),
    ({"vaccine": "other"}, "Give the name of the vaccine"),
    ({"vaccine": "other", "vaccine_text": "x" * 201}, "at most 200"),
    ({"vaccine": "other", "vaccine_text": "BCG\x00"}, "not allowed"),
    ({"lot": "L" * 41}, "at most 40"),
    ({"place": "p" * 201}, "at most 200"),
    ({"place": "Cabinet\u202e"}, "not allowed"),  # a bidirectional override could turn the words around
    ({"dose": "0"}, "from 1 to 20"),
    ({"dose": "21"}, "from 1 to 20"),
    ({"dose": "-1"}, "from 1 to 20"),
    ({"dose": "²"}, "from 1 to 20"),
    ({"dose": "1.5"}, "from 1 to 20"),
])
def test_what_the_form_may_not_say(fields: dict[str, str], message: str) -> None:
    with pytest.raises(DeclarationRefused) as refused:
        read(**fields)
    assert message in refused.value.message


def test_it_becomes_a_valid_document_whose_immunization_the_patient_reported() -> None:
    document = bundle(dose="2", lot="FLU-24", place="Pharmacie du Nord")
    validate(document, ["Bundle"])
    kinds = [e["resource"]["resourceType"] for e in document["entry"]]
    assert kinds == ["Composition", "Patient", "Immunization"]
    immunization = document["entry"][2]["resource"]
    assert immunization["primarySource"] is False
    assert immunization["reportOrigin"]["coding"][0] == {
        "system": IMMUNIZATION_ORIGIN, "code": "recall", "display": "Parent/Guardian/Patient Recall"}
    assert immunization["vaccineCode"]["coding"][0]["code"] == "140"
    assert immunization["protocolApplied"] == [{"doseNumberPositiveInt": 2}]
    assert immunization["location"] == {"display": "Pharmacie du Nord"} and immunization["lotNumber"] == "FLU-24"
    composition = document["entry"][0]["resource"]
    assert composition["author"] == [composition["subject"]] == [immunization["patient"]]
    assert composition["type"]["coding"][0]["code"] == "11369-6"
    assert declaration_problems(document) == []
    worded = bundle(vaccine="other", vaccine_text="<b>BCG</b>")
    validate(worded, ["Bundle"])
    assert worded["entry"][2]["resource"]["vaccineCode"] == {"text": "<b>BCG</b>"}
    assert "&lt;b&gt;BCG" in worded["entry"][0]["resource"]["section"][0]["text"]["div"]


def test_a_document_is_a_declaration_only_if_every_vaccination_in_it_is_reported() -> None:
    document = bundle()
    document["entry"][2]["resource"]["primarySource"] = True
    assert declaration_problems(document)[0][1] == "Bundle.entry[2].resource.primarySource"
    del document["entry"][2]["resource"]["primarySource"]
    assert declaration_problems(document)
    assert declaration_problems({"resourceType": "Bundle", "type": "document", "entry": document["entry"][:2]})


def test_the_record_marks_a_declared_vaccination_and_prefers_a_professional_s() -> None:
    declared, summary = uuid.uuid4(), uuid.uuid4()
    flu = bundle()["entry"][2]["resource"]
    covid = bundle(vaccine="208", given="2025-01-10")["entry"][2]["resource"]
    professional = {**flu, "primarySource": True, "lotNumber": "FLU-PRO"}
    # The holder's declaration is the newest document, yet the professional's record of the same day wins.
    record = vaccination_record([(declared, [flu, covid]), (summary, [professional])], declared={declared})
    assert [(v.vaccine["coding"][0]["code"], v.document_id, v.declared) for v in record] == [
        ("208", declared, True), ("140", summary, False)]
    assert record[1].lot_number == "FLU-PRO"
    assert [v.declared for v in vaccination_record([(declared, [flu])])] == [False]  # the caller names them
