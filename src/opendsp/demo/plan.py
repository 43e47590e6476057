"""What the demo holds, decided from the seed before anything is written.

``make_plan`` draws every person, professional and document (content
included) from one ``random.Random(seed)``, in a fixed order, so the same
seed always gives the same plan. ``opendsp.demo.load`` then writes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from opendsp.demo import fhir
from opendsp.demo.clinical import (
    AF_RHYTHM,
    ALLERGIES,
    AMOXICILLIN,
    ANALYTES,
    ANTENATAL,
    BLOOD_COUNT,
    BLOOD_GROUPS,
    BOXES,
    CHECK_UP,
    CONDITIONS,
    CONSULTATION_TITLES,
    DENTAL,
    DERMATOLOGY,
    EMERGENCY,
    FOLLOW_UP,
    GP_ACUTE,
    GYNAECOLOGY_CHECK,
    HOME_CARE,
    IMAGING,
    LABELS,
    MIDWIFE,
    PAEDIATRIC,
    PERSONAL,
    PHYSIOTHERAPY,
    ROLE_LABELS,
    SINUS_RHYTHM,
    SKIN_PATHOLOGY,
    SPECIALIST_FINDINGS,
    SPECIALIST_PLAN,
    STAYS,
    TITLES,
    TRENDS,
    VACCINES,
    Encounter,
    Examination,
    Medicine,
    Text,
    Vaccine,
    format_date,
    interpretation,
    tr,
)
from opendsp.demo.pdf import Letterhead, ReportPage, render
from opendsp.demo.people import (
    ORGANISATIONS,
    ORGANISATIONS_BY_ID,
    REFERENCE_DATE,
    YEARS_OF_HISTORY,
    OrganisationSpec,
    PersonSpec,
    ProfessionalSpec,
    make_persons,
    make_professionals,
)
from opendsp.documents.types import FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentType
from opendsp.records.models import RecordState

PDF_MEDIA_TYPE = "application/pdf"
WINDOW_START = REFERENCE_DATE - timedelta(days=365 * YEARS_OF_HISTORY)
# The DICOM modality, SNOMED CT body site, series and images of each demo examination (structured reports).
IMAGING_CODES: dict[str, tuple[tuple[str, str], tuple[str, str], int, int]] = {
    "chest": (("CR", "Computed Radiography"), ("51185008", "Thoracic structure"), 2, 2),
    "knee": (("CR", "Computed Radiography"), ("72696002", "Knee region structure"), 2, 3),
    "abdomen": (("US", "Ultrasound"), ("818983003", "Abdomen"), 1, 24),
    "spine": (("MR", "Magnetic Resonance"), ("122496007", "Lumbar spine structure"), 5, 180),
    "mammography": (("MG", "Mammography"), ("76752008", "Breast structure"), 2, 4),
    "ankle": (("CR", "Computed Radiography"), ("344001", "Ankle region structure"), 2, 3),
}
HOSPITAL = "DEMO-HOS-ALZ"
EMERGENCY_DEPARTMENT = "DEMO-URG-ALZ"
LABORATORY = "DEMO-LAB-MOS"
IMAGING_CENTRE = "DEMO-IMG-PET"
HOME_CARE_PROVIDER = "DEMO-HCP-UEL"
WITHDRAW_REASONS = (
    "deposited in the wrong record",
    "sent twice by the author's software",
    "replaced by a report given on paper",
)


@dataclass(eq=False)
class DocumentPlan:
    type: DocumentType
    title: str
    care_date: date
    media_type: str
    content: bytes
    author: ProfessionalSpec | None  # None: the holder, in the personal space
    organisation: str | None  # identifier of the author's organisation
    confidentiality: ConfidentialityLevel = ConfidentialityLevel.normal
    replaces: DocumentPlan | None = None
    withdraw_reason: str | None = None
    tests: tuple[str, ...] = ()  # laboratory reports: the analytes measured


@dataclass
class DemoPlan:
    seed: int
    organisations: tuple[OrganisationSpec, ...]
    professionals: list[ProfessionalSpec]
    persons: list[PersonSpec]
    referring_doctors: dict[int, ProfessionalSpec]  # by person index
    documents: dict[int, list[DocumentPlan]] = field(default_factory=dict)  # by person index

    @property
    def document_count(self) -> int:
        return sum(len(documents) for documents in self.documents.values())


class Staff:
    """The professionals by role, to pick an author for each document."""

    def __init__(self, rng: random.Random, professionals: list[ProfessionalSpec]) -> None:
        self.rng = rng
        self.by_role: dict[str, list[ProfessionalSpec]] = {}
        for professional in professionals:
            self.by_role.setdefault(professional.role, []).append(professional)

    def one(self, role: str) -> ProfessionalSpec:
        return self.rng.choice(self.by_role[role])


def make_plan(seed: int) -> DemoPlan:
    rng = random.Random(seed)
    persons = make_persons(rng)
    professionals = make_professionals(rng)
    staff = Staff(rng, professionals)
    ids = fhir.Ids(rng)
    referring: dict[int, ProfessionalSpec] = {}
    for person in persons:
        # Children see their parents' doctor.
        referring[person.index] = referring[person.parents[0]] if person.parents else staff.one("gp")
    plan = DemoPlan(seed, ORGANISATIONS, professionals, persons, referring)
    for person in persons:
        if person.state is RecordState.created:
            plan.documents[person.index] = []  # nothing is deposited before activation
            continue
        plan.documents[person.index] = _RecordPlanner(rng, ids, person, staff, referring[person.index]).plan()
    _withdraw_and_restrict(rng, plan)
    return plan


def _withdraw_and_restrict(rng: random.Random, plan: DemoPlan) -> None:
    """A few documents of ordinary records are withdrawn, a few more restricted."""
    replaced = {id(d.replaces) for documents in plan.documents.values() for d in documents if d.replaces}
    candidates = [
        document
        for person in plan.persons
        if not person.showcase
        for document in plan.documents[person.index]
        if document.author is not None
        and document.replaces is None
        and id(document) not in replaced
        and document.type is not DocumentType.patient_summary
    ]
    for document in rng.sample(candidates, 3):
        document.withdraw_reason = rng.choice(WITHDRAW_REASONS)
    # Only PDFs here: a FHIR document states its confidentiality inside, fixed when it was built.
    pdf_consultations = [
        d for d in candidates
        if d.type is DocumentType.consultation_report and d.withdraw_reason is None
        and d.confidentiality is ConfidentialityLevel.normal
    ]
    for document in rng.sample(pdf_consultations, 2):
        document.confidentiality = ConfidentialityLevel.restricted


# -- one record ------------------------------------------------------------------


class _RecordPlanner:
    """Plans the documents of one record, in a fixed order of random draws."""

    def __init__(
        self, rng: random.Random, ids: fhir.Ids, person: PersonSpec, staff: Staff, gp: ProfessionalSpec
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.person = person
        self.staff = staff
        self.gp = gp
        self.language = person.language
        self.documents: list[DocumentPlan] = []
        self.imaging_reports = 0
        self.earliest = max(WINDOW_START, person.birth_date + timedelta(days=30))
        self.onsets = self._onsets()
        self.allergies = [allergy for allergy, chance in ALLERGIES if rng.random() < chance]
        self.immunizations = self._immunizations()

    def plan(self) -> list[DocumentPlan]:
        if self.person.minor:
            self._child()
        else:
            self._adult()
        # Sorting is stable, and a new version is never dated before the one it replaces.
        self.documents.sort(key=lambda document: document.care_date)
        return self.documents

    # -- the story of a record ------------------------------------------------

    def _adult(self) -> None:
        person, rng = self.person, self.rng
        showcase = person.showcase
        age = person.age()
        self._general_practice()
        self._specialists()
        self._laboratory()
        if "osteoarthritis" in person.conditions:
            self.imaging("knee", self.day())
        if rng.random() < 0.12:
            self.imaging("chest", self.day())
        if person.female and age >= 50 and rng.random() < 0.6:
            self.imaging("mammography", self.day())
        if rng.random() < 0.1:
            self.imaging("spine", self.day())
        self._stays(showcase, age)
        if showcase or rng.random() < 0.15:
            self._emergency()
        if showcase or rng.random() < 0.08:
            seen = self.day(latest=REFERENCE_DATE - timedelta(days=20))
            self.consultation("dermatologist", DERMATOLOGY, seen)
            self.pathology(SKIN_PATHOLOGY, seen + timedelta(days=rng.randint(6, 12)))
        if person.pregnant:
            self._pregnancy()
        elif person.female and 20 <= age <= 65 and rng.random() < 0.3:
            self.consultation("gynaecologist", GYNAECOLOGY_CHECK, self.day())
        if rng.random() < 0.2:
            self.consultation("dentist", DENTAL, self.day())
        if age >= 80 and rng.random() < 0.7:
            self._home_care_over_last_months()
        if showcase or rng.random() < 0.3:
            self.vaccination_record(self.day(earliest=REFERENCE_DATE - timedelta(days=730)))
        self._summaries(showcase)
        if showcase or rng.random() < 0.25:
            self.personal(self.day(), rng.randrange(len(PERSONAL)))
        if showcase:
            self._medicines()
        if showcase:
            # A report sent twice, the copy withdrawn by its author: the document history shows both.
            first = next(d for d in self.documents if d.type is DocumentType.consultation_report and d.author is self.gp)
            self._add(replace(first, withdraw_reason=WITHDRAW_REASONS[1]))

    def _medicines(self) -> None:
        """A structured prescription of the long-term medicines, and the pharmacy's dispensation of it days later."""
        medicines = [CONDITIONS[c].medicine for c in self.person.conditions] or [AMOXICILLIN]
        prescribed = REFERENCE_DATE - timedelta(days=40)
        self.eprescription(prescribed, medicines)
        self.dispensation(prescribed + timedelta(days=2), medicines, self.staff.one("pharmacist"))

    def _child(self) -> None:
        person, rng = self.person, self.rng
        paediatrician = self.staff.one("paediatrician")
        for years in range(person.age() - YEARS_OF_HISTORY, person.age() + 1):
            if years < 1:
                continue
            visit = _add_years(person.birth_date, years) + timedelta(days=rng.randint(0, 45))
            if self.earliest <= visit <= REFERENCE_DATE:
                self.consultation("paediatrician", PAEDIATRIC[0], visit, author=paediatrician)
        if rng.random() < 0.8:
            self.consultation("paediatrician", PAEDIATRIC[1], self.day(), author=paediatrician)
        for condition in person.conditions:
            self.consultation("gp", FOLLOW_UP, self.day(), condition=condition)
            self.prescription(self.gp, self._gp_practice(), self.day(), [CONDITIONS[condition].medicine],
                              long_term=True)
        if rng.random() < 0.3:
            self._emergency()
        self.vaccination_record(self.day(earliest=REFERENCE_DATE - timedelta(days=365)), author=paediatrician)
        self._summaries(showcase=False)

    def _general_practice(self) -> None:
        person, rng = self.person, self.rng
        if person.conditions:
            self.consultation("gp", FOLLOW_UP, self.day(), condition=rng.choice(person.conditions))
            medicines = [CONDITIONS[c].medicine for c in person.conditions]
            self.prescription(self.gp, self._gp_practice(), self.day(), medicines, long_term=True)
        for _ in range(0 if person.conditions and rng.random() < 0.7 else 1):
            encounter = rng.choice(GP_ACUTE)
            seen = self.day(latest=REFERENCE_DATE - timedelta(days=70))
            self.consultation("gp", encounter, seen)
            if encounter is GP_ACUTE[1] and rng.random() < 0.6:
                self.consultation("physiotherapist", PHYSIOTHERAPY, seen + timedelta(days=rng.randint(30, 60)))

    def _specialists(self) -> None:
        for key in self.person.conditions:
            role = CONDITIONS[key].specialist
            if role is None or not (self.person.showcase or self.rng.random() < 0.5):
                continue
            encounter = Encounter(FOLLOW_UP.reason, SPECIALIST_FINDINGS[role], FOLLOW_UP.conclusion, SPECIALIST_PLAN)
            author = self.staff.one(role)
            # Psychiatric reports are restricted: only the trusted circle should read them.
            self.consultation(role, encounter, self.day(), author=author, condition=key,
                              restricted=role == "psychiatrist")
            if self.rng.random() < 0.3:
                self.prescription(author, author.organisations[0], self.day(), [CONDITIONS[key].medicine],
                                  long_term=True)

    def _laboratory(self) -> None:
        person, rng = self.person, self.rng
        tracked = [key for key in ANALYTES if any(key in CONDITIONS[c].tests for c in person.conditions)]
        reports: list[DocumentPlan] = []
        if tracked:
            # Repeated over the three years, so that a trend shows (most often for the showcase).
            keys = list(dict.fromkeys([*BLOOD_COUNT, *tracked]))
            interval = (150, 210) if person.showcase else (330, 480)
            day = WINDOW_START + timedelta(days=rng.randint(0, 60))
            while day <= REFERENCE_DATE:
                structured = rng.random() < 0.6
                if person.showcase and len(reports) < 2:
                    structured = len(reports) == 1  # the showcase has both a PDF and a FHIR report
                reports.append(self.laboratory(day, keys, structured))
                day += timedelta(days=rng.randint(*interval))
        else:
            reports.append(self.laboratory(self.day(), [*BLOOD_COUNT, *CHECK_UP],
                                           rng.random() < 0.4))
        for index, report in enumerate(reports):
            corrected = index == len(reports) - 2 if person.showcase else rng.random() < 0.04
            if corrected:
                self.laboratory(report.care_date, [], report.media_type == FHIR_MEDIA_TYPE, replaces=report)

    def _stays(self, showcase: bool, age: int) -> None:
        person, rng = self.person, self.rng
        if "osteoarthritis" in person.conditions and age >= 60 and (showcase or rng.random() < 0.4):
            discharged = self.stay("knee", self.day(latest=REFERENCE_DATE - timedelta(days=60)))
            if showcase or age >= 70:
                for days in (10, 24, 38):
                    self.home_care(discharged + timedelta(days=days), care=1)
        if "atrial_fibrillation" in person.conditions and rng.random() < 0.5:
            self.stay("atrial_fibrillation", self.day(latest=REFERENCE_DATE - timedelta(days=10)))
        if age >= 60 and rng.random() < 0.1:
            self.stay("pneumonia", self.day(latest=REFERENCE_DATE - timedelta(days=10)))
        if rng.random() < 0.08:
            scanned = self.day(latest=REFERENCE_DATE - timedelta(days=100))
            self.imaging("abdomen", scanned)
            self.stay("gallbladder", scanned + timedelta(days=rng.randint(30, 90)))
        if age < 50 and rng.random() < 0.07:
            self.stay("appendicitis", self.day(latest=REFERENCE_DATE - timedelta(days=10)))

    def _emergency(self) -> None:
        encounter = self.rng.choice(EMERGENCY)
        seen = self.day()
        self.consultation("emergency", encounter, seen, organisation=EMERGENCY_DEPARTMENT)
        if encounter is EMERGENCY[0]:
            self.imaging("ankle", seen, organisation=HOSPITAL)

    def _pregnancy(self) -> None:
        # Expecting a baby some weeks after the reference date; weeks counted from the last period.
        start = REFERENCE_DATE - timedelta(weeks=self.rng.randint(28, 32))
        for role, encounter, weeks in (("gynaecologist", ANTENATAL, 12), ("gynaecologist", ANTENATAL, 22),
                                       ("midwife", MIDWIFE, 26)):
            seen = start + timedelta(weeks=weeks, days=self.rng.randint(0, 4))
            self.consultation(role, encounter, seen, extra={"weeks": weeks})

    def _home_care_over_last_months(self) -> None:
        care = self.rng.choice((0, 2))
        for months_back in range(self.rng.randint(3, 4), 0, -1):
            self.home_care(REFERENCE_DATE - timedelta(days=30 * months_back - self.rng.randint(0, 5)), care=care)

    def _summaries(self, showcase: bool) -> None:
        first = self.patient_summary(self.day(earliest=REFERENCE_DATE - timedelta(days=540),
                                              latest=REFERENCE_DATE - timedelta(days=120)))
        if showcase or self.rng.random() < 0.25:
            later = min(REFERENCE_DATE, first.care_date + timedelta(days=self.rng.randint(60, 300)))
            self.patient_summary(later, replaces=first)

    # -- dates and measurements ------------------------------------------------

    def day(self, *, earliest: date | None = None, latest: date | None = None) -> date:
        low = max(earliest or self.earliest, self.earliest)
        high = latest or REFERENCE_DATE
        if high <= low:
            return low
        return low + timedelta(days=self.rng.randint(0, (high - low).days))

    def _fields(self, when: date, condition: str | None) -> dict[str, object]:
        rng, person = self.rng, self.person
        age = person.age(when)
        hypertensive = "hypertension" in person.conditions
        return {
            "condition": tr(CONDITIONS[condition].name, self.language) if condition else "",
            "sys": rng.randint(128, 152) if hypertensive else rng.randint(108, 134),
            "dia": rng.randint(78, 92) if hypertensive else rng.randint(64, 84),
            "hr": rng.randint(58, 88),
            "weight": rng.randint(52, 98) if age >= 16 else round(9 + 2.6 * age + rng.uniform(-2, 2)),
            "height": round(74 + 6.2 * age + rng.uniform(-4, 4)),
            "temp": self._decimal(rng.uniform(38.2, 39.4), 1),
            "age": age,
            "ecg": tr(AF_RHYTHM if "atrial_fibrillation" in person.conditions else SINUS_RHYTHM, self.language),
            "ef": rng.randint(52, 64),
        }

    def _decimal(self, value: float, decimals: int) -> str:
        text = f"{value:.{decimals}f}"
        return text.replace(".", ",") if self.language in ("fr", "de") else text

    def _onsets(self) -> dict[str, date]:
        onsets = {}
        for key in self.person.conditions:
            earliest = _add_years(self.person.birth_date, 3 if self.person.minor else 18)
            onset = WINDOW_START - timedelta(days=self.rng.randint(60, 365 * 12))
            onsets[key] = max(onset, earliest)
        return onsets

    def _immunizations(self) -> list[tuple[Vaccine, date, str]]:
        rng, born = self.rng, self.person.birth_date
        given: list[tuple[str, date]] = []
        if self.person.minor:
            given += [("dtap", born + timedelta(days=days)) for days in (61, 122, 335)]
            given += [("mmr", born + timedelta(days=365)), ("varicella", born + timedelta(days=365)),
                      ("mmr", born + timedelta(days=490))]
            if self.person.age() >= 6:
                given.append(("dtap", _add_years(born, 6) + timedelta(days=rng.randint(0, 60))))
        else:
            given += [("covid", date(2021, rng.randint(4, 7), rng.randint(1, 28)))]
            given.append(("covid", given[-1][1] + timedelta(days=rng.randint(35, 49))))
            given.append(("tdap", REFERENCE_DATE - timedelta(days=rng.randint(300, 3300))))
            if self.person.age() >= 65:
                given += [("influenza", date(year, rng.choice((10, 11)), rng.randint(1, 28)))
                          for year in range(REFERENCE_DATE.year - 3, REFERENCE_DATE.year + 1)]
                given.append(("pneumococcal", REFERENCE_DATE - timedelta(days=rng.randint(400, 1500))))
        batches = [f"{rng.choice('ABCDEFGHJK')}{rng.choice('LMNPRSTVWX')}{rng.randint(1000, 9999)}" for _ in given]
        return sorted(((VACCINES[key], when, batch) for (key, when), batch in zip(given, batches, strict=True)
                       if when <= REFERENCE_DATE), key=lambda item: item[1])

    def _gp_practice(self) -> str:
        # The GP who works in two practices writes from either.
        return self.rng.choice(self.gp.organisations)

    # -- one document of each kind -----------------------------------------------

    def _page(self, *, title: str, when: date, author: ProfessionalSpec | None, organisation: str | None,
              role: str | None = None, sections: tuple[tuple[str | None, str], ...] = (),
              **table: object) -> bytes:
        letterhead = None
        if author is not None and organisation is not None:
            place = ORGANISATIONS_BY_ID[organisation]
            label = tr(ROLE_LABELS[role or author.role], self.language)
            letterhead = Letterhead(place.name, place.city, f"{author.styled_name} - {label}")
        closing: tuple[tuple[str | None, str], ...] = ((None, author.styled_name),) if author else ()
        return render(
            ReportPage(
                language=self.language, title=title, care_date=when, patient_name=self.person.name,
                national_number=self.person.national_number, birth_date=self.person.birth_date,
                letterhead=letterhead, sections=sections, closing=closing, **table,  # type: ignore[arg-type]
            )
        )

    def _add(self, document: DocumentPlan) -> DocumentPlan:
        self.documents.append(document)
        return document

    def _label(self, key: str) -> str:
        return tr(LABELS[key], self.language)

    def consultation(
        self,
        role: str,
        encounter: Encounter,
        when: date,
        *,
        author: ProfessionalSpec | None = None,
        organisation: str | None = None,
        condition: str | None = None,
        restricted: bool = False,
        extra: dict[str, object] | None = None,
    ) -> DocumentPlan:
        author = author or (self.gp if role == "gp" else self.staff.one(role))
        if organisation is None:
            organisation = self._gp_practice() if author is self.gp else author.organisations[0]
        values = {**self._fields(when, condition), **(extra or {})}

        def text(template: Text) -> str:
            return tr(template, self.language).format(**values)

        sections: list[tuple[str | None, str]] = [(self._label("reason"), text(encounter.reason))]
        if role == "gp" and self.person.conditions:
            history = ", ".join(tr(CONDITIONS[c].name, self.language) for c in self.person.conditions)
            sections.append((self._label("history"), history))
        sections += [
            (self._label("findings"), text(encounter.findings)),
            (self._label("conclusion"), text(encounter.conclusion)),
            (self._label("plan"), text(encounter.plan)),
        ]
        title = tr(CONSULTATION_TITLES[role], self.language)
        document = self._add(
            DocumentPlan(
                type=DocumentType.consultation_report, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
                content=self._page(title=title, when=when, author=author, organisation=organisation,
                                   sections=tuple(sections)),
                author=author, organisation=organisation,
                confidentiality=ConfidentialityLevel.restricted if restricted else ConfidentialityLevel.normal,
            )
        )
        if encounter.medicine is not None and self.rng.random() < 0.8:
            self.prescription(author, organisation, when, [encounter.medicine])
        return document

    def prescription(self, author: ProfessionalSpec, organisation: str, when: date, medicines: list[Medicine],
                     *, long_term: bool = False) -> DocumentPlan:
        title = f"{tr(TITLES['prescription'], self.language)} - {', '.join(m.name for m in medicines)}"
        lines = "\n".join(f"{m.name}: {tr(m.dosage, self.language)}" for m in medicines)
        sections: list[tuple[str | None, str]] = [(self._label("medicines"), lines)]
        if long_term:
            sections.append((None, self._label("duration")))
        return self._add(
            DocumentPlan(
                type=DocumentType.prescription, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
                content=self._page(title=title, when=when, author=author, organisation=organisation,
                                   sections=tuple(sections)),
                author=author, organisation=organisation,
            )
        )

    def eprescription(self, when: date, medicines: list[Medicine]) -> DocumentPlan:
        organisation = self._gp_practice()
        title = f"{tr(TITLES['eprescription'], self.language)} - {', '.join(m.name for m in medicines)}"
        bundle = fhir.prescription(self.ids, patient=self._patient_info(),
                                   author=self._author_info(self.gp, organisation), day=when,
                                   language=self.language, title=title,
                                   items=[fhir.Prescribed(m, quantity=(3, tr(BOXES, self.language)))
                                          for m in medicines])
        return self._add(DocumentPlan(
            type=DocumentType.prescription, title=title, care_date=when, media_type=FHIR_MEDIA_TYPE,
            content=fhir.to_json(bundle), author=self.gp, organisation=organisation,
        ))

    def dispensation(self, when: date, medicines: list[Medicine], pharmacist: ProfessionalSpec) -> DocumentPlan:
        organisation = pharmacist.organisations[0]
        title = tr(TITLES["dispensation"], self.language)
        bundle = fhir.dispensation(self.ids, patient=self._patient_info(),
                                   author=self._author_info(pharmacist, organisation), day=when,
                                   language=self.language, title=title,
                                   items=[fhir.Prescribed(m, quantity=(3, tr(BOXES, self.language)))
                                          for m in medicines])
        return self._add(DocumentPlan(
            type=DocumentType.dispensation, title=title, care_date=when, media_type=FHIR_MEDIA_TYPE,
            content=fhir.to_json(bundle), author=pharmacist, organisation=organisation,
        ))

    def _result(self, key: str, when: date) -> fhir.LabResult:
        analyte = ANALYTES[key]
        female = self.person.female
        trend = next((TRENDS[c][key] for c in self.person.conditions if key in TRENDS.get(c, {})), None)
        if trend:
            start, slope, bound = trend
            years = (when - WINDOW_START).days / 365
            value = start + slope * years
            value = max(value, bound) if slope < 0 else min(value, bound)
            value += self.rng.gauss(0, analyte.spread * 0.4)
        else:
            value = (analyte.typical_female if female else analyte.typical_male) + self.rng.gauss(0, analyte.spread)
        value = round(max(value, 10 ** -analyte.decimals), analyte.decimals)
        low, high = analyte.reference_range(female)
        return fhir.LabResult(analyte, value, low, high, interpretation(value, low, high))

    def laboratory(self, when: date, keys: list[str], structured: bool, *,
                   replaces: DocumentPlan | None = None) -> DocumentPlan:
        # Only the author replaces a document.
        author = replaces.author if replaces and replaces.author else self.staff.one("biologist")
        title = tr(TITLES["laboratory_report"], self.language)
        if replaces is not None:
            # A corrected report: the same tests, measured again.
            keys = list(replaces.tests)
            title += self._label("corrected")
        results = [self._result(key, when) for key in keys]
        if structured:
            bundle = fhir.laboratory_report(
                self.ids, patient=self._patient_info(), author=self._author_info(author, LABORATORY), day=when,
                language=self.language, title=title, results=results,
            )
            content, media_type = fhir.to_json(bundle), FHIR_MEDIA_TYPE
        else:
            content = self._page(title=title, when=when, author=author, organisation=LABORATORY,
                                 table=self._result_table(results), table_widths=(60, 25, 22, 45, 20),
                                 table_align=("LEFT", "RIGHT", "LEFT", "LEFT", "CENTER"))
            media_type = PDF_MEDIA_TYPE
        return self._add(
            DocumentPlan(type=DocumentType.laboratory_report, title=title, care_date=when, media_type=media_type,
                         content=content, author=author, organisation=LABORATORY, replaces=replaces,
                         tests=tuple(keys))
        )

    def _result_table(self, results: list[fhir.LabResult]) -> tuple[tuple[str, ...], ...]:
        header = tuple(self._label(k) for k in ("test", "value", "unit", "reference", "flag"))
        rows = [header]
        for result in results:
            decimals = result.analyte.decimals
            if result.low is None:
                reference = f"< {self._decimal(result.high or 0, decimals)}"
            else:
                reference = f"{self._decimal(result.low, decimals)} - {self._decimal(result.high or 0, decimals)}"
            rows.append((tr(result.analyte.name, self.language), self._decimal(result.value, decimals),
                         result.analyte.unit, reference, "" if result.flag == "N" else result.flag))
        return tuple(rows)

    def imaging(self, key: str, when: date, *, organisation: str = IMAGING_CENTRE) -> DocumentPlan:
        exam = IMAGING[key]
        author = self.staff.one("radiologist")
        title = tr(exam.title, self.language)
        self.imaging_reports += 1
        if self.imaging_reports % 2 == 0:  # every other one structured, decided without a draw (the seed's order)
            content, media_type = self._structured_imaging(key, when, author, organisation, title), FHIR_MEDIA_TYPE
        else:
            sections = self._examination_sections(exam, ("indication", "results", "conclusion"))
            content = self._page(title=title, when=when, author=author, organisation=organisation, sections=sections)
            media_type = PDF_MEDIA_TYPE
        return self._add(
            DocumentPlan(type=DocumentType.imaging_report, title=title, care_date=when, media_type=media_type,
                         content=content, author=author, organisation=organisation)
        )

    def _structured_imaging(self, key: str, when: date, author: ProfessionalSpec, organisation: str,
                            title: str) -> bytes:
        exam = IMAGING[key]
        modality, site, series, instances = IMAGING_CODES[key]
        # Identifiers from a source of their own, so the plan's draws stay in their order.
        ids = fhir.Ids(random.Random(f"{self.person.national_number}|{when.isoformat()}|{key}"))
        study_uid = f"2.25.{int(ids.new().replace('-', ''), 16)}"  # a UUID-derived DICOM UID (root 2.25)
        content = fhir.ImagingContent(
            examination=("18748-4", "Diagnostic imaging study"), examination_text=title,
            modality=modality, body_site=site, study_uid=study_uid,
            accession_number=f"ACC-{when.year}-{ids.rng.randint(10000, 99999)}", series=series, instances=instances,
            conclusion=tr(exam.conclusion, self.language), findings=tr(exam.findings, self.language))
        bundle = fhir.imaging_report(ids, patient=self._patient_info(), author=self._author_info(author, organisation),
                                     day=when, language=self.language, title=title, content=content)
        return fhir.to_json(bundle)

    def _examination_sections(self, exam: Examination, labels: tuple[str, str, str]) -> tuple[tuple[str, str], ...]:
        texts = (exam.indication, exam.findings, exam.conclusion)
        return tuple((self._label(label), tr(text, self.language)) for label, text in zip(labels, texts, strict=True))

    def pathology(self, exam: Examination, when: date) -> DocumentPlan:
        author = self.staff.one("biologist")
        title = tr(exam.title, self.language)
        sections = self._examination_sections(exam, ("specimen", "microscopy", "conclusion"))
        return self._add(
            DocumentPlan(type=DocumentType.pathology_report, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
                         content=self._page(title=title, when=when, author=author, organisation=LABORATORY,
                                            sections=sections),
                         author=author, organisation=LABORATORY)
        )

    def stay(self, key: str, admitted: date) -> date:
        """A hospital stay: its operation and histology if any, then the discharge letter."""
        stay = STAYS[key]
        author = self.staff.one(stay.author_role)
        discharged = admitted + timedelta(days=stay.days)
        if stay.operation is not None:
            title = tr(stay.operation.title, self.language)
            sections = (*self._examination_sections(stay.operation, ("indication", "procedure", "outcome")),
                        (self._label("anaesthesia"), self._label("general_anaesthesia")))
            self._add(DocumentPlan(
                type=DocumentType.operative_report, title=title, care_date=admitted, media_type=PDF_MEDIA_TYPE,
                content=self._page(title=title, when=admitted, author=author, organisation=HOSPITAL,
                                   sections=sections),
                author=author, organisation=HOSPITAL,
            ))
        if stay.pathology is not None:
            self.pathology(stay.pathology, admitted + timedelta(days=self.rng.randint(3, 6)))
        medicines = list(dict.fromkeys([*stay.medicines, *(CONDITIONS[c].medicine for c in self.person.conditions)]))
        period = tr(LABELS["from_to"], self.language).format(start=format_date(admitted, self.language),
                                                            end=format_date(discharged, self.language))
        sections = (
            (self._label("stay"), period),
            (self._label("admission_reason"), tr(stay.reason, self.language)),
            (self._label("course"), tr(stay.course, self.language)),
            (self._label("discharge_medicines"),
             "\n".join(f"{m.name}: {tr(m.dosage, self.language)}" for m in medicines)),
            (self._label("follow_up"), tr(stay.follow_up, self.language)),
        )
        title = f"{tr(TITLES['discharge_letter'], self.language)} - {tr(stay.reason, self.language)}"
        self._add(DocumentPlan(
            type=DocumentType.discharge_letter, title=title, care_date=discharged, media_type=PDF_MEDIA_TYPE,
            content=self._page(title=title, when=discharged, author=author, organisation=HOSPITAL, sections=sections),
            author=author, organisation=HOSPITAL,
        ))
        return discharged

    def home_care(self, when: date, *, care: int) -> DocumentPlan:
        author = self.staff.one("home_care_nurse")
        given, note = HOME_CARE[care]
        values = self._fields(when, None)
        period = tr(LABELS["from_to"], self.language).format(
            start=format_date(when - timedelta(days=13), self.language), end=format_date(when, self.language))
        sections = (
            (self._label("period"), period),
            (self._label("care_given"), tr(given, self.language)),
            (self._label("observations"),
             f"{tr(LABELS['vitals'], self.language).format(**values)} {tr(note, self.language)}"),
        )
        title = tr(TITLES["home_care_report"], self.language)
        return self._add(DocumentPlan(
            type=DocumentType.home_care_report, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
            content=self._page(title=title, when=when, author=author, organisation=HOME_CARE_PROVIDER,
                               sections=sections),
            author=author, organisation=HOME_CARE_PROVIDER,
        ))

    def vaccination_record(self, when: date, *, author: ProfessionalSpec | None = None) -> DocumentPlan:
        author = author or self.gp
        organisation = self._gp_practice() if author is self.gp else author.organisations[0]
        header = (self._label("date"), self._label("vaccinations"), self._label("batch").capitalize())
        rows = [header] + [
            (format_date(given, self.language), tr(vaccine.name, self.language), batch)
            for vaccine, given, batch in self.immunizations if given <= when
        ]
        title = tr(TITLES["vaccination_record"], self.language)
        return self._add(DocumentPlan(
            type=DocumentType.vaccination_record, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
            content=self._page(title=title, when=when, author=author, organisation=organisation,
                               table=tuple(rows), table_widths=(30, 110, 30)),
            author=author, organisation=organisation,
        ))

    def patient_summary(self, when: date, *, replaces: DocumentPlan | None = None) -> DocumentPlan:
        organisation = self._gp_practice()
        title = tr(TITLES["patient_summary"], self.language)
        if replaces is not None:
            title += self._label("updated")
        content = fhir.SummaryContent(
            allergies=self.allergies,
            conditions=[(CONDITIONS[c], self.onsets[c]) for c in self.person.conditions],
            medicines=[(CONDITIONS[c].medicine, self.onsets[c] + timedelta(days=14)) for c in self.person.conditions],
            immunizations=[item for item in self.immunizations if item[1] <= when],
        )
        bundle = fhir.patient_summary(self.ids, patient=self._patient_info(),
                                      author=self._author_info(self.gp, organisation), day=when,
                                      language=self.language, title=title, content=content)
        return self._add(DocumentPlan(
            type=DocumentType.patient_summary, title=title, care_date=when, media_type=FHIR_MEDIA_TYPE,
            content=fhir.to_json(bundle), author=self.gp, organisation=organisation, replaces=replaces,
        ))

    def personal(self, when: date, index: int) -> DocumentPlan:
        title_text, body = PERSONAL[index]
        rng = self.rng
        readings = ", ".join(f"{rng.randint(118, 148)}/{rng.randint(70, 92)}" for _ in range(6))
        contact = f"{rng.choice(('Marie', 'Paul', 'Anne', 'Jos', 'Claude'))} {self.person.family_name}"
        text = tr(body, self.language).format(readings=readings, contact=contact, blood_group=rng.choice(BLOOD_GROUPS))
        title = tr(title_text, self.language)
        return self._add(DocumentPlan(
            type=DocumentType.personal_document, title=title, care_date=when, media_type=PDF_MEDIA_TYPE,
            content=self._page(title=title, when=when, author=None, organisation=None, sections=((None, text),)),
            author=None, organisation=None,
        ))

    def _patient_info(self) -> fhir.PatientInfo:
        p = self.person
        return fhir.PatientInfo(p.national_number, p.family_name, p.given_name, p.sex.value, p.birth_date)

    def _author_info(self, author: ProfessionalSpec, organisation: str) -> fhir.AuthorInfo:
        return fhir.AuthorInfo(author.licence_number, author.family_name, author.given_name, organisation,
                               ORGANISATIONS_BY_ID[organisation].name)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
