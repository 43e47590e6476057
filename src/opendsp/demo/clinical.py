"""The clinical vocabulary of the demo: conditions, tests, medicines, vaccines, texts.

Codes are real (SNOMED CT, LOINC, UCUM, ATC, CVX) so that the structured
documents mean something to a FHIR client; the texts are short templates in
French, German and English. Every text is a ``Text`` triple (fr, de, en); the
vocabulary a professional picks from in the portal's forms (conditions,
dosages, allergies, vaccines, tests, section titles) also has Portuguese, a
fourth element. A text without the language asked for is told in French.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

Text = tuple[str, ...]
LANGUAGES = ("fr", "de", "en", "pt")


def tr(text: Text, language: str) -> str:
    index = LANGUAGES.index(language)
    return text[index] if index < len(text) else text[0]


# -- medicines, conditions, allergies, vaccines ------------------------------


@dataclass(frozen=True)
class Medicine:
    atc: str
    name: str  # INN and strength, the same in every language
    dosage: Text

    @property
    def substance(self) -> str:
        """The name without its strength, as ATC displays it."""
        words = [w for w in self.name.split() if not w[0].isdigit() and w not in ("mg", "µg", "g")]
        return " ".join(words).lower()


@dataclass(frozen=True)
class Condition:
    key: str
    snomed: str
    display: str  # SNOMED CT display
    name: Text
    medicine: Medicine
    # The role of the specialist who follows it (None: the GP alone).
    specialist: str | None
    # Laboratory tests followed over time for this condition.
    tests: tuple[str, ...]


_MORNING: Text = ("1 comprimé le matin", "1 Tablette morgens", "1 tablet in the morning",
                  "1 comprimido de manhã")
_TWICE: Text = ("1 comprimé matin et soir", "1 Tablette morgens und abends", "1 tablet morning and evening",
                "1 comprimido de manhã e à noite")
_EVENING: Text = ("1 comprimé le soir", "1 Tablette abends", "1 tablet in the evening",
                  "1 comprimido à noite")

CONDITIONS: dict[str, Condition] = {
    c.key: c
    for c in (
        Condition("hypertension", "38341003", "Hypertensive disorder, systemic arterial",
                  ("Hypertension artérielle", "Arterielle Hypertonie", "Hypertension", "Hipertensão arterial"),
                  Medicine("C08CA01", "Amlodipine 5 mg", _MORNING), "cardiologist", ("creatinine", "potassium")),
        Condition("diabetes", "44054006", "Diabetes mellitus type 2",
                  ("Diabète de type 2", "Diabetes mellitus Typ 2", "Type 2 diabetes", "Diabetes tipo 2"),
                  Medicine("A10BA02", "Metformin 1000 mg", _TWICE), None, ("hba1c", "glucose", "creatinine")),
        Condition("hyperlipidaemia", "55822004", "Hyperlipidemia",
                  ("Hypercholestérolémie", "Hypercholesterinämie", "Hypercholesterolaemia", "Hipercolesterolemia"),
                  Medicine("C10AA05", "Atorvastatin 20 mg", _EVENING), None, ("cholesterol",)),
        Condition("ckd", "709044004", "Chronic kidney disease",
                  ("Insuffisance rénale chronique", "Chronische Niereninsuffizienz", "Chronic kidney disease",
                   "Doença renal crónica"),
                  Medicine("C09AA05", "Ramipril 5 mg", _MORNING), "internist",
                  ("creatinine", "potassium", "haemoglobin")),
        Condition("atrial_fibrillation", "49436004", "Atrial fibrillation",
                  ("Fibrillation auriculaire", "Vorhofflimmern", "Atrial fibrillation", "Fibrilhação auricular"),
                  Medicine("B01AF02", "Apixaban 5 mg", _TWICE), "cardiologist", ("haemoglobin", "creatinine")),
        Condition("asthma", "195967001", "Asthma", ("Asthme", "Asthma", "Asthma", "Asma"),
                  Medicine("R03AC02", "Salbutamol 100 µg",
                           ("2 bouffées si besoin", "2 Hübe bei Bedarf", "2 puffs when needed",
                            "2 inalações se necessário")), None, ()),
        Condition("hypothyroidism", "40930008", "Hypothyroidism", ("Hypothyroïdie", "Hypothyreose", "Hypothyroidism",
                                                               "Hipotiroidismo"),
                  Medicine("H03AA01", "Levothyroxine 75 µg",
                           ("1 comprimé à jeun", "1 Tablette nüchtern", "1 tablet before breakfast",
                            "1 comprimido em jejum")), None, ("tsh",)),
        Condition("anaemia", "87522002", "Iron deficiency anemia",
                  ("Anémie ferriprive", "Eisenmangelanämie", "Iron deficiency anaemia", "Anemia ferropénica"),
                  Medicine("B03AA07", "Ferrous sulfate 80 mg",
                           ("1 comprimé par jour", "1 Tablette täglich", "1 tablet a day",
                            "1 comprimido por dia")), None, ("haemoglobin",)),
        Condition("osteoarthritis", "239873007", "Osteoarthritis of knee", ("Gonarthrose", "Gonarthrose",
                  "Knee osteoarthritis", "Gonartrose"),
                  Medicine("N02BE01", "Paracetamol 1 g",
                           ("1 comprimé jusqu'à 3 fois par jour", "bis zu 3 mal täglich 1 Tablette",
                            "1 tablet up to 3 times a day", "1 comprimido até 3 vezes por dia")), "orthopaedist", ()),
        Condition("depression", "35489007", "Depressive disorder",
                  ("Épisode dépressif", "Depressive Episode", "Depressive episode", "Episódio depressivo"),
                  Medicine("N06AB06", "Sertraline 50 mg", _MORNING), "psychiatrist", ()),
    )
}

# Medicines prescribed for short episodes rather than for a condition.
AMOXICILLIN = Medicine("J01CA04", "Amoxicillin 500 mg",
                       ("1 gélule 3 fois par jour pendant 7 jours", "3 mal täglich 1 Kapsel für 7 Tage",
                        "1 capsule 3 times a day for 7 days",
                        "1 cápsula 3 vezes por dia durante 7 dias"))
IBUPROFEN = Medicine("M01AE01", "Ibuprofen 400 mg",
                     ("1 comprimé jusqu'à 3 fois par jour pendant 5 jours", "bis zu 3 mal täglich 1 Tablette für 5 Tage",
                      "1 tablet up to 3 times a day for 5 days",
                      "1 comprimido até 3 vezes por dia durante 5 dias"))
BISOPROLOL = Medicine("C07AB07", "Bisoprolol 2.5 mg", _MORNING)


@dataclass(frozen=True)
class Allergy:
    snomed: str
    display: str
    name: Text
    category: str = "medication"  # FHIR AllergyIntolerance.category


ALLERGIES: tuple[tuple[Allergy, float], ...] = (
    (Allergy("764146007", "Penicillin", ("Pénicilline", "Penicillin", "Penicillin", "Penicilina")), 0.2),
    (Allergy("256349002", "Peanut", ("Arachide", "Erdnuss", "Peanut", "Amendoim"), "food"), 0.08),
    (Allergy("111088007", "Latex", ("Latex", "Latex", "Latex", "Látex"), "environment"), 0.05),
)
NO_KNOWN_ALLERGY = Allergy("716186003", "No known allergy",
                           ("Pas d'allergie connue", "Keine bekannten Allergien", "No known allergies",
                            "Sem alergias conhecidas"))


@dataclass(frozen=True)
class Vaccine:
    cvx: str
    display: str
    name: Text


VACCINES: dict[str, Vaccine] = {
    "influenza": Vaccine("140", "Influenza, seasonal, injectable, preservative free",
                         ("Grippe saisonnière", "Saisonale Influenza", "Seasonal influenza", "Gripe sazonal")),
    "covid": Vaccine("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
                     ("COVID-19 (ARNm)", "COVID-19 (mRNA)", "COVID-19 (mRNA)", "COVID-19 (mRNA)")),
    "tdap": Vaccine("115", "Tdap", ("Diphtérie-tétanos-coqueluche (rappel)", "Tetanus-Diphtherie-Pertussis (Auffrischung)",
                                    "Tetanus, diphtheria, pertussis (booster)",
                                    "Difteria, tétano e tosse convulsa (reforço)")),
    "pneumococcal": Vaccine("33", "pneumococcal polysaccharide vaccine, 23 valent",
                            ("Pneumocoque (23-valent)", "Pneumokokken (23-valent)", "Pneumococcal (23-valent)",
                             "Pneumocócica (23-valente)")),
    "dtap": Vaccine("20", "DTaP", ("Diphtérie-tétanos-coqueluche", "Diphtherie-Tetanus-Pertussis",
                                   "Diphtheria, tetanus, pertussis",
                                   "Difteria, tétano e tosse convulsa")),
    "mmr": Vaccine("03", "MMR", ("Rougeole-oreillons-rubéole", "Masern-Mumps-Röteln", "Measles, mumps, rubella",
                                "Sarampo, papeira e rubéola")),
    "varicella": Vaccine("21", "varicella", ("Varicelle", "Windpocken", "Chickenpox", "Varicela")),
}


# -- laboratory tests ---------------------------------------------------------


@dataclass(frozen=True)
class Analyte:
    key: str
    loinc: str
    display: str  # LOINC long common name
    name: Text
    ucum: str
    unit: str  # as printed on a report
    range_female: tuple[float | None, float | None]
    range_male: tuple[float | None, float | None]
    decimals: int
    typical_female: float
    typical_male: float
    spread: float

    def reference_range(self, female: bool) -> tuple[float | None, float | None]:
        return self.range_female if female else self.range_male


def _same(low: float | None, high: float | None) -> tuple[tuple[float | None, float | None], ...]:
    return (low, high), (low, high)


ANALYTES: dict[str, Analyte] = {
    a.key: a
    for a in (
        Analyte("haemoglobin", "718-7", "Hemoglobin [Mass/volume] in Blood",
                ("Hémoglobine", "Hämoglobin", "Haemoglobin", "Hemoglobina"), "g/dL", "g/dL", (12.0, 16.0), (13.5, 17.5),
                1,
                13.6, 15.0, 0.6),
        Analyte("wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count",
                ("Leucocytes", "Leukozyten", "White blood cells", "Leucócitos"), "10*3/uL", "10³/µL",
                *_same(4.0, 10.0), 1,
                6.5, 6.5, 1.2),
        Analyte("platelets", "777-3", "Platelets [#/volume] in Blood by Automated count",
                ("Plaquettes", "Thrombozyten", "Platelets", "Plaquetas"), "10*3/uL", "10³/µL", *_same(150, 400), 0,
                250, 240, 35),
        Analyte("glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma",
                ("Glucose à jeun", "Nüchternglukose", "Fasting glucose", "Glicemia em jejum"), "mg/dL", "mg/dL",
                *_same(70, 99), 0,
                88, 90, 6),
        Analyte("hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood",
                ("HbA1c", "HbA1c", "HbA1c", "HbA1c"), "%", "%", *_same(4.0, 5.6), 1, 5.2, 5.3, 0.2),
        Analyte("creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma",
                ("Créatinine", "Kreatinin", "Creatinine", "Creatinina"), "mg/dL", "mg/dL", (0.5, 1.1), (0.7, 1.3), 2,
                0.75, 0.95, 0.08),
        Analyte("potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma",
                ("Potassium", "Kalium", "Potassium", "Potássio"), "mmol/L", "mmol/L", *_same(3.5, 5.1), 1, 4.3, 4.3,
                0.25),
        Analyte("cholesterol", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma",
                ("Cholestérol total", "Gesamtcholesterin", "Total cholesterol", "Colesterol total"), "mg/dL", "mg/dL",
                *_same(None, 200), 0, 185, 185, 14),
        Analyte("tsh", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma",
                ("TSH", "TSH", "TSH", "TSH"), "m[IU]/L", "mUI/L", *_same(0.4, 4.0), 2, 1.8, 1.8, 0.5),
    )
}

BLOOD_COUNT = ("haemoglobin", "wbc", "platelets")
# What a yearly check-up measures besides the blood count.
CHECK_UP = ("glucose", "creatinine", "cholesterol")

# How a condition moves a test over the years of the demo: (first value, change a year, bound).
# Treatment brings most values back towards normal; kidney disease slowly worsens.
TRENDS: dict[str, dict[str, tuple[float, float, float]]] = {
    "diabetes": {"hba1c": (8.4, -0.5, 6.6), "glucose": (168, -18, 118)},
    "hyperlipidaemia": {"cholesterol": (268, -28, 182)},
    "ckd": {"creatinine": (1.45, 0.09, 2.2), "potassium": (5.0, 0.1, 5.6)},
    "anaemia": {"haemoglobin": (10.1, 0.9, 12.9)},
    "hypothyroidism": {"tsh": (7.8, -2.6, 1.9)},
}


def interpretation(value: float, low: float | None, high: float | None) -> str:
    """H, L or N, as in HL7's ObservationInterpretation."""
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"


