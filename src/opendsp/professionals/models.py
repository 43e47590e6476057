from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Enum, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opendsp.db import Base, UTCDateTime, new_id


class OrganisationKind(str, enum.Enum):
    practice = "practice"
    hospital = "hospital"
    laboratory = "laboratory"
    imaging_centre = "imaging_centre"
    pharmacy = "pharmacy"
    home_care_provider = "home_care_provider"
    emergency_department = "emergency_department"


membership = Table(
    "professional_organisations",
    Base.metadata,
    Column("professional_id", ForeignKey("professionals.id", ondelete="CASCADE"), primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[OrganisationKind] = mapped_column(Enum(OrganisationKind, native_enum=False, length=32))
    city: Mapped[str | None] = mapped_column(String(200))
    # A care unit belongs to its hospital.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    members: Mapped[list[Professional]] = relationship(secondary=membership, back_populates="organisations")


class Professional(Base):
    """A licensed health professional: profession, specialties, licence."""

    __tablename__ = "professionals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    licence_number: Mapped[str] = mapped_column(String(32), unique=True)
    family_name: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str] = mapped_column(String(200))
    # A code of the profession vocabulary (opendsp.professionals.vocabulary).
    profession: Mapped[str] = mapped_column(String(64), index=True)
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisations: Mapped[list[Organisation]] = relationship(secondary=membership, back_populates="members")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
