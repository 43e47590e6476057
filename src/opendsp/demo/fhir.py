"""FHIR R4B document Bundles for the demo: laboratory reports, patient summaries, imaging and discharge reports.

Each Bundle is self-contained (type ``document``): a Composition first, then
the Patient, the author and every resource the Composition's sections point
to, all linked by ``urn:uuid:`` full URLs. Identifiers come from the seeded
random source so that the same seed gives the same bytes.
"""

from __future__ import annotations

import html
import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from opendsp.demo.clinical import (
    NO_KNOWN_ALLERGY,
    SECTION_TITLES,
    Allergy,
    Analyte,
    Condition,
    Medicine,
    Vaccine,
    tr,
)
from opendsp.fhir import systems

# The same identifier systems as the FHIR adapter, so demo documents match what the API serves.
NATIONAL_NUMBER_SYSTEM = systems.NATIONAL_NUMBER
LICENCE_SYSTEM = systems.LICENCE_NUMBER
ORGANISATION_SYSTEM = systems.ORGANISATION

LOINC = systems.LOINC
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"

INTERPRETATION_DISPLAY = {"H": "High", "L": "Low", "N": "Normal"}


class Ids:
    """Version-4 UUIDs drawn from the demo's seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class PatientInfo:
    national_number: str
    family_name: str
    given_name: str
    sex: str  # FHIR administrative gender
    birth_date: date


@dataclass(frozen=True)
class AuthorInfo:
    licence_number: str
    family_name: str
    given_name: str
    organisation_identifier: str
    organisation_name: str


@dataclass(frozen=True)
class LabResult:
    analyte: Analyte
    value: float
    low: float | None
    high: float | None
    flag: str  # H, L or N


def to_json(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()


# -- building blocks ------------------------------------------------------------


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def _narrative(items: Iterable[str]) -> dict[str, str]:
    rows = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{rows}</ul></div>'}


def _instant(day: date, hour: int = 10) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def _quantity(value: float, analyte: Analyte) -> dict[str, Any]:
    number: float | int = int(value) if analyte.decimals == 0 else value
    return {"value": number, "unit": analyte.unit, "system": UCUM, "code": analyte.ucum}


class _Document:
    """Collects the entries of one document Bundle."""

    def __init__(self, ids: Ids, patient: PatientInfo, author: AuthorInfo) -> None:
        self.ids = ids
        self.entries: list[dict[str, Any]] = []
        self.patient = self.add(
            {
                "resourceType": "Patient",
                "identifier": [{"system": NATIONAL_NUMBER_SYSTEM, "value": patient.national_number}],
                "name": [{"family": patient.family_name, "given": [patient.given_name]}],
                "gender": patient.sex,
                "birthDate": patient.birth_date.isoformat(),
            }
        )
        self.organisation = self.add(
            {
                "resourceType": "Organization",
                "identifier": [{"system": ORGANISATION_SYSTEM, "value": author.organisation_identifier}],
                "name": author.organisation_name,
            }
        )
        self.practitioner = self.add(
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": LICENCE_SYSTEM, "value": author.licence_number}],
                "name": [{"family": author.family_name, "given": [author.given_name]}],
            }
        )

    def add(self, resource: dict[str, Any]) -> dict[str, str]:
        """Add a resource; return a reference to it."""
        resource_id = self.ids.new()
        self.entries.append({"fullUrl": f"urn:uuid:{resource_id}", "resource": {**resource, "id": resource_id}})
        return {"reference": f"urn:uuid:{resource_id}"}

    def bundle(
        self,
        *,
        type_code: tuple[str, str],
        title: str,
        day: date,
        language: str,
        restricted: bool,
        sections: list[dict[str, Any]],
        encounter: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        composition_id = self.ids.new()
        composition = {
            "resourceType": "Composition",
            "id": composition_id,
            "language": language,
            "status": "final",
            "type": _concept(LOINC, *type_code),
            "subject": self.patient,
            "date": _instant(day),
            "author": [self.practitioner, self.organisation],
            "title": title,
            "confidentiality": "R" if restricted else "N",
            "custodian": self.organisation,
            "section": sections,
        }
        if encounter:
            composition["encounter"] = encounter
        return {
            "resourceType": "Bundle",
            "id": self.ids.new(),
            "language": language,
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{self.ids.new()}"},
            "type": "document",
            "timestamp": _instant(day),
            "entry": [{"fullUrl": f"urn:uuid:{composition_id}", "resource": composition}, *self.entries],
        }


def _section(key: str, code: tuple[str, str], language: str, lines: list[str],
             entries: list[dict[str, str]]) -> dict[str, Any]:
    section: dict[str, Any] = {"title": tr(SECTION_TITLES[key], language), "code": _concept(LOINC, *code)}
    if entries:
        section["text"] = _narrative(lines)
        section["entry"] = entries
    else:
        section["text"] = _narrative([tr(SECTION_TITLES["none_known"], language)])
        section["emptyReason"] = _concept(EMPTY_REASON, "nilknown", "Nil Known")
    return section


# -- laboratory report ------------------------------------------------------------


def laboratory_report(
    ids: Ids,
    *,
    patient: PatientInfo,
    author: AuthorInfo,
    day: date,
    language: str,
    title: str,
    results: list[LabResult],
    restricted: bool = False,
) -> dict[str, Any]:
    document = _Document(ids, patient, author)
    observations = [document.add(_observation(document, result, day)) for result in results]
    report = document.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [_concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": _concept(LOINC, "11502-2", "Laboratory report"),
            "subject": document.patient,
            "effectiveDateTime": day.isoformat(),
            "issued": _instant(day, 16),
            "performer": [document.organisation],
            "resultsInterpreter": [document.practitioner],
            "result": observations,
        }
    )
    lines = [f"{tr(r.analyte.name, language)}: {r.value} {r.analyte.unit} ({r.flag})" for r in results]
    section = _section("results", ("30954-2", "Relevant diagnostic tests/laboratory data Narrative"), language,
                       lines, [report])
    return document.bundle(type_code=("11502-2", "Laboratory report"), title=title, day=day, language=language,
                           restricted=restricted, sections=[section])


def _observation(document: _Document, result: LabResult, day: date) -> dict[str, Any]:
    analyte = result.analyte
    reference: dict[str, Any] = {}
    if result.low is not None:
        reference["low"] = _quantity(result.low, analyte)
    if result.high is not None:
        reference["high"] = _quantity(result.high, analyte)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [_concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                              "Laboratory")],
        "code": _concept(LOINC, analyte.loinc, analyte.display),
        "subject": document.patient,
        "effectiveDateTime": day.isoformat(),
        "issued": _instant(day, 16),
        "performer": [document.organisation],
        "valueQuantity": _quantity(result.value, analyte),
        "interpretation": [_concept(INTERPRETATION, result.flag, INTERPRETATION_DISPLAY[result.flag])],
        "referenceRange": [reference],
    }


# -- patient summary ----------------------------------------------------------------


@dataclass(frozen=True)
class SummaryContent:
    allergies: list[Allergy]
    conditions: list[tuple[Condition, date]]  # with onset
    medicines: list[tuple[Medicine, date]]  # with start
    immunizations: list[tuple[Vaccine, date, str]]  # with date and batch


def patient_summary(
    ids: Ids,
    *,
    patient: PatientInfo,
    author: AuthorInfo,
    day: date,
    language: str,
    title: str,
    content: SummaryContent,
    restricted: bool = False,
) -> dict[str, Any]:
    document = _Document(ids, patient, author)
    sections = [
        _allergy_section(document, content.allergies, language),
        _section("problems", ("11450-4", "Problem list - Reported"), language,
                 [f"{tr(c.name, language)} ({onset.isoformat()})" for c, onset in content.conditions],
                 [document.add(_condition(document, c, onset)) for c, onset in content.conditions]),
        _section("medications", ("10160-0", "History of Medication use Narrative"), language,
                 [f"{m.name}: {tr(m.dosage, language)}" for m, _ in content.medicines],
                 [document.add(_medication(document, m, start, language)) for m, start in content.medicines]),
        _section("immunizations", ("11369-6", "History of Immunization Narrative"), language,
                 [f"{tr(v.name, language)} ({when.isoformat()})" for v, when, _ in content.immunizations],
                 [document.add(_immunization(document, v, when, batch)) for v, when, batch in content.immunizations]),
    ]
    return document.bundle(type_code=("60591-5", "Patient summary Document"), title=title, day=day,
                           language=language, restricted=restricted, sections=sections)


def _allergy_section(document: _Document, allergies: list[Allergy], language: str) -> dict[str, Any]:
    code = ("48765-2", "Allergies and adverse reactions Document")
    if not allergies:
        # The IPS way of saying "asked, and there are none": an entry, not an empty section. Its clinical status
        # is required (invariant ait-1 of AllergyIntolerance-uv-ips: the verification status is not
        # entered-in-error) and is "active", as in the IPS guide's own no-known-allergies example.
        entry = document.add(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": _concept(ALLERGY_CLINICAL, "active", "Active"),
                "code": _concept(SNOMED, NO_KNOWN_ALLERGY.snomed, NO_KNOWN_ALLERGY.display),
                "patient": document.patient,
            }
        )
        return _section("allergies", code, language, [tr(NO_KNOWN_ALLERGY.name, language)], [entry])
    entries = [
        document.add(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": _concept(ALLERGY_CLINICAL, "active", "Active"),
                "verificationStatus": _concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"
                ),
                "type": "allergy",
                "category": [allergy.category],
                "code": _concept(SNOMED, allergy.snomed, allergy.display),
                "patient": document.patient,
            }
        )
        for allergy in allergies
    ]
    return _section("allergies", code, language, [tr(a.name, language) for a in allergies], entries)


def _condition(document: _Document, condition: Condition, onset: date) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
        "category": [_concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
                              "Problem List Item")],
        "code": _concept(SNOMED, condition.snomed, condition.display),
        "subject": document.patient,
        "onsetDateTime": onset.isoformat(),
    }


def _medication(document: _Document, medicine: Medicine, start: date, language: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": _concept(ATC, medicine.atc, medicine.substance, medicine.name),
        "subject": document.patient,
        "effectivePeriod": {"start": start.isoformat()},
        "dosage": [{"text": tr(medicine.dosage, language)}],
    }


def _immunization(document: _Document, vaccine: Vaccine, when: date, batch: str) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": _concept(CVX, vaccine.cvx, vaccine.display),
        "patient": document.patient,
        "occurrenceDateTime": when.isoformat(),
        "lotNumber": batch,
    }


@dataclass(frozen=True)
class GivenVaccine:
    """One vaccination the author gave or saw given: the vaccine (a FHIR CodeableConcept), its day, the optional
    dose number and batch."""

    vaccine: dict[str, Any]
    words: str  # the vaccine in the document's language, for the narrative
    given: date
    dose: int | None
    lot_number: str | None


def vaccination_record(
    ids: Ids,
    *,
    patient: PatientInfo,
    author: AuthorInfo,
    day: date,
    language: str,
    title: str,
    given: GivenVaccine,
    restricted: bool = False,
) -> dict[str, Any]:
    """A vaccination record of one Immunization recorded by the one who vaccinated (``primarySource`` true, the
    author its performer): the professional's counterpart of the holder's declaration (docs/adr/0042)."""
    document = _Document(ids, patient, author)
    immunization: dict[str, Any] = {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": given.vaccine,
        "patient": document.patient,
        "occurrenceDateTime": given.given.isoformat(),
        "recorded": _instant(day),
        "primarySource": True,
        "performer": [{"actor": document.practitioner}],
    }
    if given.lot_number:
        immunization["lotNumber"] = given.lot_number
    if given.dose is not None:
        immunization["protocolApplied"] = [{"doseNumberPositiveInt": given.dose}]
    section = _section("immunizations", ("11369-6", "History of Immunization Narrative"), language,
                       [f"{given.words} ({given.given.isoformat()})"], [document.add(immunization)])
    return document.bundle(type_code=("11369-6", "History of Immunization Narrative"), title=title, day=day,
                           language=language, restricted=restricted, sections=[section])


# -- imaging report ---------------------------------------------------------------------

DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"


@dataclass(frozen=True)
class ImagingContent:
    """One study and its report: the modality (DICOM code) and body site (SNOMED CT) of each series."""

    examination: tuple[str, str]  # LOINC code and display of the procedure, e.g. ("36643-5", "XR Chest 2 Views")
    modality: tuple[str, str]  # DICOM code and display
    body_site: tuple[str, str]  # SNOMED CT code and display
    study_uid: str  # DICOM Study Instance UID (digits and dots)
    accession_number: str | None
    series: int | None  # None: not known (a report entered in the portal); one series is described
    instances: int | None
    conclusion: str
    conclusion_code: tuple[str, str] | None = None  # SNOMED CT code and display
    examination_text: str | None = None  # the examination in the author's words, beside its code
    findings: str | None = None  # the radiologist's findings: the section's narrative
    # The UID of the one series described when their number is not known: a UUID-derived UID (2.25.…) that
    # names no series of the PACS; the viewer is opened by the study's UID only.
    series_uid: str | None = None
    started: date | None = None  # the day of the study when it is not the report's


def imaging_report(
    ids: Ids,
    *,
    patient: PatientInfo,
    author: AuthorInfo,
    day: date,
    language: str,
    title: str,
    content: ImagingContent,
    restricted: bool = False,
) -> dict[str, Any]:
    """An imaging report after the HL7 Europe Imaging Report: a DiagnosticReport and the ImagingStudy it reports."""
    document = _Document(ids, patient, author)
    identifiers: list[dict[str, Any]] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{content.study_uid}"}]
    if content.accession_number:
        identifiers.append({"type": _concept(IDENTIFIER_TYPE, "ACSN", "Accession ID"),
                            "system": f"urn:oid:{content.study_uid}.1", "value": content.accession_number})
    study_resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "identifier": identifiers,
        "status": "available",
        "modality": [_coding(DICOM_MODALITY, *content.modality)],
        "subject": document.patient,
        "started": _instant(content.started or day, 9),
    }
    if content.series is not None and content.instances is not None:
        per_series = max(1, content.instances // max(1, content.series))
        study_resource |= {"numberOfSeries": content.series, "numberOfInstances": content.instances, "series": [
            {"uid": f"{content.study_uid}.{n + 1}", "number": n + 1,
             "modality": _coding(DICOM_MODALITY, *content.modality), "numberOfInstances": per_series,
             "bodySite": _coding(SNOMED, *content.body_site)}
            for n in range(content.series)]}
    else:
        study_resource["series"] = [{"uid": content.series_uid or f"{content.study_uid}.1",
                                     "modality": _coding(DICOM_MODALITY, *content.modality),
                                     "bodySite": _coding(SNOMED, *content.body_site)}]
    study = document.add(study_resource)
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [_concept("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")],
        "code": _concept(LOINC, *content.examination, content.examination_text),
        "subject": document.patient,
        "effectiveDateTime": _instant(content.started or day, 9),
        "issued": _instant(day, 15),
        "performer": [document.organisation],
        "resultsInterpreter": [document.practitioner],
        "imagingStudy": [study],
        "conclusion": content.conclusion,
    }
    if content.conclusion_code:
        report["conclusionCode"] = [_concept(SNOMED, *content.conclusion_code)]
    reference = document.add(report)
    section = {
        "title": title,
        "code": _concept(LOINC, "18782-3", "Radiology Study observation (narrative)"),
        "text": ({"status": "additional",
                  "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(content.findings)}</p></div>'}
                 if content.findings else _narrative([content.conclusion])),
        "entry": [reference, study],
    }
    return document.bundle(type_code=("18748-4", "Diagnostic imaging study"), title=title, day=day,
                           language=language, restricted=restricted, sections=[section])


# -- discharge report -------------------------------------------------------------------------

# The HL7 Europe Hospital Discharge Report's section codes (LOINC) this builder writes.
DISCHARGE_SECTIONS = {
    "admission": ("46241-6", "Hospital admission diagnosis Narrative - Reported"),
    "course": ("8648-8", "Hospital course Narrative"),
    "procedures": ("10185-7", "Hospital discharge procedures Narrative"),
    "medication": ("10183-2", "Hospital discharge medications Narrative"),
    "plan": ("18776-5", "Plan of care note"),
}


@dataclass(frozen=True)
class DischargeContent:
    admission: date
    discharge: date
    reason: str  # the author's words, in the document's language
    course: str | None  # None: no hospital course section
    procedures: list[tuple[tuple[str, str], date]]  # SNOMED CT code and display, day performed
    medicines: list[Medicine]
    follow_up: str
    # The procedures and the medication on discharge in the author's words (the portal's form): the section's
    # narrative, beside the coded entries if any.
    procedures_text: str | None = None
    medication_text: str | None = None


def discharge_report(
    ids: Ids,
    *,
    patient: PatientInfo,
    author: AuthorInfo,
    language: str,
    title: str,
    content: DischargeContent,
    restricted: bool = False,
) -> dict[str, Any]:
    """A hospital discharge report after the HL7 Europe Hospital Discharge Report: one section per heading, each
    with its narrative as the author wrote it and its entries."""
    document = _Document(ids, patient, author)

    def written(*paragraphs: str) -> dict[str, str]:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        return {"status": "additional", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}

    def section(key: str, text: dict[str, str], entries: list[dict[str, str]] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"title": DISCHARGE_SECTIONS[key][1], "code": _concept(LOINC, *DISCHARGE_SECTIONS[key]),
                               "text": text}
        if entries:
            out["entry"] = entries
        return out

    procedures = [
        document.add({
            "resourceType": "Procedure",
            "status": "completed",
            "code": _concept(SNOMED, *code),
            "subject": document.patient,
            "performedDateTime": when.isoformat(),
        })
        for code, when in content.procedures
    ]
    medicines = [
        document.add({
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": _concept(ATC, medicine.atc, medicine.substance, medicine.name),
            "subject": document.patient,
            "effectivePeriod": {"start": content.discharge.isoformat()},
            "dosage": [{"text": tr(medicine.dosage, language)}],
        })
        for medicine in content.medicines
    ]
    stay = document.add({
        "resourceType": "Encounter",
        "status": "finished",
        "class": _coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", "inpatient encounter"),
        "subject": document.patient,
        "period": {"start": content.admission.isoformat(), "end": content.discharge.isoformat()},
    })
    plan = document.add({
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": document.patient,
        "period": {"start": content.discharge.isoformat()},
        "description": content.follow_up,
    })
    sections = [
        section("admission", written(*lines(content.reason))),
        *([section("course", written(*lines(content.course)))] if content.course else []),
        section("procedures", written(*lines(content.procedures_text)) if content.procedures_text else
                _narrative([display for (_, display), _ in content.procedures]), procedures),
        section("medication", written(*lines(content.medication_text)) if content.medication_text else
                _narrative([f"{m.name}: {tr(m.dosage, language)}" for m in content.medicines]), medicines),
        section("plan", _narrative([content.follow_up]), [plan]),
    ]
    return document.bundle(type_code=("18842-5", "Discharge summary"), title=title, day=content.discharge,
                           language=language, restricted=restricted, sections=sections, encounter=stay)


def lines(text: str) -> list[str]:
    """A text's paragraphs: its non-empty lines, each stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()] or [text.strip()]