# -- encounters: what a consultation report says -----------------------------


@dataclass(frozen=True)
class Encounter:
    reason: Text
    findings: Text
    conclusion: Text
    plan: Text
    medicine: Medicine | None = None  # prescribed at the end of the visit, if any


FOLLOW_UP = Encounter(
    ("Consultation de suivi ({condition})", "Verlaufskontrolle ({condition})", "Follow-up visit ({condition})"),
    ("Bon état général. TA {sys}/{dia} mmHg, FC {hr}/min, poids {weight} kg. Auscultation cardio-pulmonaire normale.",
     "Guter Allgemeinzustand. RR {sys}/{dia} mmHg, Puls {hr}/min, Gewicht {weight} kg. Herz und Lunge unauffällig.",
     "Good general condition. BP {sys}/{dia} mmHg, heart rate {hr}/min, weight {weight} kg. Heart and lungs normal."),
    ("{condition}: stable sous traitement.", "{condition}: unter Therapie stabil.", "{condition}: stable on treatment."),
    ("Poursuite du traitement, contrôle biologique dans 3 mois.", "Therapie fortführen, Laborkontrolle in 3 Monaten.",
     "Continue treatment; blood tests again in 3 months."),
)

GP_ACUTE: tuple[Encounter, ...] = (
    Encounter(
        ("Toux, rhinorrhée et fièvre depuis 3 jours", "Husten, Schnupfen und Fieber seit 3 Tagen",
         "Cough, runny nose and fever for 3 days"),
        ("T {temp} °C. Gorge érythémateuse, auscultation pulmonaire libre.",
         "T {temp} °C. Rachen gerötet, Lunge auskultatorisch frei.", "T {temp} °C. Red throat, clear chest."),
        ("Infection virale des voies respiratoires supérieures.", "Viraler Infekt der oberen Atemwege.",
         "Viral upper respiratory tract infection."),
        ("Traitement symptomatique, reconsulter si la fièvre dure plus de 5 jours.",
         "Symptomatische Therapie, Wiedervorstellung bei Fieber über 5 Tage.",
         "Symptomatic treatment; come back if the fever lasts more than 5 days."),
    ),
    Encounter(
        ("Douleurs lombaires depuis une semaine, sans irradiation",
         "Lumbale Rückenschmerzen seit einer Woche, ohne Ausstrahlung", "Low back pain for a week, not radiating"),
        ("Contracture paravertébrale lombaire, pas de déficit neurologique.",
         "Paravertebraler Muskelhartspann lumbal, keine neurologischen Ausfälle.",
         "Lumbar muscle spasm, no neurological deficit."),
        ("Lombalgie commune.", "Unspezifischer Kreuzschmerz.", "Non-specific low back pain."),
        ("Antalgiques, kinésithérapie (9 séances), maintien de l'activité.",
         "Analgetika, Physiotherapie (9 Sitzungen), Aktivität beibehalten.",
         "Painkillers, physiotherapy (9 sessions), stay active."),
        IBUPROFEN,
    ),
    Encounter(
        ("Fatigue persistante depuis un mois", "Anhaltende Müdigkeit seit einem Monat",
         "Persistent tiredness for a month"),
        ("TA {sys}/{dia} mmHg, poids {weight} kg. Examen clinique sans particularité.",
         "RR {sys}/{dia} mmHg, Gewicht {weight} kg. Klinische Untersuchung unauffällig.",
         "BP {sys}/{dia} mmHg, weight {weight} kg. Unremarkable examination."),
        ("Asthénie à explorer.", "Abklärungsbedürftige Müdigkeit.", "Tiredness to be investigated."),
        ("Bilan sanguin complet, revoir avec les résultats.", "Blutbild und Labor, Wiedervorstellung mit Befunden.",
         "Full blood tests; review with the results."),
    ),
)

