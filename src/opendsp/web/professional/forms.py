"""What the deposit forms accept: a PDF checked by its content, and structured entries turned into FHIR documents.

A PDF must start with ``%PDF-``, be opened by pypdf with at least one page, and
stay under ``MAX_PDF_BYTES``. A laboratory result, a patient summary, a
prescription or dispensation, an imaging report, a discharge report or a
vaccination entered in a form becomes a FHIR R4B document Bundle built with the same builders as
the demo's documents (LOINC-coded tests with UCUM units and reference ranges;
IPS sections for allergies, problems, medication and immunisations; ATC
medicines; a DiagnosticReport with its ImagingStudy; discharge sections in the
author's words; one Immunization recorded by its performer), then is validated against the FHIR models before it is
deposited.
"""

from __future__ import annotations

import io
import random
import re
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
    DischargeContent,
    Ids,
    ImagingContent,
    LabResult,
    PatientInfo,
    GivenVaccine,
    Prescribed,
    SummaryContent,
    discharge_report,
    dispensation,
    imaging_report,
    laboratory_report,
    patient_summary,
    prescription,
    to_json,
    vaccination_record,
)
from opendsp.fhir.errors import FhirError
from opendsp.fhir.validation import validate
from opendsp.locale import N_, terms
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.structured import declared

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


# -- imaging and discharge reports (docs/adr/0038-imaging-and-discharge-reports.md, 0041) --------------------

MODALITIES = tuple(terms.table("dicom-dcm"))  # the DICOM modalities the platform names in four languages
BODY_SITES = ("51185008", "69536005", "12738006", "818983003", "72696002", "122496007", "76752008", "344001")
IMAGING_STUDY = ("18748-4", "Diagnostic imaging study")  # LOINC: the examination, described by the title
MAX_UID = 64  # DICOM UI value representation
MAX_ACCESSION = 16  # DICOM SH value representation (Accession Number)
MAX_TEXT = 4000  # a conclusion, a section of a discharge report
# DICOM UID (PS3.5 §9.1): numeric components without leading zeros, separated by dots.
UID_SYNTAX = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(form: Any, name: str, *, required: str, too_long: str, limit: int = MAX_TEXT) -> str:
    """A free text of the form: trimmed, control characters but line breaks removed, present and within its limit."""
    text = _CONTROL.sub("", str(form.get(name) or "")).replace("\r\n", "\n").strip()
    if not text:
        raise FormRefused(required)
    if len(text) > limit:
        raise FormRefused(too_long)
    return text


def study_uid(value: Any) -> str:
    """A DICOM Study Instance UID as typed (an ``urn:oid:`` prefix allowed): an OID of at most 64 characters."""
    uid = str(value or "").strip().removeprefix("urn:oid:")
    if not uid:
        raise FormRefused(N_("Give the study instance UID."))
    if len(uid) > MAX_UID or not UID_SYNTAX.fullmatch(uid):
        raise FormRefused(N_("The study instance UID is numbers separated by dots, without leading zeros, "
                             "at most 64 characters (for example 1.2.840.113619.2.55.3)."))
    return uid


def imaging_content(form: Any, *, title: str, care_date: date, series_uid: str) -> ImagingContent:
    """The study and its conclusion: a coded modality and body site, a study date not after the report's."""
    modality = str(form.get("modality") or "")
    if modality not in MODALITIES:
        raise FormRefused(N_("Choose the modality from the list."))
    site = str(form.get("body_site") or "")
    if site not in BODY_SITES:
        raise FormRefused(N_("Choose the body site from the list."))
    started = _day(form.get("study_date"))
    if started > care_date:
        raise FormRefused(N_("The study date cannot be after the date of care."))
    uid = study_uid(form.get("study_uid"))
    accession = _CONTROL.sub("", str(form.get("accession_number") or "")).strip()
    if len(accession) > MAX_ACCESSION:
        raise FormRefused(N_("The accession number has at most 16 characters."))
    conclusion = _text(form, "conclusion", required=N_("Write the conclusion."),
                       too_long=N_("The conclusion has at most 4,000 characters."))
    return ImagingContent(
        examination=IMAGING_STUDY, examination_text=title,
        modality=(modality, terms.table("dicom-dcm")[modality].display),
        body_site=(site, terms.table("snomed-ct")[site].display), study_uid=uid, accession_number=accession or None,
        series=None, instances=None, conclusion=conclusion, started=started, series_uid=series_uid)