# -- ePrescription and eDispensation ---------------------------------------------------

LU_MEDICINAL_PRODUCT = systems.LU_MEDICINAL_PRODUCT


@dataclass(frozen=True)
class Prescribed:
    medicine: Medicine
    product: str | None = None  # the Luxembourg medicinal product code, where the prescriber gives one
    quantity: tuple[float, str] | None = None  # what is to be dispensed: (value, unit), e.g. (2, "box")


def _medicine(medicine: Medicine, product: str | None) -> dict[str, Any]:
    concept = _concept(ATC, medicine.atc, medicine.substance, medicine.name)
    if product:
        concept["coding"].append(_coding(LU_MEDICINAL_PRODUCT, product, medicine.name))
    return concept


@dataclass(frozen=True)
class _MedicationDocument:
    """A medication document: one ``resource`` per item, listed in one section with a ``line`` of text each."""

    resource: Callable[[_Document, Prescribed, date, str], dict[str, Any]]  # (document, item, day, language)
    line: Callable[[Prescribed, str], str]  # (item, language)
    section: tuple[str, tuple[str, str]]
    type_code: tuple[str, str]

    def __call__(
        self,
        ids: Ids,
        *,
        patient: PatientInfo,
        author: AuthorInfo,
        day: date,
        language: str,
        title: str,
        items: list[Prescribed],
        restricted: bool = False,
    ) -> dict[str, Any]:
        document = _Document(ids, patient, author)
        resources = [document.add(self.resource(document, item, day, language)) for item in items]
        key, code = self.section
        listed = _section(key, code, language, [self.line(item, language) for item in items], resources)
        return document.bundle(type_code=self.type_code, title=title, day=day, language=language,
                               restricted=restricted, sections=[listed])