# Specialist follow-up: what the specialist found, by role.
SPECIALIST_FINDINGS: dict[str, Text] = {
    "cardiologist": ("ECG: {ecg}. Échocardiographie: FEVG {ef} %, pas de valvulopathie significative.",
                     "EKG: {ecg}. Echokardiographie: LVEF {ef} %, keine relevante Klappenerkrankung.",
                     "ECG: {ecg}. Echocardiography: LVEF {ef}%, no significant valve disease."),
    "internist": ("TA {sys}/{dia} mmHg. Pas d'oedèmes, diurèse conservée.",
                  "RR {sys}/{dia} mmHg. Keine Ödeme, Diurese erhalten.",
                  "BP {sys}/{dia} mmHg. No oedema, urine output preserved."),
    "psychiatrist": ("Humeur améliorée, sommeil restauré, pas d'idées suicidaires.",
                     "Stimmung gebessert, Schlaf normalisiert, keine Suizidgedanken.",
                     "Mood improved, sleep restored, no suicidal thoughts."),
    "orthopaedist": ("Genou: épanchement minime, flexion limitée à 110°.",
                     "Knie: geringer Erguss, Beugung bis 110° eingeschränkt.",
                     "Knee: small effusion, flexion limited to 110°."),
}
SPECIALIST_PLAN: Text = ("Poursuite du traitement, revoir dans 6 à 12 mois.", "Therapie fortführen, Kontrolle in 6-12 Monaten.",
                         "Continue treatment; review in 6 to 12 months.")
SINUS_RHYTHM: Text = ("rythme sinusal régulier", "Sinusrhythmus", "regular sinus rhythm")
AF_RHYTHM: Text = ("fibrillation auriculaire à fréquence contrôlée", "Vorhofflimmern mit kontrollierter Frequenz",
                   "atrial fibrillation with controlled rate")

_NORMAL: Text = ("Examen normal.", "Unauffälliger Befund.", "Normal examination.")