def imaging_bundle(platform: Platform, who: Parties, *, title: str, day: date, language: str,
                   content: ImagingContent) -> bytes:
    return _validated(imaging_report(_ids(platform), patient=who.patient, author=who.author, day=day,
                                     language=language, title=title, content=content))


def new_series_uid(platform: Platform) -> str:
    """A UUID-derived UID (PS3.5 §B.2, root 2.25) for the one series a form describes: it names no PACS series."""
    return f"2.25.{int.from_bytes(platform.randomness.bytes(16), 'big') >> 6}"


DISCHARGE_FIELDS = {
    "reason": (N_("Write the reason for admission."), N_("The reason for admission has at most 4,000 characters.")),
    "procedures": (N_("Write the procedures performed, or “none”."),
                   N_("The procedures have at most 4,000 characters.")),
    "medication": (N_("Write the medication on discharge, or “none”."),
                   N_("The medication on discharge has at most 4,000 characters.")),
    "follow_up": (N_("Write the follow-up."), N_("The follow-up has at most 4,000 characters.")),
}


def discharge_content(form: Any, today: date) -> DischargeContent:
    """The four sections in the author's words and the stay's dates: admitted before or on the day of discharge,
    discharged today at the latest."""
    admission, discharge = _day(form.get("admission_date")), _day(form.get("discharge_date"))
    if discharge < admission:
        raise FormRefused(N_("The discharge date cannot be before the admission date."))
    if discharge > today:
        raise FormRefused(N_("The discharge date cannot be in the future."))
    texts = {name: _text(form, name, required=required, too_long=too_long)
             for name, (required, too_long) in DISCHARGE_FIELDS.items()}
    return DischargeContent(admission=admission, discharge=discharge, reason=texts["reason"], course=None,
                            procedures=[], medicines=[], follow_up=texts["follow_up"],
                            procedures_text=texts["procedures"], medication_text=texts["medication"])


def discharge_bundle(platform: Platform, who: Parties, *, title: str, language: str,
                     content: DischargeContent) -> bytes:
    return _validated(discharge_report(_ids(platform), patient=who.patient, author=who.author, language=language,
                                       title=title, content=content))


# -- a vaccination recorded by the one who gave it (issue 18) ----------------------------------------------------


def given_vaccine(form: Any, *, today: date, birth_date: date, language: str) -> GivenVaccine:
    """The vaccine chosen from the platform's CVX list, its day (not in the future, not before the birth), the
    optional dose number (1–20) and batch (≤ 40 characters): checked as a holder's declaration is, without the
    free-text vaccine and place a declaration allows."""
    code = str(form.get("cvx") or "").strip()
    if code not in declared.vaccines():
        raise FormRefused(N_("Choose the vaccine from the list."))
    fields = {"vaccine": code, **{name: str(form.get(name) or "") for name in ("given", "dose", "lot")}}
    try:
        checked = declared.read_declaration(fields, today=today, birth_date=birth_date)
    except declared.DeclarationRefused as refused:
        raise FormRefused(refused.message) from None
    concept = declared.vaccine_concept(checked)
    return GivenVaccine(vaccine=concept, words=terms.concept_word(concept, language), given=checked.given,
                        dose=checked.dose, lot_number=checked.lot_number)


def vaccination_bundle(platform: Platform, who: Parties, *, title: str, day: date, language: str,
                       given: GivenVaccine) -> bytes:
    return _validated(vaccination_record(_ids(platform), patient=who.patient, author=who.author, day=day,
                                         language=language, title=title, given=given))
