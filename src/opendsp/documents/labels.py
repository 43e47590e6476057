"""The words people read for documents' controlled values (marked for the catalogues, translated where shown)."""

from __future__ import annotations

from opendsp.documents.types import DocumentStatus, DocumentType
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

STATUS_LABELS: dict[DocumentStatus, str] = {
    DocumentStatus.current: N_("current"),
    DocumentStatus.superseded: N_("replaced"),
    DocumentStatus.withdrawn: N_("withdrawn"),
}