EMERGENCY: tuple[Encounter, ...] = (
    Encounter(
        ("Traumatisme de la cheville gauche en descendant un escalier",
         "Distorsion des linken Sprunggelenks beim Treppabgehen", "Left ankle twisted on the stairs"),
        ("Oedème malléolaire externe, appui possible, radiographie sans fracture.",
         "Schwellung am Außenknöchel, Belastung möglich, Röntgen ohne Fraktur.",
         "Swelling over the outer ankle, can bear weight, X-ray shows no fracture."),
        ("Entorse bénigne de la cheville gauche.", "Leichte Distorsion des linken Sprunggelenks.",
         "Mild sprain of the left ankle."),
        ("Attelle, glace, reprise progressive de l'appui.", "Schiene, Kühlung, schrittweise Belastung.",
         "Brace, ice, gradual return to walking."),
        IBUPROFEN,
    ),
    Encounter(
        ("Douleur thoracique atypique", "Atypische Thoraxschmerzen", "Atypical chest pain"),
        ("TA {sys}/{dia} mmHg. ECG normal, troponine négative à deux reprises.",
         "RR {sys}/{dia} mmHg. EKG unauffällig, Troponin zweimal negativ.",
         "BP {sys}/{dia} mmHg. Normal ECG, troponin negative twice."),
        ("Douleur thoracique non cardiaque, probablement pariétale.",
         "Nicht kardialer, vermutlich muskuloskelettaler Thoraxschmerz.",
         "Non-cardiac chest pain, probably musculoskeletal."),
        ("Retour à domicile, revoir le médecin traitant sous 7 jours.",
         "Entlassung nach Hause, Hausarztkontrolle innerhalb von 7 Tagen.", "Home; see the GP within 7 days."),
    ),
)

PAEDIATRIC: tuple[Encounter, ...] = (
    Encounter(
        ("Bilan de santé à {age} ans", "Vorsorgeuntersuchung mit {age} Jahren", "Well-child check at age {age}"),
        ("Taille {height} cm, poids {weight} kg, développement psychomoteur normal.",
         "Größe {height} cm, Gewicht {weight} kg, altersgerechte Entwicklung.",
         "Height {height} cm, weight {weight} kg, normal development."),
        ("Enfant en bonne santé.", "Gesundes Kind.", "Healthy child."),
        ("Vaccinations à jour; prochain bilan dans un an.", "Impfungen aktuell; nächste Vorsorge in einem Jahr.",
         "Vaccinations up to date; next check in a year."),
    ),
    Encounter(
        ("Fièvre et otalgie droite depuis 2 jours", "Fieber und Ohrenschmerzen rechts seit 2 Tagen",
         "Fever and right earache for 2 days"),
        ("T {temp} °C. Tympan droit bombé et inflammatoire.", "T {temp} °C. Trommelfell rechts vorgewölbt und gerötet.",
         "T {temp} °C. Right eardrum bulging and red."),
        ("Otite moyenne aiguë droite.", "Akute Otitis media rechts.", "Acute otitis media, right ear."),
        ("Antibiotique 7 jours, contrôle si la fièvre persiste.", "Antibiotikum für 7 Tage, Kontrolle bei anhaltendem Fieber.",
         "Antibiotic for 7 days; review if the fever persists."),
        AMOXICILLIN,
    ),
)

GYNAECOLOGY_CHECK = Encounter(
    ("Consultation gynécologique annuelle", "Gynäkologische Jahreskontrolle", "Annual gynaecological check-up"),
    ("Examen gynécologique normal, frottis cervical réalisé.", "Unauffälliger gynäkologischer Befund, Zervixabstrich entnommen.",
     "Normal gynaecological examination; cervical smear taken."),
    _NORMAL,
    ("Prochain contrôle dans un an.", "Nächste Kontrolle in einem Jahr.", "Next check-up in one year."),
)
ANTENATAL = Encounter(
    ("Suivi de grossesse, {weeks} semaines d'aménorrhée", "Schwangerschaftsvorsorge, {weeks}. SSW",
     "Antenatal visit, {weeks} weeks of pregnancy"),
    ("Échographie: grossesse monofoetale évolutive, biométrie conforme au terme.",
     "Ultraschall: intakte Einlingsschwangerschaft, zeitgerechte Biometrie.",
     "Ultrasound: ongoing singleton pregnancy, growth as expected."),
    ("Grossesse d'évolution normale.", "Unauffälliger Schwangerschaftsverlauf.", "Normal course of pregnancy."),
    ("Prochain contrôle dans 4 semaines.", "Nächste Kontrolle in 4 Wochen.", "Next visit in 4 weeks."),
)
MIDWIFE = Encounter(
    ("Préparation à la naissance ({weeks} SA)", "Geburtsvorbereitung ({weeks}. SSW)", "Birth preparation ({weeks} weeks)"),
    ("TA {sys}/{dia} mmHg, bruits du coeur foetal réguliers, mouvements actifs perçus.",
     "RR {sys}/{dia} mmHg, fetale Herztöne regelmäßig, Kindsbewegungen vorhanden.",
     "BP {sys}/{dia} mmHg, regular fetal heart sounds, active movements."),
    ("Grossesse d'évolution normale.", "Unauffälliger Schwangerschaftsverlauf.", "Normal course of pregnancy."),
    ("Séance suivante dans 2 semaines.", "Nächste Sitzung in 2 Wochen.", "Next session in 2 weeks."),
)
DERMATOLOGY = Encounter(
    ("Lésion pigmentée du dos qui se modifie", "Sich verändernde pigmentierte Läsion am Rücken",
     "Changing pigmented lesion on the back"),
    ("Lésion pigmentée asymétrique de 7 mm en dermoscopie.", "Asymmetrische pigmentierte Läsion von 7 mm in der Dermatoskopie.",
     "Asymmetric 7 mm pigmented lesion on dermoscopy."),
    ("Naevus atypique: exérèse réalisée, envoi en anatomopathologie.",
     "Atypischer Nävus: Exzision durchgeführt, Histologie veranlasst.",
     "Atypical naevus: excised and sent for histology."),
    ("Résultat histologique à discuter dans 2 semaines.", "Besprechung des Histologiebefunds in 2 Wochen.",
     "Histology result to be discussed in 2 weeks."),
)
PHYSIOTHERAPY = Encounter(
    ("Rééducation lombaire, bilan après 9 séances", "Physiotherapie bei Lumbalgie, Bericht nach 9 Sitzungen",
     "Low back rehabilitation, report after 9 sessions"),
    ("Mobilité lombaire améliorée, douleur 2/10 (6/10 au départ).", "Lumbale Beweglichkeit verbessert, Schmerz 2/10 (anfangs 6/10).",
     "Lumbar mobility improved, pain 2/10 (6/10 at first)."),
    ("Évolution favorable.", "Günstiger Verlauf.", "Good progress."),
    ("Poursuite des exercices à domicile.", "Heimübungsprogramm fortsetzen.", "Continue the home exercises."),
)
DENTAL = Encounter(
    ("Contrôle annuel et détartrage", "Jährliche Kontrolle und Zahnsteinentfernung", "Annual check-up and scaling"),
    ("Pas de carie, gencives saines après détartrage.", "Kariesfrei, Zahnfleisch nach Zahnsteinentfernung gesund.",
     "No caries; healthy gums after scaling."),
    ("État bucco-dentaire satisfaisant.", "Guter Zahnstatus.", "Good oral health."),
    ("Contrôle dans un an.", "Kontrolle in einem Jahr.", "Check-up in one year."),
)

