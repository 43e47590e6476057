"""The words people read for documents' controlled values (marked for the catalogues, translated where shown)."""

from __future__ import annotations

from opendsp.documents.types import CODINGS, DocumentStatus, DocumentType
from opendsp.locale import N_

TYPE_LABELS: dict[DocumentType, str] = {
    DocumentType.laboratory_report: N_("Laboratory report"),
    DocumentType.imaging_report: N_("Imaging report"),
    DocumentType.consultation_report: N_("Consultation report"),
    DocumentType.prescription: N_("Prescription"),
    DocumentType.discharge_letter: N_("Hospital discharge letter"),
    DocumentType.home_care_report: N_("Home-care report"),
    DocumentType.patient_summary: N_("Patient summary"),
    DocumentType.personal_document: N_("Personal document"),
    DocumentType.operative_report: N_("Operative report"),
    DocumentType.vaccination_record: N_("Vaccination record"),
    DocumentType.pathology_report: N_("Pathology report"),
    DocumentType.dispensation: N_("Medicine dispensation"),
}

# The EHDS priority categories (``CODINGS[type].ehds_category``), as the portals' filters and the export name them.
CATEGORY_LABELS: dict[str, str] = {
    "patient-summary": N_("Patient summaries"),
    "eprescription": N_("Prescriptions and dispensations"),
    "laboratory-result": N_("Laboratory results"),
    "imaging-report": N_("Medical imaging reports"),
    "discharge-report": N_("Hospital discharge reports"),
    "other": N_("Other documents"),
}
assert {coding.ehds_category for coding in CODINGS.values()} <= set(CATEGORY_LABELS)


def category_types(category: str) -> list[DocumentType]:
    """The document types of an EHDS category, in the controlled list's order."""
    return [kind for kind in DocumentType if CODINGS[kind].ehds_category == category]


STATUS_LABELS: dict[DocumentStatus, str] = {
    DocumentStatus.current: N_("current"),
    DocumentStatus.superseded: N_("replaced"),
    DocumentStatus.withdrawn: N_("withdrawn"),
}
