"""A synthetic population for benchmarks: persons, organisations, professionals, documents.

Every row is derived from ``(seed, kind, index)`` alone, so a slice of the
population can be produced without the rest, in any order, and the same seed
always gives the same data. The generators stream: they hold one row at a time
(and a bounded cache of professionals and organisations), so a population of
millions costs no more memory than one of ten.

As a library (run from ``bench/`` or with it on ``sys.path``)::

    from population import PopulationSpec, persons, documents, document_content

    spec = PopulationSpec(persons=1000, documents_per_person=10, content_size=2048)
    for doc in documents(spec):
        payload = document_content(spec, doc)

As a command, it writes CSV files; ``persons.csv`` is in the format accepted by
``opendsp import-population``::

    python bench/population.py --persons 1000 --documents-per-person 10 \\
        --content-size 2048 --out /tmp/population

The data is invented. National numbers are valid (check digits included) but
come from a fixed arithmetic scheme, not from real people.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import random
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from opendsp.documents.types import ConfidentialityLevel, DocumentType
from opendsp.persons.models import Language, Sex
from opendsp.persons.national_number import make_national_number
from opendsp.population.importer import COLUMNS as POPULATION_COLUMNS
from opendsp.professionals.models import OrganisationKind

# Ages are measured on this day, so that "minor" does not depend on when the script runs.
REFERENCE_DATE = date(2026, 1, 1)
BIRTH_START = date(1926, 1, 1)
BIRTH_DAYS = (date(2025, 12, 31) - BIRTH_START).days + 1
# Coprime with BIRTH_DAYS (3 * 5^2 * 487): index -> birth day is a permutation.
_DAY_STRIDE = 7919
# At most 1000 sequence numbers per birth date.
MAX_PERSONS = BIRTH_DAYS * 1000
FIRST_CARE_DATE = date(2012, 1, 1)
LAST_CARE_DATE = date(2026, 10, 31)
PDF_MEDIA_TYPE = "application/pdf"
# Every holder has a general practitioner as referring doctor.
REFERRING_ROLE = "physician/general_practice"
CONTENT_KINDS = ("random", "pdf")

FEMALE_NAMES = (
    "Anne", "Marie", "Sophie", "Claire", "Laura", "Julie", "Emma", "Lea", "Nathalie", "Sandra",
    "Carole", "Isabelle", "Monique", "Josée", "Tania", "Sarah", "Ana", "Joana", "Chiara", "Mia",
)
MALE_NAMES = (
    "Jean", "Paul", "Marc", "Luc", "Tom", "Ben", "Pierre", "Michel", "Patrick", "Gilles",
    "Claude", "Serge", "Yves", "João", "Luca", "Max", "Noah", "Tiago", "Georges", "Fernand",
)
FAMILY_NAMES = (
    "Schmit", "Muller", "Weber", "Wagner", "Hoffmann", "Thill", "Schmitz", "Schroeder", "Reuter", "Kieffer",
    "Klein", "Majerus", "Becker", "Welter", "Schneider", "Meyer", "Kremer", "Goergen", "Weis", "Hansen",
    "Da Silva", "Dos Santos", "Pereira", "Ferreira", "Rodrigues", "Martins", "Rossi", "Dupont", "Lambert", "Simon",
)
STREETS = (
    "rue de la Gare", "rue Principale", "route d'Arlon", "avenue de la Liberté", "rue des Jardins",
    "boulevard Royal", "rue de l'Église", "Grand-Rue", "rue du Moulin", "rue des Prés",
)
# (city, first postal code, country, weight): most insured persons live in Luxembourg,
# a share of them are cross-border workers in the neighbouring countries.
PLACES = (
    ("Luxembourg", 1111, "LU", 30),
    ("Esch-sur-Alzette", 4001, "LU", 10),
    ("Differdange", 4501, "LU", 6),
    ("Dudelange", 3401, "LU", 5),
    ("Ettelbruck", 9001, "LU", 4),
    ("Diekirch", 9201, "LU", 3),
    ("Wiltz", 9501, "LU", 2),
    ("Echternach", 6401, "LU", 2),
    ("Remich", 5501, "LU", 2),
    ("Mersch", 7501, "LU", 3),
    ("Grevenmacher", 6701, "LU", 2),
    ("Clervaux", 9701, "LU", 1),
    ("Thionville", 57100, "FR", 6),
    ("Metz", 57000, "FR", 3),
    ("Arlon", 6700, "BE", 4),
    ("Trier", 54290, "DE", 3),
)
LANGUAGES = ((Language.fr, 50), (Language.de, 35), (Language.en, 15))

# One cycle of professionals: professional k takes PROFESSION_PLAN[k % len]. The repeats
# give the mix (many general practitioners, few radiographers).
PROFESSION_PLAN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("physician", ("general_practice",)),
    ("physician", ("general_practice",)),
    ("physician", ("general_practice",)),
    ("physician", ("internal_medicine",)),
    ("physician", ("cardiology",)),
    ("physician", ("radiology",)),
    ("physician", ("surgery",)),
    ("physician", ("orthopaedics",)),
    ("physician", ("paediatrics",)),
    ("physician", ("gynaecology",)),
    ("physician", ("emergency_medicine",)),
    ("physician", ("oncology",)),
    ("nurse", ()),
    ("nurse", ()),
    ("home_care_nurse", ()),
    ("home_care_nurse", ()),
    ("laboratory_biologist", ("clinical_biology",)),
    ("radiographer", ()),
    ("pharmacist", ()),
    ("physiotherapist", ()),
    ("midwife", ()),
    ("dentist", ()),
)
ORGANISATION_PLAN: tuple[OrganisationKind, ...] = (
    OrganisationKind.practice,
    OrganisationKind.practice,
    OrganisationKind.hospital,
    OrganisationKind.laboratory,
    OrganisationKind.imaging_centre,
    OrganisationKind.pharmacy,
    OrganisationKind.home_care_provider,
    OrganisationKind.emergency_department,
)
PROFESSION_WORKPLACE: dict[str, OrganisationKind] = {
    "physician": OrganisationKind.practice,
    "nurse": OrganisationKind.hospital,
    "home_care_nurse": OrganisationKind.home_care_provider,
    "laboratory_biologist": OrganisationKind.laboratory,
    "radiographer": OrganisationKind.imaging_centre,
    "pharmacist": OrganisationKind.pharmacy,
}
# Hospital specialists work at the hospital rather than in a practice.
HOSPITAL_SPECIALTIES = frozenset(
    {"surgery", "orthopaedics", "emergency_medicine", "oncology", "radiology", "internal_medicine"}
)
ORGANISATION_NAMES: dict[OrganisationKind, str] = {
    OrganisationKind.practice: "Cabinet médical",
    OrganisationKind.hospital: "Centre hospitalier",
    OrganisationKind.laboratory: "Laboratoire d'analyses",
    OrganisationKind.imaging_centre: "Centre d'imagerie",
    OrganisationKind.pharmacy: "Pharmacie",
    OrganisationKind.home_care_provider: "Réseau d'aides et de soins",
    OrganisationKind.emergency_department: "Service d'urgences",
}

# (document type, weight, who writes it, titles). Authors are roles, "profession" or
# "profession/specialty", drawn with equal chance; with the workplaces above they follow
# the rights matrix (src/opendsp/policy/rights.yaml: hospital staff write discharge letters
# and operative reports, laboratories send results directly). "referring" is the holder's
# referring doctor; no author means the holder, in the personal space.
DOCUMENT_PLAN: tuple[tuple[DocumentType, int, tuple[str, ...], tuple[str, ...]], ...] = (
    (DocumentType.laboratory_report, 30, ("laboratory_biologist",),
     ("Bilan sanguin", "Hémogramme complet", "Bilan lipidique", "HbA1c", "Bilan hépatique", "Ionogramme")),
    (DocumentType.prescription, 15, ("physician", "physician", "physician", "dentist"),
     ("Ordonnance", "Ordonnance de renouvellement", "Rezept", "Ordonnance de kinésithérapie")),
    (DocumentType.consultation_report, 15, ("physician", "physician", "physician", "physiotherapist", "midwife"),
     ("Compte rendu de consultation", "Konsultationsbericht", "Avis spécialisé", "Consultation de suivi")),
    (DocumentType.imaging_report, 12, ("physician/radiology", "radiographer"),
     ("Radiographie du thorax", "IRM du genou droit", "Échographie abdominale", "Scanner cérébral",
      "Mammographie")),
    (DocumentType.discharge_letter, 5, ("physician/surgery", "physician/oncology", "physician/internal_medicine",
                                        "nurse"),
     ("Lettre de sortie", "Entlassungsbrief", "Compte rendu d'hospitalisation")),
    (DocumentType.vaccination_record, 5, ("physician", "nurse", "pharmacist"),
     ("Vaccination grippe saisonnière", "Rappel DTP", "Vaccination COVID-19")),
    (DocumentType.pathology_report, 5, ("laboratory_biologist",),
     ("Examen anatomopathologique", "Biopsie cutanée", "Cytologie")),
    (DocumentType.home_care_report, 4, ("home_care_nurse", "nurse"),
     ("Rapport de soins à domicile", "Pflegebericht", "Suivi des soins infirmiers")),
    (DocumentType.personal_document, 4, (),
     ("Mes analyses", "Carnet de vaccination scanné", "Certificat", "Notes personnelles")),
    (DocumentType.patient_summary, 3, ("referring",), ("Résumé patient", "Patientenkurzakte")),
    (DocumentType.operative_report, 2, ("physician/surgery", "physician/orthopaedics"),
     ("Compte rendu opératoire", "Operationsbericht", "Arthroscopie du genou")),
)
_TYPE_WEIGHTS = tuple(weight for _, weight, _, _ in DOCUMENT_PLAN)
_PLACE_WEIGHTS = tuple(place[3] for place in PLACES)


@dataclass(frozen=True)
class PopulationSpec:
    """What to generate. Counts of organisations and professionals follow the persons unless given."""

    persons: int
    documents_per_person: int = 10
    content_size: int = 2048
    content_kind: str = "random"
    seed: int = 1
    organisations: int | None = None
    professionals: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.persons <= MAX_PERSONS:
            raise ValueError(f"persons must be between 0 and {MAX_PERSONS}")
        if self.documents_per_person < 0 or self.content_size < 0:
            raise ValueError("documents per person and content size cannot be negative")
        if not 0 <= self.seed < 2**32:
            raise ValueError("the seed is an integer between 0 and 2**32 - 1")
        if self.content_kind not in CONTENT_KINDS:
            raise ValueError(f"content kind must be one of {', '.join(CONTENT_KINDS)}")
        if self.organisations is not None and self.organisations < len(ORGANISATION_PLAN):
            raise ValueError(f"at least {len(ORGANISATION_PLAN)} organisations (one of each kind)")
        if self.professionals is not None and self.professionals < len(PROFESSION_PLAN):
            raise ValueError(f"at least {len(PROFESSION_PLAN)} professionals (one of each kind)")

    @property
    def organisation_count(self) -> int:
        return self.organisations or max(len(ORGANISATION_PLAN), self.persons // 250)

    @property
    def professional_count(self) -> int:
        return self.professionals or max(len(PROFESSION_PLAN), self.persons // 40)

    @property
    def document_count(self) -> int:
        return self.persons * self.documents_per_person


@dataclass(frozen=True)
class OrganisationRow:
    index: int
    identifier: str
    name: str
    kind: OrganisationKind
    city: str


@dataclass(frozen=True)
class ProfessionalRow:
    index: int
    licence_number: str
    family_name: str
    given_name: str
    profession: str
    specialties: tuple[str, ...]
    organisation_index: int


@dataclass(frozen=True)
class PersonRow:
    index: int
    national_number: str
    family_name: str
    given_name: str
    birth_date: date
    sex: Sex
    street: str
    postal_code: str
    city: str
    country: str
    email: str | None
    mobile: str | None
    language: Language
    representatives: tuple[str, ...]
    # Not in the population extract: the holder chooses a referring doctor later.
    referring_doctor_index: int

    def csv_row(self) -> dict[str, str]:
        """The row as ``opendsp import-population`` reads it."""
        return {
            "national_number": self.national_number,
            "family_name": self.family_name,
            "given_name": self.given_name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex.value,
            "street": self.street,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
            "email": self.email or "",
            "mobile": self.mobile or "",
            "language": self.language.value,
            "representatives": ";".join(self.representatives),
        }


@dataclass(frozen=True)
class DocumentRow:
    """A document's metadata; its content comes from ``document_content``."""

    index: int  # position in the whole population: person index * documents per person + ordinal
    person_index: int
    national_number: str
    type: DocumentType
    title: str
    care_date: date
    media_type: str
    confidentiality: ConfidentialityLevel
    authored_by_holder: bool
    author_professional_index: int | None
    author_organisation_index: int | None