CONSULTATION_TITLES: dict[str, Text] = {
    "gp": ("Consultation de médecine générale", "Hausärztlicher Konsultationsbericht", "General practice consultation"),
    "cardiologist": ("Consultation de cardiologie", "Kardiologischer Befundbericht", "Cardiology consultation"),
    "internist": ("Consultation de médecine interne", "Internistischer Befundbericht", "Internal medicine consultation"),
    "psychiatrist": ("Consultation de psychiatrie", "Psychiatrischer Befundbericht", "Psychiatry consultation"),
    "orthopaedist": ("Consultation d'orthopédie", "Orthopädischer Befundbericht", "Orthopaedic consultation"),
    "paediatrician": ("Consultation de pédiatrie", "Pädiatrischer Befundbericht", "Paediatric consultation"),
    "gynaecologist": ("Consultation de gynécologie", "Gynäkologischer Befundbericht", "Gynaecology consultation"),
    "dermatologist": ("Consultation de dermatologie", "Dermatologischer Befundbericht", "Dermatology consultation"),
    "emergency": ("Passage aux urgences", "Bericht der Notaufnahme", "Emergency department visit"),
    "midwife": ("Consultation de sage-femme", "Hebammenbericht", "Midwife visit"),
    "physiotherapist": ("Bilan de kinésithérapie", "Physiotherapiebericht", "Physiotherapy report"),
    "dentist": ("Consultation dentaire", "Zahnärztlicher Befundbericht", "Dental consultation"),
}


# -- imaging, stays, operations, pathology -------------------------------------


@dataclass(frozen=True)
class Examination:
    title: Text
    indication: Text
    findings: Text
    conclusion: Text


IMAGING: dict[str, Examination] = {
    "chest": Examination(
        ("Radiographie du thorax", "Röntgen Thorax", "Chest X-ray"),
        ("Toux persistante", "Anhaltender Husten", "Persistent cough"),
        ("Pas de foyer de condensation, pas d'épanchement pleural. Silhouette cardiaque normale.",
         "Kein Infiltrat, kein Pleuraerguss. Normale Herzgröße.", "No consolidation or pleural effusion. Normal heart size."),
        ("Radiographie thoracique normale.", "Unauffälliges Röntgen Thorax.", "Normal chest X-ray."),
    ),
    "knee": Examination(
        ("Radiographie du genou droit", "Röntgen Kniegelenk rechts", "Right knee X-ray"),
        ("Douleurs mécaniques du genou", "Belastungsabhängige Knieschmerzen", "Knee pain on walking"),
        ("Pincement de l'interligne fémoro-tibial interne, ostéophytes marginaux.",
         "Medial betonte Gelenkspaltverschmälerung, randständige Osteophyten.",
         "Medial joint space narrowing with marginal osteophytes."),
        ("Gonarthrose interne modérée.", "Mäßige mediale Gonarthrose.", "Moderate medial knee osteoarthritis."),
    ),
    "abdomen": Examination(
        ("Échographie abdominale", "Abdomensonographie", "Abdominal ultrasound"),
        ("Douleurs de l'hypocondre droit", "Schmerzen im rechten Oberbauch", "Right upper abdominal pain"),
        ("Vésicule biliaire lithiasique sans signe de cholécystite. Foie, reins et rate sans particularité.",
         "Cholezystolithiasis ohne Zeichen einer Cholezystitis. Leber, Nieren und Milz unauffällig.",
         "Gallstones without signs of cholecystitis. Liver, kidneys and spleen normal."),
        ("Lithiase vésiculaire non compliquée.", "Unkomplizierte Cholezystolithiasis.", "Uncomplicated gallstones."),
    ),
    "spine": Examination(
        ("IRM du rachis lombaire", "MRT der Lendenwirbelsäule", "Lumbar spine MRI"),
        ("Lombalgies persistantes", "Persistierende Lumbalgien", "Persistent low back pain"),
        ("Discopathie dégénérative L4-L5 et L5-S1 sans conflit radiculaire.",
         "Degenerative Bandscheibenveränderungen L4-L5 und L5-S1 ohne Nervenwurzelkompression.",
         "Degenerative disc disease at L4-L5 and L5-S1 without nerve root compression."),
        ("Discopathie dégénérative sans hernie discale.", "Degenerative Diskopathie ohne Bandscheibenvorfall.",
         "Degenerative disc disease, no herniation."),
    ),
    "mammography": Examination(
        ("Mammographie de dépistage", "Screening-Mammographie", "Screening mammogram"),
        ("Programme de dépistage du cancer du sein", "Brustkrebs-Früherkennungsprogramm", "Breast screening programme"),
        ("Seins de densité B, pas de masse ni de microcalcifications suspectes.",
         "Brustdichte B, keine Herdbefunde oder suspekten Mikroverkalkungen.",
         "Breast density B, no mass or suspicious microcalcifications."),
        ("BI-RADS 1, examen normal.", "BI-RADS 1, unauffälliger Befund.", "BI-RADS 1, normal."),
    ),
    "ankle": Examination(
        ("Radiographie de la cheville gauche", "Röntgen linkes Sprunggelenk", "Left ankle X-ray"),
        ("Traumatisme de la cheville", "Sprunggelenktrauma", "Ankle injury"),
        ("Pas de trait de fracture. Tuméfaction des parties molles en regard de la malléole externe.",
         "Keine Fraktur. Weichteilschwellung über dem Außenknöchel.",
         "No fracture. Soft-tissue swelling over the outer ankle."),
        ("Absence de lésion osseuse.", "Keine knöcherne Verletzung.", "No bone injury."),
    ),
}


