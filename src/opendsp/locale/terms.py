"""Coded values in the reader's language, from the platform's translation table (docs/i18n.md).

One CSV file per code system under ``locale/terms/`` holds the codes the
platform uses: ``code``, the code system's own ``display``, then the words
in French, German, English and Portuguese. A language without a word for a
code falls back to English, then to the code system's display. A code the
table does not know is shown as it came (its display, else its code): the
table grows with the codes the platform meets, never by guessing.

Clinical codes arrive inside FHIR concepts (``{"coding": [...], "text": ...}``):
the author's own ``text`` is kept when it says more than a coding's display
(a medicine's strength, a free-text diagnosis); otherwise a known coding is
shown in the reader's language. The original display stays available to
show on hover (``title``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "terms"
LANGUAGES = ("fr", "de", "en", "pt")
FALLBACK = "en"

# FHIR code system URLs and the table that translates their codes.
SYSTEMS = {
    "http://loinc.org": "loinc",
    "http://snomed.info/sct": "snomed-ct",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "http://dicom.nema.org/resources/ontology/DCM": "dicom-dcm",
    "http://www.whocc.no/atc": "atc",
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification": "allergy-verification",
}
# The platform's own vocabularies (codes stored in its tables): profession, specialty, organisation-kind,
# document-type. Each is a file of the same name.


@dataclass(frozen=True)
class Term:
    code: str
    display: str
    words: dict[str, str]

    def word(self, language: str | None) -> str:
        language = (language or FALLBACK)[:2].lower()
        return self.words.get(language) or self.words.get(FALLBACK) or self.display or self.code


@cache
def table(name: str) -> dict[str, Term]:
    """A code system's table by its file name (``loinc``, ``profession``, ...); empty when there is none."""
    path = HERE / f"{name}.csv"
    if "/" in name or "\\" in name or not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["code"]: Term(row["code"], row.get("display") or "",
                              {language: (row.get(language) or "").strip() for language in LANGUAGES})
            for row in csv.DictReader(handle)
        }


def tables() -> list[str]:
    return sorted(path.stem for path in HERE.glob("*.csv"))


def word(system: str, code: Any, language: str | None) -> str:
    """The reader's word for a code of a platform vocabulary or a FHIR code system (URL); the code when unknown."""
    if hasattr(code, "value"):  # an enum of the platform
        code = code.value
    code = "" if code is None else str(code)
    term = table(SYSTEMS.get(system, system)).get(code)
    return term.word(language) if term else code


def original(system: str, code: Any) -> str:
    """The code system's own display of a code (what is kept on hover); the code when unknown."""
    if hasattr(code, "value"):
        code = code.value
    code = "" if code is None else str(code)
    term = table(SYSTEMS.get(system, system)).get(code)
    return term.display if term and term.display else code


def _codings(concept: dict[str, Any]) -> list[dict[str, Any]]:
    listed = concept.get("coding")
    return [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []


def concept_original(concept: Any) -> str:
    """A FHIR concept as written: its text, else its first coding's display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"]:
        return concept["text"]
    for coding in _codings(concept):
        if isinstance(coding.get("display"), str) and coding["display"]:
            return coding["display"]
        if coding.get("code"):
            return str(coding["code"])
    return ""


def concept_word(concept: Any, language: str | None) -> str:
    """A FHIR concept in the reader's language when the table knows one of its codings (see the module's rule)."""
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text") if isinstance(concept.get("text"), str) else ""
    for coding in _codings(concept):
        name = SYSTEMS.get(str(coding.get("system") or ""))
        term = table(name).get(str(coding.get("code") or "")) if name else None
        if term is None:
            continue
        if text and text not in (coding.get("display"), term.display):
            return text  # the author's own words say more than the code
        return term.word(language)
    return concept_original(concept)


__all__ = ["LANGUAGES", "SYSTEMS", "Term", "concept_original", "concept_word", "original", "table", "tables", "word"]
