from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opendsp.db import Base, UTCDateTime, new_id


class Sex(str, enum.Enum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Language(str, enum.Enum):
    fr = "fr"
    de = "de"
    en = "en"
    pt = "pt"


class Person(Base):
    """An insured person; holder of exactly one record."""

    __tablename__ = "persons"
    __table_args__ = (Index("uq_persons_record_id", "record_id", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    national_number: Mapped[str] = mapped_column(String(13), unique=True)
    family_name: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(Enum(Sex, native_enum=False, length=16))
    street: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(320))
    mobile: Mapped[str | None] = mapped_column(String(32))
    preferred_language: Mapped[Language] = mapped_column(Enum(Language, native_enum=False, length=2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The person's record, set in the transaction that creates it and never moved: unique, and written only where
    # it was NULL, so that a person has one record at most (``opendsp.records.services.create_record``). No foreign
    # key: persons is copied to every node, records are spread by record (docs/adr/0043-directories.md).
    record_id: Mapped[uuid.UUID | None] = mapped_column()

    representatives: Mapped[list[LegalRepresentation]] = relationship(
        foreign_keys="LegalRepresentation.minor_id", back_populates="minor"
    )

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class LegalRepresentation(Base):
    """A parent or guardian who represents a minor."""

    __tablename__ = "legal_representations"
    __table_args__ = (UniqueConstraint("minor_id", "representative_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    minor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    representative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    relationship_kind: Mapped[str] = mapped_column(String(32), default="parent")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    minor: Mapped[Person] = relationship(foreign_keys=[minor_id], back_populates="representatives")
    representative: Mapped[Person] = relationship(foreign_keys=[representative_id])
