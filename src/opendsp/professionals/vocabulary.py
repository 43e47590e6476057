"""Professions and specialties known to the platform (codes used in data files), with their words.

The words are catalogue ids: the portals show them translated.
"""

from opendsp.locale import N_

PROFESSIONS: dict[str, str] = {
    "physician": N_("Physician"),
    "dentist": N_("Dentist"),
    "pharmacist": N_("Pharmacist"),
    "nurse": N_("Nurse"),
    "midwife": N_("Midwife"),
    "physiotherapist": N_("Physiotherapist"),
    "laboratory_biologist": N_("Laboratory biologist"),
    "radiographer": N_("Radiographer (medical imaging technician)"),
    "home_care_nurse": N_("Home-care nurse"),
}

SPECIALTIES: dict[str, str] = {
    "general_practice": N_("General practice"),
    "cardiology": N_("Cardiology"),
    "dermatology": N_("Dermatology"),
    "emergency_medicine": N_("Emergency medicine"),
    "gynaecology": N_("Gynaecology and obstetrics"),
    "internal_medicine": N_("Internal medicine"),
    "neurology": N_("Neurology"),
    "oncology": N_("Oncology"),
    "orthopaedics": N_("Orthopaedic surgery"),
    "paediatrics": N_("Paediatrics"),
    "psychiatry": N_("Psychiatry"),
    "radiology": N_("Radiology"),
    "clinical_biology": N_("Clinical biology"),
    "surgery": N_("General surgery"),
}
