from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.persons.models import Person


def find_by_national_number(session: Session, national_number: str) -> Person | None:
    return session.scalars(select(Person).where(Person.national_number == national_number)).first()