def _request(document: _Document, item: Prescribed, day: date, language: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": _medicine(item.medicine, item.product),
        "subject": document.patient,
        "authoredOn": day.isoformat(),
        "requester": document.practitioner,
        "dosageInstruction": [{"text": tr(item.medicine.dosage, language)}],
    }
    if item.quantity:
        resource["dispenseRequest"] = {"quantity": {"value": item.quantity[0], "unit": item.quantity[1]}}
    return resource


def _dispense(document: _Document, item: Prescribed, day: date, language: str) -> dict[str, Any]:
    value, unit = item.quantity or (1, "box")
    return {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": _medicine(item.medicine, item.product),
        "subject": document.patient,
        "performer": [{"actor": document.organisation}],
        "quantity": {"value": value, "unit": unit},
        "whenHandedOver": _instant(day, 15),
        "dosageInstruction": [{"text": tr(item.medicine.dosage, language)}],
    }


# An ePrescription: one MedicationRequest per medicine (HL7 Europe / IPS MedicationRequest shape).
prescription = _MedicationDocument(
    resource=_request,
    line=lambda item, language: f"{item.medicine.name}: {tr(item.medicine.dosage, language)}",
    section=("prescribed", ("57828-6", "Prescription list")),
    type_code=("57833-6", "Prescription for medication"),
)

# An eDispensation: one MedicationDispense per medicine handed over at the pharmacy (the author).
dispensation = _MedicationDocument(
    resource=_dispense,
    line=lambda item, _language: item.medicine.name,
    section=("dispensed", ("60590-7", "Medication dispensed.brief Document")),
    type_code=("60593-1", "Medication dispensed.extended Document"),
)
