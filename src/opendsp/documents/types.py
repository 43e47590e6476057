"""The controlled list of document types, with their LOINC document codes.

The EHDS priority category is kept beside each type so that the FHIR adapter
can fill ``DocumentReference.category`` without a second table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DocumentType(str, enum.Enum):
    laboratory_report = "laboratory_report"
    imaging_report = "imaging_report"
    consultation_report = "consultation_report"
    prescription = "prescription"
    discharge_letter = "discharge_letter"
    home_care_report = "home_care_report"
    patient_summary = "patient_summary"
    personal_document = "personal_document"
    operative_report = "operative_report"
    vaccination_record = "vaccination_record"
    pathology_report = "pathology_report"
    dispensation = "dispensation"


@dataclass(frozen=True)
class TypeCoding:
    loinc: str
    display: str
    ehds_category: str


CODINGS: dict[DocumentType, TypeCoding] = {
    DocumentType.laboratory_report: TypeCoding("11502-2", "Laboratory report", "laboratory-result"),
    DocumentType.imaging_report: TypeCoding("18748-4", "Diagnostic imaging study", "imaging-report"),
    DocumentType.consultation_report: TypeCoding("11488-4", "Consult note", "other"),
    DocumentType.prescription: TypeCoding("57833-6", "Prescription for medication", "eprescription"),
    DocumentType.discharge_letter: TypeCoding("18842-5", "Discharge summary", "discharge-report"),
    DocumentType.home_care_report: TypeCoding("34746-8", "Nurse Note", "other"),
    DocumentType.patient_summary: TypeCoding("60591-5", "Patient summary Document", "patient-summary"),
    DocumentType.personal_document: TypeCoding("51855-5", "Patient Note", "other"),
    DocumentType.operative_report: TypeCoding("11504-8", "Surgical operation note", "other"),
    DocumentType.vaccination_record: TypeCoding("11369-6", "History of Immunization Narrative", "other"),
    DocumentType.pathology_report: TypeCoding("11526-1", "Pathology study", "laboratory-result"),
    DocumentType.dispensation: TypeCoding("60593-1", "Medication dispensed.extended Document", "eprescription"),
}


class ConfidentialityLevel(str, enum.Enum):
    normal = "normal"
    restricted = "restricted"


class DocumentStatus(str, enum.Enum):
    current = "current"
    superseded = "superseded"
    withdrawn = "withdrawn"


class ContentKind(str, enum.Enum):
    binary = "binary"  # a file: PDF, image
    fhir = "fhir"  # structured data: a FHIR Bundle in JSON


FHIR_MEDIA_TYPE = "application/fhir+json"
