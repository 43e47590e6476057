"""What the deposit forms accept: a PDF checked by its content, and structured entries turned into FHIR documents.

A PDF must start with ``%PDF-``, be opened by pypdf with at least one page, and
stay under ``MAX_PDF_BYTES``. A laboratory result or a patient summary entered
in a form becomes a FHIR R4B document Bundle built with the same builders as
the demo's documents (LOINC-coded tests with UCUM units and reference ranges;
IPS sections for allergies, problems, medication and immunisations), then is
validated against the FHIR models before it is deposited.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import UploadFile

from opendsp.demo.clinical import (
    ALLERGIES,
    AMOXICILLIN,
    ANALYTES,
    BISOPROLOL,
    BOXES,
    CONDITIONS,
    IBUPROFEN,
    VACCINES,
    Allergy,
    Medicine,
    interpretation,
    tr,
)
from opendsp.demo.fhir import (
    AuthorInfo,
    Ids,
    LabResult,
    PatientInfo,
    Prescribed,
    SummaryContent,
    laboratory_report,
    dispensation,
    patient_summary,
    prescription,
    to_json,
)
from opendsp.fhir.errors import FhirError
from opendsp.fhir.validation import validate
from opendsp.locale import N_
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional

MAX_PDF_BYTES = 20 * 1024 * 1024
LAB_ROWS = 6
ALLERGY_CHOICES: dict[str, Allergy] = {a.snomed: a for a, _ in ALLERGIES}
MEDICINES: dict[str, Medicine] = {
    m.atc: m for m in [*(c.medicine for c in CONDITIONS.values()), AMOXICILLIN, IBUPROFEN, BISOPROLOL]
}


class FormRefused(ValueError):
    """The form cannot be accepted as sent; the message (untranslated) says why."""


async def read_pdf(upload: UploadFile | None) -> bytes:
    """The uploaded file if it is a readable PDF within the size limit."""
    if upload is None or not upload.filename:
        raise FormRefused(N_("Choose the PDF file to deposit."))
    data = await upload.read(MAX_PDF_BYTES + 1)
    if len(data) > MAX_PDF_BYTES:
        raise FormRefused(N_("The file is larger than 20 MB."))
    if not data.startswith(b"%PDF-"):
        raise FormRefused(N_("The file is not a PDF."))
    from pypdf import PdfReader

    try:
        pages = len(PdfReader(io.BytesIO(data)).pages)
    except Exception:  # noqa: BLE001 - a crafted file may break the parser anywhere (even RecursionError)
        raise FormRefused(N_("The PDF file is damaged and cannot be read.")) from None
    if pages < 1:
        raise FormRefused(N_("The PDF file has no page."))
    return data


def _day(value: Any, default: date | None = None) -> date:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        if default is None:
            raise FormRefused(N_("Give a valid date."))
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormRefused(N_("Give a valid date.")) from None


def _number(value: Any) -> float | None:
    text = value.strip().replace(",", ".") if isinstance(value, str) else ""
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise FormRefused(N_("Give the values as numbers.")) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise FormRefused(N_("Give the values as numbers."))
    return number


@dataclass(frozen=True)
class Parties:
    patient: PatientInfo
    author: AuthorInfo


def parties(person: Person, professional: Professional, organisation: Organisation | None) -> Parties:
    return Parties(
        patient=PatientInfo(person.national_number, person.family_name, person.given_name, person.sex.value,
                            person.birth_date),
        author=AuthorInfo(professional.licence_number, professional.family_name, professional.given_name,
                          organisation.identifier if organisation else "", organisation.name if organisation else ""),
    )


def _ids(platform: Platform) -> Ids:
    return Ids(random.Random(int.from_bytes(platform.randomness.bytes(16), "big")))


def _validated(bundle: dict[str, Any]) -> bytes:
    try:
        validate(bundle, ["Bundle"])
    except FhirError:
        raise FormRefused(N_("The entries do not make a valid FHIR document.")) from None
    return to_json(bundle)


def lab_results(form: Mapping[str, Any], female: bool) -> list[LabResult]:
    """The rows of the laboratory form that name a test; each needs a value, its range defaults to the usual one."""
    results = []
    for row in range(LAB_ROWS):
        key = form.get(f"test_{row}") or ""
        if not key:
            continue
        analyte = ANALYTES.get(str(key))
        if analyte is None:
            raise FormRefused(N_("Choose the tests from the list."))
        value = _number(form.get(f"value_{row}"))
        if value is None:
            raise FormRefused(N_("Give a value for every test chosen."))
        usual_low, usual_high = analyte.reference_range(female)
        low, high = _number(form.get(f"low_{row}")), _number(form.get(f"high_{row}"))
        if low is None and high is None:
            low, high = usual_low, usual_high
        if low is not None and high is not None and low > high:
            raise FormRefused(N_("A reference range goes from its low to its high value."))
        results.append(LabResult(analyte, value, low, high, interpretation(value, low, high)))
    if not results:
        raise FormRefused(N_("Enter at least one test with its value."))
    return results


def laboratory_bundle(platform: Platform, who: Parties, *, title: str, day: date, language: str,
                      results: list[LabResult]) -> bytes:
    return _validated(laboratory_report(_ids(platform), patient=who.patient, author=who.author, day=day,
                                        language=language, title=title, results=results))


def summary_content(form: Any, care_date: date) -> SummaryContent:
    """The ticked allergies, problems, medicines and vaccines, each with its date (the date of care if none)."""
    allergies = [ALLERGY_CHOICES[key] for key in form.getlist("allergy") if key in ALLERGY_CHOICES]
    conditions = [(CONDITIONS[key], _day(form.get(f"onset_{key}"), care_date))
                  for key in form.getlist("condition") if key in CONDITIONS]
    medicines = [(MEDICINES[key], _day(form.get(f"start_{key}"), care_date))
                 for key in form.getlist("medicine") if key in MEDICINES]
    vaccines = [(VACCINES[key], _day(form.get(f"given_{key}"), care_date),
                 str(form.get(f"batch_{key}") or "").strip()[:40] or "-")
                for key in form.getlist("vaccine") if key in VACCINES]
    return SummaryContent(allergies=allergies, conditions=conditions, medicines=medicines, immunizations=vaccines)


def summary_bundle(platform: Platform, who: Parties, *, title: str, day: date, language: str,
                   content: SummaryContent) -> bytes:
    return _validated(patient_summary(_ids(platform), patient=who.patient, author=who.author, day=day,
                                      language=language, title=title, content=content))


MAX_BOXES = 12


def prescription_items(form: Any, language: str) -> list[Prescribed]:
    """The ticked medicines, each with the number of boxes to dispense (1 to 12; empty: 1)."""
    items = []
    for key in form.getlist("medicine"):
        if key not in MEDICINES:
            raise FormRefused(N_("Choose the medicines from the list."))
        boxes = _number(form.get(f"boxes_{key}"))
        if boxes is None:
            boxes = 1
        if boxes != int(boxes) or not 1 <= boxes <= MAX_BOXES:
            raise FormRefused(N_("A medicine is dispensed in 1 to 12 boxes."))
        items.append(Prescribed(MEDICINES[key], quantity=(int(boxes), tr(BOXES, language))))
    if not items:
        raise FormRefused(N_("Tick at least one medicine."))
    return items


def prescription_bundle(platform: Platform, who: Parties, *, title: str, day: date, language: str,
                        items: list[Prescribed], dispensed: bool = False) -> bytes:
    """An ePrescription (MedicationRequest entries), or with ``dispensed`` the pharmacy's eDispensation."""
    build = dispensation if dispensed else prescription
    return _validated(build(_ids(platform), patient=who.patient, author=who.author, day=day,
                            language=language, title=title, items=items))
