"""Who is in the demo: organisations, professionals and persons, drawn from a seed.

Nothing here touches the database: the functions return plain specifications
that ``opendsp.demo.load`` writes through the services.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from opendsp.persons.models import Sex
from opendsp.persons.national_number import make_national_number
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import RecordState

# Every date in the demo is relative to this day, so that the content does not
# depend on when the demo is loaded.
REFERENCE_DATE = date(2025, 12, 1)
YEARS_OF_HISTORY = 3

FAMILY_NAMES = (
    "Schmit", "Muller", "Weber", "Hoffmann", "Wagner", "Thill", "Schroeder", "Reuter", "Kieffer", "Klein",
    "Schiltz", "Kremer", "Welter", "Hansen", "Majerus", "Kayser", "Theisen", "Faber", "Steffen", "Goergen",
    "Lentz", "Wolff", "Feltgen", "Bertemes", "Wirtz", "Kirsch", "Frisch", "Peiffer", "Reding", "Bintner",
    "Zeimet", "Nilles", "Gengler", "Pauly", "Ries", "Heinen", "Jacoby", "Da Silva", "Ferreira", "Rodrigues",
    "Martins", "Dos Santos", "Rossi", "Moreau", "Lambert", "Fischbach", "Hilbert", "Mersch", "Braun", "Thommes",
)
GIVEN_NAMES = {
    Sex.female: (
        "Marie", "Anne", "Claudine", "Carole", "Nathalie", "Sandra", "Sophie", "Laura", "Léa", "Lisa", "Tessy",
        "Jil", "Nadine", "Martine", "Josiane", "Monique", "Chantal", "Christiane", "Danielle", "Ana", "Sofia",
        "Emma", "Mia", "Charlotte", "Zoé", "Lara", "Françoise", "Mariette", "Joëlle", "Sarah",
    ),
    Sex.male: (
        "Jean", "Marc", "Paul", "Luc", "Patrick", "Claude", "Romain", "Georges", "Fernand", "Jos", "Tom", "Max",
        "Ben", "Yves", "Gilles", "Laurent", "Pol", "Mike", "Joël", "Carlos", "João", "Luca", "Noah", "Liam",
        "Léo", "Gabriel", "Nico", "Raymond", "Henri", "Steve",
    ),
}
STREETS = (
    "rue de la Gare", "route d'Arlon", "avenue de la Liberté", "rue Principale", "Grand-Rue", "rue de l'Église",
    "rue du Château", "Haaptstrooss", "rue des Jardins", "rue de Luxembourg", "rue du Moulin", "rue des Prés",
    "Kierchestrooss", "rue du Cimetière", "rue de la Montagne", "avenue Pasteur", "rue des Romains",
)
# (postal code, city, country); most people live in Luxembourg, some cross the border to work.
LOCALITIES = (
    ("1234", "Luxembourg", "LU"), ("2530", "Luxembourg", "LU"), ("4011", "Esch-sur-Alzette", "LU"),
    ("4570", "Differdange", "LU"), ("3450", "Dudelange", "LU"), ("9010", "Ettelbruck", "LU"),
    ("9233", "Diekirch", "LU"), ("8010", "Strassen", "LU"), ("8080", "Bertrange", "LU"), ("7520", "Mersch", "LU"),
    ("9530", "Wiltz", "LU"), ("6440", "Echternach", "LU"), ("5550", "Remich", "LU"), ("8210", "Mamer", "LU"),
    ("5880", "Hesperange", "LU"),
)
CROSS_BORDER = (("57100", "Thionville", "FR", "fr"), ("54290", "Trier", "DE", "de"), ("6700", "Arlon", "BE", "fr"))
LANGUAGE_WEIGHTS = (("fr", 5), ("de", 3), ("en", 2))


# -- organisations and professionals ------------------------------------------


@dataclass(frozen=True)
class OrganisationSpec:
    identifier: str
    name: str
    kind: OrganisationKind
    city: str


ORGANISATIONS: tuple[OrganisationSpec, ...] = (
    OrganisationSpec("DEMO-PRA-LIMP", "Cabinet médical Limpertsberg", OrganisationKind.practice, "Luxembourg"),
    OrganisationSpec("DEMO-PRA-ESCH", "Groupe médical Esch-Centre", OrganisationKind.practice, "Esch-sur-Alzette"),
    OrganisationSpec("DEMO-PRA-ETTB", "Centre médical spécialisé Ettelbruck", OrganisationKind.practice, "Ettelbruck"),
    OrganisationSpec("DEMO-PRA-DENT", "Cabinet dentaire Strassen", OrganisationKind.practice, "Strassen"),
    OrganisationSpec("DEMO-PRA-KINE", "Kinésithérapie Bertrange", OrganisationKind.practice, "Bertrange"),
    OrganisationSpec("DEMO-HOS-ALZ", "Hôpital Alzette", OrganisationKind.hospital, "Luxembourg"),
    OrganisationSpec("DEMO-URG-ALZ", "Hôpital Alzette - Service des urgences", OrganisationKind.emergency_department,
                     "Luxembourg"),
    OrganisationSpec("DEMO-LAB-MOS", "Laboratoire d'analyses médicales Moselle", OrganisationKind.laboratory,
                     "Bertrange"),
    OrganisationSpec("DEMO-IMG-PET", "Centre d'imagerie Pétrusse", OrganisationKind.imaging_centre, "Luxembourg"),
    OrganisationSpec("DEMO-PHA-GAR", "Pharmacie de la Gare", OrganisationKind.pharmacy, "Esch-sur-Alzette"),
    OrganisationSpec("DEMO-HCP-UEL", "Fleegdéngscht Uelzecht", OrganisationKind.home_care_provider, "Mersch"),
)
ORGANISATIONS_BY_ID = {o.identifier: o for o in ORGANISATIONS}


@dataclass(frozen=True)
class ProfessionalSpec:
    licence_number: str
    role: str  # what the demo asks of them: "gp", "radiologist", ...
    profession: str
    specialties: tuple[str, ...]
    organisations: tuple[str, ...]  # identifiers; the first is where they usually work
    family_name: str
    given_name: str
    sex: Sex

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def styled_name(self) -> str:
        """The name as printed on a letterhead."""
        doctor = self.profession in ("physician", "dentist", "laboratory_biologist")
        return f"Dr {self.name}" if doctor else self.name


# (role, profession, specialties, organisations)
ROSTER: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("gp", "physician", ("general_practice",), ("DEMO-PRA-LIMP", "DEMO-PRA-ESCH")),
    ("gp", "physician", ("general_practice",), ("DEMO-PRA-LIMP",)),
    ("gp", "physician", ("general_practice",), ("DEMO-PRA-ESCH",)),
    ("cardiologist", "physician", ("cardiology", "internal_medicine"), ("DEMO-PRA-ETTB", "DEMO-HOS-ALZ")),
    ("paediatrician", "physician", ("paediatrics",), ("DEMO-PRA-ETTB",)),
    ("gynaecologist", "physician", ("gynaecology",), ("DEMO-HOS-ALZ",)),
    ("psychiatrist", "physician", ("psychiatry",), ("DEMO-PRA-ETTB",)),
    ("dermatologist", "physician", ("dermatology",), ("DEMO-PRA-ETTB",)),
    ("internist", "physician", ("internal_medicine",), ("DEMO-HOS-ALZ",)),
    ("surgeon", "physician", ("surgery",), ("DEMO-HOS-ALZ",)),
    ("orthopaedist", "physician", ("orthopaedics",), ("DEMO-HOS-ALZ",)),
    ("radiologist", "physician", ("radiology",), ("DEMO-IMG-PET", "DEMO-HOS-ALZ")),
    ("radiographer", "radiographer", (), ("DEMO-IMG-PET",)),
    ("emergency", "physician", ("emergency_medicine",), ("DEMO-URG-ALZ",)),
    ("emergency", "physician", ("emergency_medicine",), ("DEMO-URG-ALZ",)),
    ("biologist", "laboratory_biologist", ("clinical_biology",), ("DEMO-LAB-MOS",)),
    ("pharmacist", "pharmacist", (), ("DEMO-PHA-GAR",)),
    ("nurse", "nurse", (), ("DEMO-HOS-ALZ",)),
    ("nurse", "nurse", (), ("DEMO-PRA-ESCH",)),
    ("home_care_nurse", "home_care_nurse", (), ("DEMO-HCP-UEL",)),
    ("home_care_nurse", "home_care_nurse", (), ("DEMO-HCP-UEL",)),
    ("midwife", "midwife", (), ("DEMO-HOS-ALZ",)),
    ("physiotherapist", "physiotherapist", (), ("DEMO-PRA-KINE",)),
    ("dentist", "dentist", (), ("DEMO-PRA-DENT",)),
)


def make_professionals(rng: random.Random) -> list[ProfessionalSpec]:
    used: set[str] = set()
    # One family name per professional, so that "Dr Weber" is never ambiguous.
    families = rng.sample(FAMILY_NAMES, len(ROSTER))
    professionals = []
    for number, ((role, profession, specialties, organisations), family) in enumerate(
        zip(ROSTER, families, strict=True), start=1
    ):
        sex = rng.choice((Sex.female, Sex.male))
        given, family = _unused_name(rng, sex, used, family)
        professionals.append(
            ProfessionalSpec(
                licence_number=f"DEMO-PS-{number:03d}",
                role=role,
                profession=profession,
                specialties=specialties,
                organisations=organisations,
                family_name=family,
                given_name=given,
                sex=sex,
            )
        )
    return professionals


# -- persons --------------------------------------------------------------------


@dataclass
class PersonSpec:
    index: int
    national_number: str
    family_name: str
    given_name: str
    birth_date: date
    sex: Sex
    language: str
    street: str
    postal_code: str
    city: str
    country: str
    email: str | None
    mobile: str | None
    state: RecordState
    conditions: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)  # indexes of the legal representatives
    children: list[int] = field(default_factory=list)
    pregnant: bool = False
    showcase: bool = False  # holds a document of every type

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def female(self) -> bool:
        return self.sex is Sex.female

    def age(self, on: date = REFERENCE_DATE) -> int:
        return on.year - self.birth_date.year - ((on.month, on.day) < (self.birth_date.month, self.birth_date.day))

    @property
    def minor(self) -> bool:
        return self.age() < 18


# Ages of the 31 persons who are not the showcase or the family: spread over adult life.
AGE_BANDS = ((19, 29, 4), (30, 44, 6), (45, 64, 9), (65, 79, 7), (80, 94, 5))
# Yearly chance of each condition by age band: (under 45, 45-64, 65 and over).
CONDITION_CHANCES: dict[str, tuple[float, float, float]] = {
    "hypertension": (0.08, 0.35, 0.6),
    "diabetes": (0.04, 0.15, 0.25),
    "hyperlipidaemia": (0.05, 0.25, 0.35),
    "ckd": (0.0, 0.05, 0.2),
    "atrial_fibrillation": (0.0, 0.05, 0.2),
    "asthma": (0.12, 0.08, 0.06),
    "hypothyroidism": (0.05, 0.08, 0.08),
    "anaemia": (0.06, 0.04, 0.08),
    "osteoarthritis": (0.0, 0.15, 0.35),
    "depression": (0.1, 0.1, 0.06),
}


def _unused_name(rng: random.Random, sex: Sex, used: set[str], family: str | None = None) -> tuple[str, str]:
    while True:
        given = rng.choice(GIVEN_NAMES[sex])
        chosen_family = family or rng.choice(FAMILY_NAMES)
        if f"{given} {chosen_family}" not in used:
            used.add(f"{given} {chosen_family}")
            return given, chosen_family


def _birth_date(rng: random.Random, age: int) -> date:
    # Born ``age`` full years before the reference date, on any day of that year of life.
    latest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    return latest - timedelta(days=rng.randrange(0, 365))


def _ascii(text: str) -> str:
    table = str.maketrans("éèëêàâäçôöüûïîãóáñ", "eeeeaaacoouuiiaoan")
    return text.lower().translate(table).replace(" ", "").replace("'", "")


def _contact(rng: random.Random, given: str, family: str, country: str) -> tuple[str | None, str | None]:
    email = f"{_ascii(given)}.{_ascii(family)}@example.org" if rng.random() < 0.8 else None
    mobile = _mobile(rng, country) if rng.random() < 0.9 else None
    return email, mobile


def _mobile(rng: random.Random, country: str) -> str:
    prefix = {"LU": "+352 6", "FR": "+33 6", "DE": "+49 15", "BE": "+32 47"}[country]
    return f"{prefix}{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"


def _conditions(rng: random.Random, age: int, sex: Sex) -> list[str]:
    band = 0 if age < 45 else 1 if age < 65 else 2
    chosen = []
    for key, chances in CONDITION_CHANCES.items():
        chance = chances[band]
        if key in ("hypothyroidism", "anaemia") and sex is Sex.female:
            chance *= 2  # both are more common in women
        if rng.random() < chance:
            chosen.append(key)
    return chosen


class _Numbers:
    """Unique, valid national numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def new(self, birth_date: date) -> str:
        while True:
            number = make_national_number(birth_date, self.rng.randrange(0, 1000)).value
            if number not in self.seen:
                self.seen.add(number)
                return number