@dataclass(frozen=True)
class Stay:
    key: str
    author_role: str
    reason: Text
    course: Text
    follow_up: Text
    days: int
    operation: Examination | None = None  # title, indication, procedure, outcome
    pathology: Examination | None = None  # title, specimen, microscopy, conclusion
    medicines: tuple[Medicine, ...] = ()


_APPENDIX_PATHOLOGY = Examination(
    ("Examen anatomopathologique: appendice", "Histologischer Befund: Appendix", "Histopathology: appendix"),
    ("Pièce d'appendicectomie", "Appendektomiepräparat", "Appendicectomy specimen"),
    ("Infiltrat inflammatoire à polynucléaires sur toute l'épaisseur de la paroi.", "Transmurale granulozytäre Entzündung.",
     "Neutrophilic inflammation through the whole wall."),
    ("Appendicite aiguë phlegmoneuse. Absence de malignité.", "Akute phlegmonöse Appendizitis. Kein Malignitätsnachweis.",
     "Acute phlegmonous appendicitis. No malignancy."),
)
_GALLBLADDER_PATHOLOGY = Examination(
    ("Examen anatomopathologique: vésicule biliaire", "Histologischer Befund: Gallenblase", "Histopathology: gallbladder"),
    ("Vésicule biliaire", "Gallenblase", "Gallbladder"),
    ("Paroi épaissie, fibrose et infiltrat lymphocytaire.", "Verdickte Wand mit Fibrose und lymphozytärem Infiltrat.",
     "Thickened wall with fibrosis and lymphocytic infiltrate."),
    ("Cholécystite chronique lithiasique. Absence de malignité.",
     "Chronische Cholezystitis bei Cholezystolithiasis. Kein Malignitätsnachweis.",
     "Chronic calculous cholecystitis. No malignancy."),
)
SKIN_PATHOLOGY = Examination(
    ("Examen anatomopathologique: exérèse cutanée", "Histologischer Befund: Hautexzisat", "Histopathology: skin excision"),
    ("Lésion pigmentée du dos", "Pigmentierte Läsion am Rücken", "Pigmented lesion of the back"),
    ("Prolifération mélanocytaire jonctionnelle avec atypies architecturales légères.",
     "Junktionale melanozytäre Proliferation mit geringer architektonischer Atypie.",
     "Junctional melanocytic proliferation with mild architectural atypia."),
    ("Naevus dysplasique de bas grade, exérèse complète.", "Dysplastischer Nävus, niedriggradig, vollständig exzidiert.",
     "Low-grade dysplastic naevus, completely excised."),
)

STAYS: dict[str, Stay] = {
    "pneumonia": Stay(
        "pneumonia", "internist",
        ("Pneumopathie communautaire du lobe inférieur droit", "Ambulant erworbene Pneumonie des rechten Unterlappens",
         "Community-acquired pneumonia of the right lower lobe"),
        ("Évolution favorable sous antibiothérapie intraveineuse puis orale, apyrexie au 3e jour.",
         "Günstiger Verlauf unter intravenöser, dann oraler Antibiose; fieberfrei ab Tag 3.",
         "Good response to intravenous then oral antibiotics; no fever from day 3."),
        ("Radiographie de contrôle dans 6 semaines chez le médecin traitant.", "Röntgenkontrolle in 6 Wochen beim Hausarzt.",
         "Follow-up chest X-ray in 6 weeks with the GP."),
        5, medicines=(AMOXICILLIN,),
    ),
    "atrial_fibrillation": Stay(
        "atrial_fibrillation", "cardiologist",
        ("Fibrillation auriculaire rapide", "Tachykardes Vorhofflimmern", "Atrial fibrillation with a fast heart rate"),
        ("Contrôle de la fréquence par bêtabloquant, anticoagulation introduite.",
         "Frequenzkontrolle mit Betablocker, Antikoagulation begonnen.", "Rate control with a beta-blocker; anticoagulation started."),
        ("Consultation de cardiologie dans 3 mois.", "Kardiologische Kontrolle in 3 Monaten.", "Cardiology review in 3 months."),
        3, medicines=(BISOPROLOL, CONDITIONS["atrial_fibrillation"].medicine),
    ),
    "knee": Stay(
        "knee", "orthopaedist",
        ("Prothèse totale du genou droit pour gonarthrose", "Knie-Totalendoprothese rechts bei Gonarthrose",
         "Right total knee replacement for osteoarthritis"),
        ("Mobilisation précoce, rééducation dès le premier jour, cicatrice propre.",
         "Frühmobilisation, Physiotherapie ab Tag 1, reizlose Wunde.", "Early mobilisation, physiotherapy from day 1, clean wound."),
        ("Soins infirmiers à domicile pour les pansements, ablation des agrafes à J14.",
         "Häusliche Pflege für Verbandswechsel, Klammerentfernung am Tag 14.",
         "Home nursing for dressings; staples out on day 14."),
        6,
        operation=Examination(
            ("Compte rendu opératoire: prothèse totale du genou", "Operationsbericht: Knie-Totalendoprothese",
             "Operation note: total knee replacement"),
            ("Gonarthrose droite invalidante", "Fortgeschrittene Gonarthrose rechts", "Disabling right knee osteoarthritis"),
            ("Voie d'abord para-patellaire interne, mise en place d'une prothèse cimentée, fermeture plan par plan.",
             "Medialer parapatellarer Zugang, Implantation einer zementierten Prothese, schichtweiser Wundverschluss.",
             "Medial parapatellar approach, cemented prosthesis, layered closure."),
            ("Intervention sans incident, saignement minime.", "Komplikationsloser Eingriff, geringer Blutverlust.",
             "Uneventful operation, minimal blood loss."),
        ),
        medicines=(CONDITIONS["osteoarthritis"].medicine,),
    ),
    "appendicitis": Stay(
        "appendicitis", "surgeon",
        ("Appendicite aiguë", "Akute Appendizitis", "Acute appendicitis"),
        ("Appendicectomie par coelioscopie le jour de l'admission, suites simples.",
         "Laparoskopische Appendektomie am Aufnahmetag, komplikationsloser Verlauf.",
         "Keyhole appendicectomy on the day of admission; smooth recovery."),
        ("Reprise des activités après 2 semaines.", "Wiederaufnahme der Aktivitäten nach 2 Wochen.",
         "Back to normal activities after 2 weeks."),
        2,
        operation=Examination(
            ("Compte rendu opératoire: appendicectomie", "Operationsbericht: Appendektomie", "Operation note: appendicectomy"),
            ("Appendicite aiguë", "Akute Appendizitis", "Acute appendicitis"),
            ("Coelioscopie, appendice inflammatoire sans perforation, ligature à la base, extraction en sac.",
             "Laparoskopie, phlegmonöse Appendix ohne Perforation, Absetzen an der Basis, Bergung im Bergebeutel.",
             "Laparoscopy, inflamed appendix without perforation, tied at the base, removed in a bag."),
            ("Intervention sans incident.", "Komplikationsloser Eingriff.", "Uneventful operation."),
        ),
        pathology=_APPENDIX_PATHOLOGY,
    ),
    "gallbladder": Stay(
        "gallbladder", "surgeon",
        ("Lithiase vésiculaire symptomatique", "Symptomatische Cholezystolithiasis", "Symptomatic gallstones"),
        ("Cholécystectomie par coelioscopie, suites simples, alimentation reprise le lendemain.",
         "Laparoskopische Cholezystektomie, komplikationsloser Verlauf, Kostaufbau am Folgetag.",
         "Keyhole removal of the gallbladder; eating normally the next day."),
        ("Consultation de contrôle dans un mois.", "Kontrolle in einem Monat.", "Check-up in one month."),
        2,
        operation=Examination(
            ("Compte rendu opératoire: cholécystectomie", "Operationsbericht: Cholezystektomie",
             "Operation note: cholecystectomy"),
            ("Lithiase vésiculaire symptomatique", "Symptomatische Cholezystolithiasis", "Symptomatic gallstones"),
            ("Coelioscopie, clipage du canal et de l'artère cystiques, extraction de la vésicule en sac.",
             "Laparoskopie, Clipping von Ductus und Arteria cystica, Bergung der Gallenblase im Bergebeutel.",
             "Laparoscopy, cystic duct and artery clipped, gallbladder removed in a bag."),
            ("Intervention sans incident.", "Komplikationsloser Eingriff.", "Uneventful operation."),
        ),
        pathology=_GALLBLADDER_PATHOLOGY,
    ),
}


