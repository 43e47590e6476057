"""Coded values in the reader's language from the translation table (docs/i18n.md)."""

from __future__ import annotations

import csv

import pytest

from opendsp.documents.types import DocumentType
from opendsp.locale import terms
from opendsp.locale.filters import coded_markup
from opendsp.professionals.models import OrganisationKind
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(("system", "code", "language", "expected"), [
    (LOINC, "2160-0", "fr", "Créatinine"),
    (LOINC, "2160-0", "de", "Kreatinin"),
    (LOINC, "2160-0", "en", "Creatinine"),
    (LOINC, "2160-0", "pt", "Creatinina"),
    (SNOMED, "764146007", "de", "Penicillin"),
    (SNOMED, "38341003", "fr", "Hypertension artérielle"),
    ("document-type", "consultation_report", "fr", "Rapport de consultation"),
    ("document-type", DocumentType.consultation_report, "de", "Konsultationsbericht"),
    ("profession", "physician", "de", "Arzt"),
    ("specialty", "general_practice", "fr", "Médecine générale"),
    ("organisation-kind", "home_care_provider", "fr", "Réseau de soins à domicile"),
    ("organisation-kind", OrganisationKind.pharmacy, "pt", "Farmácia"),
    ("profession", "physician", "lb", "Physician"),  # a language the table has no column for: English
    ("profession", "astrologer", "fr", "astrologer"),  # a code the table does not know: as it came
    ("no-such-table", "x", "fr", "x"),
    ("../../settings", "x", "fr", "x"),
])
def test_words(system, code, language, expected):
    assert terms.word(system, code, language) == expected


def test_a_language_without_a_word_falls_back_to_english(tmp_path, monkeypatch):
    (tmp_path / "sample.csv").write_text("code,display,fr,de,en,pt\nx,X display,,,X in English,\ny,Y display,,,,\n")
    monkeypatch.setattr(terms, "HERE", tmp_path)
    terms.table.cache_clear()
    try:
        assert terms.word("sample", "x", "pt") == "X in English"
        assert terms.word("sample", "y", "de") == "Y display"
    finally:
        terms.table.cache_clear()


def concept(system, code, display, text=None):
    value = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        value["text"] = text
    return value


@pytest.mark.parametrize(("value", "language", "expected"), [
    (concept(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"), "fr", "Hémoglobine"),
    (concept(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"), "de", "Hämoglobin"),
    (concept(SNOMED, "764146007", "Penicillin"), "fr", "Pénicilline"),
    # The text only repeats the display: the reader's word.
    (concept(SNOMED, "764146007", "Penicillin", "Penicillin"), "fr", "Pénicilline"),
    # The author's own words say more than the code: kept.
    (concept(SNOMED, "38341003", "Hypertensive disorder, systemic arterial", "HTA sévère depuis 2019"), "de",
     "HTA sévère depuis 2019"),
    # A code the table does not know: its display, else its code.
    (concept(LOINC, "99999-9", "Some test"), "fr", "Some test"),
    ({"coding": [{"system": LOINC, "code": "99999-9"}]}, "fr", "99999-9"),
    ({"text": "Free text"}, "fr", "Free text"),
    (None, "fr", ""),
    ("not a concept", "fr", ""),
])
def test_concepts(value, language, expected):
    assert terms.concept_word(value, language) == expected


def test_the_original_display_is_kept_on_hover():
    html = coded_markup(terms.concept_word(concept(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"), "fr"),
                        terms.concept_original(concept(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood")))
    assert html == '<span class="opendsp-coded" title="Hemoglobin [Mass/volume] in Blood">Hémoglobine</span>'
    assert coded_markup("<b>", '"x"') == '<span class="opendsp-coded" title="&#34;x&#34;">&lt;b&gt;</span>'
    assert coded_markup("TSH", "TSH") == "TSH"


@pytest.mark.parametrize("name", terms.tables())
def test_every_table_is_complete_in_every_language(name):
    with (terms.HERE / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["code", "display", *terms.LANGUAGES]
        rows = list(reader)
    assert len({row["code"] for row in rows}) == len(rows), "a code twice"
    for row in rows:
        for language in terms.LANGUAGES:
            assert row[language].strip(), f"{name}: {row['code']} has no {language} word"


@pytest.mark.parametrize(("name", "codes"), [
    ("profession", set(PROFESSIONS)),
    ("specialty", set(SPECIALTIES)),
    ("organisation-kind", {k.value for k in OrganisationKind}),
    ("document-type", {t.value for t in DocumentType}),
])
def test_the_platforms_vocabularies_are_all_in_the_table(name, codes):
    assert set(terms.table(name)) == codes


def test_the_demos_clinical_codes_are_all_in_the_table():
    from opendsp.demo.clinical import ALLERGIES, ANALYTES, CONDITIONS, NO_KNOWN_ALLERGY, VACCINES

    assert {a.loinc for a in ANALYTES.values()} <= set(terms.table("loinc"))
    snomed = {c.snomed for c in CONDITIONS.values()} | {a.snomed for a, _ in ALLERGIES} | {NO_KNOWN_ALLERGY.snomed}
    assert snomed <= set(terms.table("snomed-ct"))
    assert {v.cvx for v in VACCINES.values()} <= set(terms.table("cvx"))