def make_persons(rng: random.Random) -> list[PersonSpec]:
    """The showcase holder, a family of four, then adults of every age (36 in all)."""
    used: set[str] = set()
    numbers = _Numbers(rng)
    persons: list[PersonSpec] = []

    def add(age: int, sex: Sex, *, family: str | None = None, language: str | None = None,
            address: tuple[str, str, str, str] | None = None) -> PersonSpec:
        given, family_name = _unused_name(rng, sex, used, family)
        birth = _birth_date(rng, age)
        if address is None:
            postal_code, city, country = rng.choice(LOCALITIES)
            address = (f"{rng.randrange(1, 120)}, {rng.choice(STREETS)}", postal_code, city, country)
        chosen_language = language or rng.choices([l for l, _ in LANGUAGE_WEIGHTS],
                                                  [w for _, w in LANGUAGE_WEIGHTS])[0]
        email, mobile = _contact(rng, given, family_name, address[3])
        person = PersonSpec(
            index=len(persons), national_number=numbers.new(birth), family_name=family_name, given_name=given,
            birth_date=birth, sex=sex, language=chosen_language, street=address[0], postal_code=address[1],
            city=address[2], country=address[3], email=email, mobile=mobile, state=RecordState.active,
        )
        persons.append(person)
        return person

    showcase = add(rng.randint(72, 78), rng.choice((Sex.female, Sex.male)))
    showcase.showcase = True
    showcase.conditions = ["hypertension", "diabetes", "hyperlipidaemia", "osteoarthritis", "depression"]

    _add_family(rng, add)

    ages = [rng.randint(low, high) for low, high, n in AGE_BANDS for _ in range(n)]
    rng.shuffle(ages)
    for age in ages:
        sex = rng.choice((Sex.female, Sex.male))
        person = add(age, sex)
        person.conditions = _conditions(rng, age, sex)

    _cross_border(rng, persons[5:8])
    _pregnancy(persons)
    # The last two were never activated; the one before them closed their record.
    persons[-1].state = persons[-2].state = RecordState.created
    persons[-3].state = RecordState.closed
    return persons