# -- home care, vaccination and personal documents ------------------------------

HOME_CARE: tuple[tuple[Text, Text], ...] = (
    (("Préparation et administration des médicaments, aide à la toilette.",
      "Medikamentenrichten und -gabe, Hilfe bei der Körperpflege.", "Preparing and giving medicines, help with washing."),
     ("Patient(e) autonome pour les repas.", "Selbstständig bei den Mahlzeiten.", "Manages meals alone.")),
    (("Pansement de la plaie opératoire tous les deux jours.", "Verbandswechsel der Operationswunde jeden zweiten Tag.",
      "Dressing of the surgical wound every other day."),
     ("Plaie propre, en voie de cicatrisation.", "Wunde sauber und in Abheilung.", "Wound clean and healing.")),
    (("Surveillance de la glycémie capillaire et de la tension.", "Kontrolle von Blutzucker und Blutdruck.",
      "Checks of blood sugar and blood pressure."),
     ("Légère baisse de l'appétit, à surveiller.", "Leicht verminderter Appetit, zu beobachten.",
      "Appetite slightly down; to be watched.")),
)

PERSONAL: tuple[tuple[Text, Text], ...] = (
    (("Mes directives anticipées", "Meine Patientenverfügung", "My advance directive"),
     ("Je ne souhaite pas de traitement visant seulement à prolonger ma vie sans espoir d'amélioration. "
      "Ma personne de confiance est {contact}.",
      "Ich wünsche keine lebensverlängernden Maßnahmen ohne Aussicht auf Besserung. Meine Vertrauensperson ist {contact}.",
      "I do not want treatment that only prolongs my life without hope of recovery. My trusted person is {contact}.")),
    (("Relevé de ma tension à domicile", "Meine Blutdruckmessungen zu Hause", "My home blood pressure log"),
     ("Mesures du matin sur deux semaines: {readings}.", "Morgendliche Messungen über zwei Wochen: {readings}.",
      "Morning readings over two weeks: {readings}.")),
    (("Questions pour mon prochain rendez-vous", "Fragen für meinen nächsten Arzttermin",
      "Questions for my next appointment"),
     ("Dois-je continuer tous mes médicaments? Puis-je reprendre le sport? Quand faire ma prochaine prise de sang?",
      "Soll ich alle Medikamente weiter nehmen? Darf ich wieder Sport treiben? Wann ist die nächste Blutabnahme?",
      "Should I keep taking all my medicines? Can I start sport again? When is my next blood test?")),
    (("Ma carte de groupe sanguin (copie)", "Mein Blutgruppenausweis (Kopie)", "My blood group card (copy)"),
     ("Groupe sanguin: {blood_group}.", "Blutgruppe: {blood_group}.", "Blood group: {blood_group}.")),
)
BLOOD_GROUPS = ("O Rh+", "A Rh+", "B Rh+", "AB Rh+", "O Rh-", "A Rh-")

# -- labels used on every report -------------------------------------------------