_KINDS = {"person": 1, "organisation": 2, "professional": 3, "document": 4, "content": 5}


def _rng(spec: PopulationSpec, kind: str, index: int) -> random.Random:
    # An integer seed (not hash(), which changes per process): stable across runs and platforms.
    return random.Random((spec.seed << 48) | (_KINDS[kind] << 40) | index)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace(" ", "").lower()


# -- persons -------------------------------------------------------------------


def _slot(spec: PopulationSpec, index: int) -> int:
    # Shift by the seed so that two seeds give two different sets of national numbers.
    return (index + spec.seed * 104_729) % MAX_PERSONS


def birth_date_of(spec: PopulationSpec, index: int) -> date:
    return BIRTH_START + timedelta(days=(_slot(spec, index) * _DAY_STRIDE) % BIRTH_DAYS)


def national_number_of(spec: PopulationSpec, index: int) -> str:
    """A valid number, distinct for every index below MAX_PERSONS.

    Within a block of BIRTH_DAYS consecutive slots the birth days are all
    different; the block number then picks the sequence number.
    """
    slot = _slot(spec, index)
    day = (slot * _DAY_STRIDE) % BIRTH_DAYS
    sequence = (slot // BIRTH_DAYS + day * 37) % 1000
    return make_national_number(BIRTH_START + timedelta(days=day), sequence).value


def _age(birth: date) -> int:
    return REFERENCE_DATE.year - birth.year - ((REFERENCE_DATE.month, REFERENCE_DATE.day) < (birth.month, birth.day))


def _representatives(spec: PopulationSpec, rng: random.Random, index: int, birth: date) -> tuple[str, ...]:
    """One or two parents for a minor, chosen among the persons of the population."""
    wanted = 1 if rng.random() < 0.3 else 2
    found: list[str] = []
    for _ in range(30):
        if len(found) == wanted:
            break
        candidate = rng.randrange(spec.persons)
        gap = (birth - birth_date_of(spec, candidate)).days / 365.25
        number = national_number_of(spec, candidate)
        if candidate != index and 18 <= gap <= 50 and number not in found:
            found.append(number)
    return tuple(found)


def person_row(spec: PopulationSpec, index: int) -> PersonRow:
    rng = _rng(spec, "person", index)
    birth = birth_date_of(spec, index)
    draw = rng.random()
    sex = Sex.female if draw < 0.495 else Sex.male if draw < 0.99 else Sex.unknown
    given = rng.choice(FEMALE_NAMES if sex is Sex.female else MALE_NAMES)
    family = rng.choice(FAMILY_NAMES)
    city, first_code, country, _ = rng.choices(PLACES, weights=_PLACE_WEIGHTS)[0]
    postal = first_code + rng.randrange(40) if country == "LU" else first_code
    email = f"{_ascii(given)}.{_ascii(family)}.{index}@example.org" if rng.random() < 0.6 else None
    mobile = None
    if rng.random() < 0.7:
        mobile = f"+352 6{rng.choice('2569')}1 {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
    return PersonRow(
        index=index,
        national_number=national_number_of(spec, index),
        family_name=family,
        given_name=given,
        birth_date=birth,
        sex=sex,
        street=f"{rng.randrange(1, 200)}, {rng.choice(STREETS)}",
        postal_code=str(postal),
        city=city,
        country=country,
        email=email,
        mobile=mobile,
        language=rng.choices([lang for lang, _ in LANGUAGES], weights=[w for _, w in LANGUAGES])[0],
        representatives=_representatives(spec, rng, index, birth) if _age(birth) < 18 else (),
        referring_doctor_index=_pick_in_cycle(
            rng, _ROLE_SLOTS[REFERRING_ROLE], len(PROFESSION_PLAN), spec.professional_count
        ),
    )


def persons(spec: PopulationSpec, start: int = 0, stop: int | None = None) -> Iterator[PersonRow]:
    for index in range(start, spec.persons if stop is None else min(stop, spec.persons)):
        yield person_row(spec, index)


# -- organisations and professionals -------------------------------------------


def _pick_in_cycle(rng: random.Random, slots: Sequence[int], cycle: int, count: int) -> int:
    """An index below ``count`` whose position in the cycle is one of ``slots``."""
    slot = rng.choice(slots)
    turns = (count - slot + cycle - 1) // cycle  # how many indexes hold that slot
    return rng.randrange(turns) * cycle + slot


_ORG_SLOTS: dict[OrganisationKind, tuple[int, ...]] = {
    kind: tuple(i for i, k in enumerate(ORGANISATION_PLAN) if k is kind) for kind in set(ORGANISATION_PLAN)
}


def _role_slots(role: str) -> tuple[int, ...]:
    profession, _, specialty = role.partition("/")
    return tuple(
        i for i, (p, specialties) in enumerate(PROFESSION_PLAN)
        if p == profession and (not specialty or specialty in specialties)
    )


_ROLE_SLOTS: dict[str, tuple[int, ...]] = {
    role: _role_slots(role)
    for role in {r for _, _, roles, _ in DOCUMENT_PLAN for r in roles if r != "referring"} | {REFERRING_ROLE}
}


@functools.lru_cache(maxsize=65_536)
def organisation_row(spec: PopulationSpec, index: int) -> OrganisationRow:
    rng = _rng(spec, "organisation", index)
    kind = ORGANISATION_PLAN[index % len(ORGANISATION_PLAN)]
    city = rng.choices(PLACES, weights=_PLACE_WEIGHTS)[0][0]
    return OrganisationRow(
        index=index,
        identifier=f"BENCH-ORG-{index:06d}",
        name=f"{ORGANISATION_NAMES[kind]} {rng.choice(FAMILY_NAMES)} {city} ({index})",
        kind=kind,
        city=city,
    )


def organisations(spec: PopulationSpec) -> Iterator[OrganisationRow]:
    for index in range(spec.organisation_count):
        yield organisation_row(spec, index)


# Documents look their author up over and over; a few thousand professionals fit in the cache.
@functools.lru_cache(maxsize=65_536)
def professional_row(spec: PopulationSpec, index: int) -> ProfessionalRow:
    rng = _rng(spec, "professional", index)
    profession, specialties = PROFESSION_PLAN[index % len(PROFESSION_PLAN)]
    workplace = PROFESSION_WORKPLACE.get(profession, OrganisationKind.practice)
    if HOSPITAL_SPECIALTIES.intersection(specialties):
        workplace = OrganisationKind.hospital
    female = rng.random() < 0.5
    return ProfessionalRow(
        index=index,
        licence_number=f"BENCH-{index:07d}",
        family_name=rng.choice(FAMILY_NAMES),
        given_name=rng.choice(FEMALE_NAMES if female else MALE_NAMES),
        profession=profession,
        specialties=specialties,
        organisation_index=_pick_in_cycle(
            rng, _ORG_SLOTS[workplace], len(ORGANISATION_PLAN), spec.organisation_count
        ),
    )


def professionals(spec: PopulationSpec) -> Iterator[ProfessionalRow]:
    for index in range(spec.professional_count):
        yield professional_row(spec, index)


# -- documents -----------------------------------------------------------------


def _care_date(rng: random.Random, birth: date) -> date:
    first = max(birth, FIRST_CARE_DATE)
    return first + timedelta(days=rng.randrange((LAST_CARE_DATE - first).days + 1))


def document_row(spec: PopulationSpec, person: PersonRow, ordinal: int) -> DocumentRow:
    index = person.index * spec.documents_per_person + ordinal
    rng = _rng(spec, "document", index)
    doc_type, _, authors, titles = rng.choices(DOCUMENT_PLAN, weights=_TYPE_WEIGHTS)[0]
    care = _care_date(rng, person.birth_date)
    professional: int | None = None
    organisation: int | None = None
    if authors:
        role = rng.choice(authors)
        if role == "referring":
            professional = person.referring_doctor_index
        else:
            professional = _pick_in_cycle(rng, _ROLE_SLOTS[role], len(PROFESSION_PLAN), spec.professional_count)
        organisation = professional_row(spec, professional).organisation_index
    return DocumentRow(
        index=index,
        person_index=person.index,
        national_number=person.national_number,
        type=doc_type,
        title=f"{rng.choice(titles)} du {care.day:02d}.{care.month:02d}.{care.year}",
        care_date=care,
        media_type=PDF_MEDIA_TYPE,
        confidentiality=ConfidentialityLevel.restricted if rng.random() < 0.05 else ConfidentialityLevel.normal,
        authored_by_holder=not authors,
        author_professional_index=professional,
        author_organisation_index=organisation,
    )


def documents(spec: PopulationSpec, start_person: int = 0, limit: int | None = None) -> Iterator[DocumentRow]:
    """Documents person by person (all of one person's documents in a row), at most ``limit``."""
    produced = 0
    for person in persons(spec, start=start_person):
        for ordinal in range(spec.documents_per_person):
            if limit is not None and produced >= limit:
                return
            yield document_row(spec, person, ordinal)
            produced += 1


def _filler(length: int) -> bytes:
    words = (b"patient", b"valeur", b"normal", b"contr\xf4le", b"r\xe9sultat", b"suivi", b"examen", b"dose")
    rng = random.Random(0)
    lines = bytearray()
    while len(lines) < length:
        lines += b"% " + b" ".join(rng.choice(words) for _ in range(10)) + b"\n"
    return bytes(lines[:length])


# Built once: generating filler text word by word for every document would cost more than writing it.
_PDF_FILLER = _filler(64 * 1024)


def _pdf_payload(rng: random.Random, doc: DocumentRow, size: int) -> bytes:
    """A one-page PDF-like file of exactly ``size`` bytes (or its minimum, if larger).

    It has the shape of a PDF (header, objects, a text stream, trailer) without
    a cross-reference table: enough for anything that sniffs the format.
    """
    text = f"{doc.title} - {doc.type.value} - {doc.care_date.isoformat()}"
    safe = text.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 12 Tf 72 770 Td (" + safe + b") Tj ET"
    head = (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >> endobj\n"
        b"4 0 obj << /Length " + str(len(stream)).encode() + b" >> stream\n" + stream + b"\nendstream endobj\n"
        b"5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n"
    )
    tail = b"trailer << /Root 1 0 R >>\n%%EOF\n"
    # Pad with comment lines of report-like words: a slice of a fixed filler, at a random place.
    missing = size - len(head) - len(tail)
    if missing < 2:
        return head + b"\n" * max(0, missing) + tail
    start = rng.randrange(len(_PDF_FILLER))
    filler = _PDF_FILLER[start : start + missing - 2]
    while len(filler) < missing - 2:  # larger than what is left of the filler: wrap around
        filler += _PDF_FILLER[: missing - 2 - len(filler)]
    # "%" opens a comment even mid-sentence; "\n" closes the last one.
    return head + b"%" + filler + b"\n" + tail


def document_content(spec: PopulationSpec, doc: DocumentRow) -> bytes:
    """The document's content: ``content_size`` random bytes, or a PDF-like payload."""
    rng = _rng(spec, "content", doc.index)
    if spec.content_kind == "pdf":
        return _pdf_payload(rng, doc, spec.content_size)
    return rng.randbytes(spec.content_size)


# -- command line --------------------------------------------------------------

DOCUMENT_COLUMNS = (
    "document_index",
    "national_number",
    "type",
    "title",
    "care_date",
    "media_type",
    "confidentiality",
    "authored_by_holder",
    "author_licence",
    "author_organisation",
    "size",
    "sha256",
    "content_file",
)


def _content_path(index: int) -> str:
    # A thousand files per folder at most, so that a million documents stay listable.
    return f"content/{index // 1000:06d}/{index:09d}.pdf"


def write_csv_files(spec: PopulationSpec, out: Path, *, write_content: bool) -> dict[str, int]:
    """Write persons, organisations, professionals and documents as CSV; return the row counts."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {"persons": 0, "organisations": 0, "professionals": 0, "documents": 0}
    with (out / "persons.csv").open("w", newline="", encoding="utf-8") as handle, \
            (out / "referring_doctors.csv").open("w", newline="", encoding="utf-8") as referring:
        writer = csv.DictWriter(handle, fieldnames=POPULATION_COLUMNS)
        writer.writeheader()
        # The extract has no referring doctor; it is a choice the holder makes later.
        writer_r = csv.writer(referring)
        writer_r.writerow(["national_number", "licence_number"])
        for person in persons(spec):
            writer.writerow(person.csv_row())
            writer_r.writerow([person.national_number,
                               professional_row(spec, person.referring_doctor_index).licence_number])
            counts["persons"] += 1
    with (out / "organisations.csv").open("w", newline="", encoding="utf-8") as handle:
        writer_o = csv.writer(handle)
        writer_o.writerow(["identifier", "name", "kind", "city"])
        for org in organisations(spec):
            writer_o.writerow([org.identifier, org.name, org.kind.value, org.city])
            counts["organisations"] += 1
    with (out / "professionals.csv").open("w", newline="", encoding="utf-8") as handle:
        writer_p = csv.writer(handle)
        writer_p.writerow(["licence_number", "family_name", "given_name", "profession", "specialties", "organisation"])
        for pro in professionals(spec):
            org_identifier = organisation_row(spec, pro.organisation_index).identifier
            writer_p.writerow(
                [pro.licence_number, pro.family_name, pro.given_name, pro.profession, ";".join(pro.specialties),
                 org_identifier]
            )
            counts["professionals"] += 1
    with (out / "documents.csv").open("w", newline="", encoding="utf-8") as handle:
        writer_d = csv.writer(handle)
        writer_d.writerow(DOCUMENT_COLUMNS)
        for doc in documents(spec):
            writer_d.writerow(_document_csv_row(spec, doc, out if write_content else None))
            counts["documents"] += 1
    return counts


def _document_csv_row(spec: PopulationSpec, doc: DocumentRow, content_root: Path | None) -> list[object]:
    content = document_content(spec, doc)
    content_file = ""
    if content_root is not None:
        content_file = _content_path(doc.index)
        path = content_root / content_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    licence = professional_row(spec, doc.author_professional_index).licence_number \
        if doc.author_professional_index is not None else ""
    organisation = organisation_row(spec, doc.author_organisation_index).identifier \
        if doc.author_organisation_index is not None else ""
    return [
        doc.index, doc.national_number, doc.type.value, doc.title, doc.care_date.isoformat(), doc.media_type,
        doc.confidentiality.value, "true" if doc.authored_by_holder else "false", licence, organisation,
        len(content), hashlib.sha256(content).hexdigest(), content_file,
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a synthetic OpenDSP population as CSV files (deterministic for a seed).",
    )
    parser.add_argument("--persons", type=int, required=True, help="number of insured persons")
    parser.add_argument("--documents-per-person", type=int, default=10, help="documents per person (default 10)")
    parser.add_argument("--content-size", type=int, default=2048, help="content bytes per document (default 2048)")
    parser.add_argument("--content-kind", choices=CONTENT_KINDS, default="random",
                        help="random bytes, or a PDF-like payload (default random)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same files (default 1)")
    parser.add_argument("--organisations", type=int, help="default: persons / 250, at least 8")
    parser.add_argument("--professionals", type=int, help="default: persons / 40, at least 22")
    parser.add_argument("--write-content", action="store_true",
                        help="also write each document's content under OUT/content/ (one file per document)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = PopulationSpec(
            persons=args.persons,
            documents_per_person=args.documents_per_person,
            content_size=args.content_size,
            content_kind=args.content_kind,
            seed=args.seed,
            organisations=args.organisations,
            professionals=args.professionals,
        )
    except ValueError as error:
        print(f"population: {error}", file=sys.stderr)
        return 2
    counts = write_csv_files(spec, args.out, write_content=args.write_content)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"wrote {summary} to {args.out}", file=sys.stderr)
    print(f"import the persons with: opendsp import-population {args.out / 'persons.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