def _add_family(rng: random.Random, add: Callable[..., PersonSpec]) -> None:
    family = rng.choice(FAMILY_NAMES)
    language = rng.choice(("fr", "de", "en"))
    postal_code, city, country = rng.choice(LOCALITIES)
    address = (f"{rng.randrange(1, 120)}, {rng.choice(STREETS)}", postal_code, city, country)
    mother = add(rng.randint(35, 42), Sex.female, family=family, language=language, address=address)
    father = add(rng.randint(36, 45), Sex.male, family=family, language=language, address=address)
    older = add(rng.randint(8, 11), rng.choice((Sex.female, Sex.male)), family=family, language=language,
                address=address)
    younger = add(rng.randint(3, 6), rng.choice((Sex.female, Sex.male)), family=family, language=language,
                  address=address)
    older.conditions = ["asthma"]
    for child in (older, younger):
        # Children have no e-mail or phone of their own.
        child.email = child.mobile = None
        child.parents = [mother.index, father.index]
        mother.children.append(child.index)
        father.children.append(child.index)


def _cross_border(rng: random.Random, persons: list[PersonSpec]) -> None:
    """Some insured people live across the border and work in Luxembourg."""
    for person, (postal_code, city, country, language) in zip(persons, CROSS_BORDER, strict=False):
        street = "Hauptstraße" if country == "DE" else "rue de la Paix"
        person.street = f"{rng.randrange(1, 80)}, {street}"
        person.postal_code, person.city, person.country, person.language = postal_code, city, country, language
        if person.mobile:
            person.mobile = _mobile(rng, country)


def _pregnancy(persons: list[PersonSpec]) -> None:
    """The first woman aged 25 to 40 outside the family is expecting a baby."""
    for person in persons[5:-3]:
        if person.female and 25 <= person.age() <= 40:
            person.pregnant = True
            return