LABELS: dict[str, Text] = {
    "patient": ("Patient(e)", "Patient(in)", "Patient"),
    "national_number": ("Matricule", "Matrikelnummer", "National number"),
    "born": ("Né(e) le", "Geboren am", "Date of birth"),
    "date": ("Date", "Datum", "Date"),
    "reason": ("Motif", "Anlass", "Reason"),
    "findings": ("Examen", "Befund", "Findings"),
    "conclusion": ("Conclusion", "Beurteilung", "Conclusion"),
    "plan": ("Conduite à tenir", "Procedere", "Plan"),
    "history": ("Antécédents", "Vorerkrankungen", "Medical history"),
    "indication": ("Indication", "Fragestellung", "Indication"),
    "results": ("Résultats", "Ergebnisse", "Results"),
    "test": ("Analyse", "Parameter", "Test"),
    "value": ("Résultat", "Wert", "Result"),
    "unit": ("Unité", "Einheit", "Unit"),
    "reference": ("Valeurs de référence", "Referenzbereich", "Reference range"),
    "flag": ("Interpr.", "Bewertung", "Flag"),
    "stay": ("Séjour", "Aufenthalt", "Stay"),
    "admission_reason": ("Motif d'hospitalisation", "Aufnahmegrund", "Reason for admission"),
    "course": ("Évolution", "Verlauf", "Course"),
    "discharge_medicines": ("Traitement de sortie", "Entlassungsmedikation", "Medicines at discharge"),
    "follow_up": ("Suivi", "Weiteres Vorgehen", "Follow-up"),
    "procedure": ("Intervention", "Eingriff", "Procedure"),
    "anaesthesia": ("Anesthésie", "Anästhesie", "Anaesthesia"),
    "general_anaesthesia": ("générale", "Allgemeinanästhesie", "general"),
    "outcome": ("Suites", "Verlauf", "Outcome"),
    "specimen": ("Prélèvement", "Material", "Specimen"),
    "microscopy": ("Examen microscopique", "Mikroskopie", "Microscopy"),
    "period": ("Période", "Zeitraum", "Period"),
    "care_given": ("Soins réalisés", "Durchgeführte Pflege", "Care given"),
    "observations": ("Observations", "Beobachtungen", "Observations"),
    "vitals": ("TA {sys}/{dia} mmHg, pouls {hr}/min.", "RR {sys}/{dia} mmHg, Puls {hr}/min.", "BP {sys}/{dia} mmHg, pulse {hr}/min."),
    "medicines": ("Médicaments", "Medikamente", "Medicines"),
    "duration": ("Durée: 3 mois, à renouveler.", "Dauer: 3 Monate, wiederholbar.", "For 3 months, repeatable."),
    "vaccinations": ("Vaccinations", "Impfungen", "Vaccinations"),
    "batch": ("lot", "Charge", "batch"),
    "written_by_holder": ("Document rédigé par le/la titulaire", "Vom/von der Inhaber(in) verfasstes Dokument",
                          "Written by the record holder"),
    "from_to": ("du {start} au {end}", "vom {start} bis {end}", "from {start} to {end}"),
    "fictitious": ("Document fictif, généré pour la démonstration d'OpenDSP.",
                   "Fiktives Dokument, erzeugt für die Demonstration von OpenDSP.",
                   "Fictitious document, generated for the OpenDSP demonstration."),
    "corrected": (" (rectificatif)", " (Korrektur)", " (corrected)"),
    "updated": (" (mise à jour)", " (Aktualisierung)", " (update)"),
}

TITLES: dict[str, Text] = {
    "laboratory_report": ("Analyses de laboratoire", "Laborbefund", "Laboratory report"),
    "prescription": ("Ordonnance", "Rezept", "Prescription"),
    "discharge_letter": ("Lettre de sortie", "Entlassungsbrief", "Discharge letter"),
    "home_care_report": ("Rapport de soins à domicile", "Pflegebericht häusliche Pflege", "Home-care report"),
    "patient_summary": ("Résumé patient", "Patientenkurzakte", "Patient summary"),
    "vaccination_record": ("Carnet de vaccination", "Impfausweis", "Vaccination record"),
    "eprescription": ("Ordonnance électronique", "Elektronisches Rezept", "ePrescription", "Receita eletrónica"),
    "dispensation": ("Délivrance en pharmacie", "Abgabe in der Apotheke", "Dispensation at the pharmacy",
                     "Dispensa na farmácia"),
}

# The unit of a quantity prescribed or dispensed.
BOXES: Text = ("boîte(s)", "Packung(en)", "box(es)", "caixa(s)")

SECTION_TITLES: dict[str, Text] = {
    "allergies": ("Allergies et intolérances", "Allergien und Unverträglichkeiten", "Allergies and intolerances",
                  "Alergias e intolerâncias"),
    "problems": ("Problèmes de santé", "Gesundheitsprobleme", "Problem list", "Problemas de saúde"),
    "medications": ("Traitements en cours", "Aktuelle Medikation", "Medication summary", "Medicação atual"),
    "immunizations": ("Vaccinations", "Impfungen", "Immunizations", "Vacinas"),
    "results": ("Résultats d'analyses", "Laborergebnisse", "Results", "Resultados de análises"),
    "prescribed": ("Médicaments prescrits", "Verordnete Arzneimittel", "Prescribed medicines", "Medicamentos receitados"),
    "dispensed": ("Médicaments délivrés", "Abgegebene Arzneimittel", "Dispensed medicines", "Medicamentos dispensados"),
    "none_known": ("Aucun élément connu.", "Nichts bekannt.", "None known.", "Nada conhecido."),
}


def format_date(value: date, language: str) -> str:
    """A date as people write it in each language."""
    if language == "de":
        return f"{value:%d.%m.%Y}"
    if language in ("fr", "pt"):
        return f"{value:%d/%m/%Y}"
    return value.isoformat()

# What a letterhead says under the author's name, by demo role.
ROLE_LABELS: dict[str, Text] = {
    "gp": ("Médecine générale", "Allgemeinmedizin", "General practice"),
    "cardiologist": ("Cardiologie", "Kardiologie", "Cardiology"),
    "paediatrician": ("Pédiatrie", "Kinder- und Jugendmedizin", "Paediatrics"),
    "gynaecologist": ("Gynécologie-obstétrique", "Frauenheilkunde und Geburtshilfe", "Gynaecology and obstetrics"),
    "psychiatrist": ("Psychiatrie", "Psychiatrie", "Psychiatry"),
    "dermatologist": ("Dermatologie", "Dermatologie", "Dermatology"),
    "internist": ("Médecine interne", "Innere Medizin", "Internal medicine"),
    "surgeon": ("Chirurgie générale", "Allgemeinchirurgie", "General surgery"),
    "orthopaedist": ("Chirurgie orthopédique", "Orthopädie", "Orthopaedic surgery"),
    "radiologist": ("Radiologie", "Radiologie", "Radiology"),
    "radiographer": ("Technicien en imagerie médicale", "Medizinisch-technische Radiologie", "Radiographer"),
    "emergency": ("Médecine d'urgence", "Notfallmedizin", "Emergency medicine"),
    "biologist": ("Biologie clinique", "Laboratoriumsmedizin", "Clinical biology"),
    "pharmacist": ("Pharmacie", "Apotheke", "Pharmacy"),
    "nurse": ("Soins infirmiers", "Krankenpflege", "Nursing"),
    "home_care_nurse": ("Soins infirmiers à domicile", "Häusliche Krankenpflege", "Home nursing"),
    "midwife": ("Sage-femme", "Hebamme", "Midwife"),
    "physiotherapist": ("Kinésithérapie", "Physiotherapie", "Physiotherapy"),
    "dentist": ("Médecine dentaire", "Zahnmedizin", "Dentistry"),
}
