"""Professions and specialties known to the platform (codes used in data files)."""

PROFESSIONS: dict[str, str] = {
    "physician": "Physician",
    "dentist": "Dentist",
    "pharmacist": "Pharmacist",
    "nurse": "Nurse",
    "midwife": "Midwife",
    "physiotherapist": "Physiotherapist",
    "laboratory_biologist": "Laboratory biologist",
    "radiographer": "Radiographer (medical imaging technician)",
    "home_care_nurse": "Home-care nurse",
}

SPECIALTIES: dict[str, str] = {
    "general_practice": "General practice",
    "cardiology": "Cardiology",
    "dermatology": "Dermatology",
    "emergency_medicine": "Emergency medicine",
    "gynaecology": "Gynaecology and obstetrics",
    "internal_medicine": "Internal medicine",
    "neurology": "Neurology",
    "oncology": "Oncology",
    "orthopaedics": "Orthopaedic surgery",
    "paediatrics": "Paediatrics",
    "psychiatry": "Psychiatry",
    "radiology": "Radiology",
    "clinical_biology": "Clinical biology",
    "surgery": "General surgery",
}
