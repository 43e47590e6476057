"""Small builders for test data, going through the real services."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.actors import SYSTEM
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import DocumentType
from opendsp.persons.models import Language, Person, Sex
from opendsp.persons.national_number import make_national_number
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.records.models import Record
from opendsp.records.services import create_record

_sequence = itertools.count(1)

PDF = b"%PDF-1.4\n% test document\n" + b"0123456789" * 100 + b"\n%%EOF\n"


def make_person(
    session: Session, platform: Platform, *, birth: date = date(1980, 5, 17), given_name: str = "Anne"
) -> Person:
    person = Person(
        national_number=make_national_number(birth, next(_sequence) % 1000).value,
        family_name="Schmit",
        given_name=given_name,
        birth_date=birth,
        sex=Sex.female,
        preferred_language=Language.en,  # the suite reads the English pages (the language is used at login)
        created_at=platform.clock.now(),
    )
    session.add(person)
    session.flush()
    return person


def holder_of(session: Session, record: Record) -> Person:
    person = session.get(Person, record.person_id)
    assert person is not None
    return person


def as_holder(session: Session, platform: Platform, record: Record) -> RecordAccess:
    return RecordAccess(session=session, platform=platform, actor=actors.holder(holder_of(session, record)))


def make_record(
    session: Session, platform: Platform, *, active: bool = True, birth: date = date(1980, 5, 17)
) -> Record:
    person = make_person(session, platform, birth=birth)
    record = create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    if active:
        as_holder(session, platform, record).activate(record.id)
    return record


def make_organisation(
    session: Session, platform: Platform, kind: OrganisationKind = OrganisationKind.practice, name: str = "Cabinet"
) -> Organisation:
    organisation = Organisation(
        identifier=f"ORG-{next(_sequence)}", name=name, kind=kind, created_at=platform.clock.now()
    )
    session.add(organisation)
    session.flush()
    return organisation


def make_professional(
    session: Session,
    platform: Platform,
    *,
    profession: str = "physician",
    specialties: tuple[str, ...] = ("general_practice",),
    organisation: Organisation | None = None,
    family_name: str = "Weber",
) -> Professional:
    professional = Professional(
        licence_number=f"LIC-{next(_sequence)}",
        family_name=family_name,
        given_name="Dr",
        profession=profession,
        specialties=list(specialties),
        created_at=platform.clock.now(),
    )
    professional.organisations.append(organisation or make_organisation(session, platform))
    session.add(professional)
    session.flush()
    return professional


def as_professional(session: Session, platform: Platform, professional: Professional) -> RecordAccess:
    actor = actors.professional(professional, organisation=professional.organisations[0])
    return RecordAccess(session=session, platform=platform, actor=actor)


def holder_draft(title: str = "Mes analyses", media_type: str = "application/pdf") -> DocumentDraft:
    return DocumentDraft(
        type=DocumentType.personal_document, title=title, care_date=date(2025, 3, 1), media_type=media_type
    )


def professional_draft(kind: DocumentType = DocumentType.consultation_report, title: str = "Report") -> DocumentDraft:
    return DocumentDraft(type=kind, title=title, care_date=date(2025, 3, 1), media_type="application/pdf")


def deposit_pdf(session: Session, platform: Platform, record: Record, *, content: bytes = PDF) -> Document:
    return as_holder(session, platform, record).deposit(record.id, holder_draft(), [content])


def read_as_holder(session: Session, platform: Platform, document: Document) -> bytes:
    record = session.get(Record, document.record_id)
    assert record is not None
    return as_holder(session, platform, record).consult(document.id).read()


def run_jobs(platform: Platform) -> int:
    """One pass of the worker over the acts' jobs (keyword indexing, the e-mails' fan-out): what ``opendsp
    worker`` does within a second of a commit. Returns how many jobs were done; none may be left failing."""
    from opendsp.jobs.worker import JobWorker

    tally = JobWorker(platform).run(once=True)
    assert not tally.errors, tally.errors
    return tally.done
