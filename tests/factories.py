"""Small builders for test data, going through the real services."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM, Actor
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft, deposit
from opendsp.documents.types import DocumentType
from opendsp.persons.models import Language, Person, Sex
from opendsp.persons.national_number import make_national_number
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.records.services import change_state, create_record

_sequence = itertools.count(1)

PDF = b"%PDF-1.4\n% test document\n" + b"0123456789" * 100 + b"\n%%EOF\n"


def make_person(session: Session, platform: Platform, *, birth: date = date(1980, 5, 17)) -> Person:
    person = Person(
        national_number=make_national_number(birth, next(_sequence) % 1000).value,
        family_name="Schmit",
        given_name="Anne",
        birth_date=birth,
        sex=Sex.female,
        preferred_language=Language.fr,
        created_at=platform.clock.now(),
    )
    session.add(person)
    session.flush()
    return person


def make_record(session: Session, platform: Platform, *, active: bool = True) -> Record:
    person = make_person(session, platform)
    record = create_record(session=session, platform=platform, person=person, actor=SYSTEM)
    if active:
        change_state(session=session, platform=platform, record=record, to_state=RecordState.active, actor=SYSTEM)
    return record


def holder_draft(title: str = "Mes analyses", media_type: str = "application/pdf") -> DocumentDraft:
    return DocumentDraft(
        type=DocumentType.personal_document,
        title=title,
        care_date=date(2025, 3, 1),
        media_type=media_type,
        authored_by_holder=True,
    )


def deposit_pdf(
    session: Session, platform: Platform, record: Record, *, content: bytes = PDF, actor: Actor = SYSTEM
) -> Document:
    return deposit(
        session=session, platform=platform, actor=actor, record=record, draft=holder_draft(), content=[content]
    )
