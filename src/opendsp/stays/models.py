from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from opendsp.db import Base, UTCDateTime, identified_within_record, new_id, record_primary_key, within_record
from opendsp.professionals.models import Organisation
from opendsp.stays.vocabulary import PatientClass as PatientClass
from opendsp.stays.vocabulary import StayState as StayState


class Stay(Base):
    """A hospital stay of a record's holder, as the hospital reported it."""

    __tablename__ = "stays"
    __table_args__ = (
        Index("ix_stays_record_state", "record_id", "state"),
        record_primary_key("stays", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    care_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    # The hospital's own number for the stay, unique among that hospital's stays (``VisitNumber`` keeps it so).
    visit_number: Mapped[str] = mapped_column(String(64))
    patient_class: Mapped[PatientClass] = mapped_column(Enum(PatientClass, native_enum=False, length=16))
    state: Mapped[StayState] = mapped_column(Enum(StayState, native_enum=False, length=16))
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    care_unit: Mapped[Organisation | None] = relationship(foreign_keys=[care_unit_id])
    movements: Mapped[list[StayMovement]] = relationship(
        primaryjoin=lambda: and_(Stay.id == foreign(StayMovement.stay_id), Stay.record_id == StayMovement.record_id),
        back_populates="stay", order_by="StayMovement.moved_at",
    )


class VisitNumber(Base):
    """A directory: a hospital's visit number → the stay and its record.

    An ADT message (or a FHIR Encounter) names the stay by the hospital's visit number and the hospital, never by
    the record; this finds it on one node of a distributed database, spread by the visit number (a hospital's
    stays over every node, not one hospital per node). Written with the stay, in the same transaction; its
    primary key keeps a visit number to one stay per hospital. No foreign key to the stay: it lives on its
    record's node. A visit number not here is unknown."""

    __tablename__ = "visit_numbers"

    visit_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column()
    stay_id: Mapped[uuid.UUID] = mapped_column()


class StayMovement(Base):
    """Where the patient was cared for during a stay: admission and each transfer."""

    __tablename__ = "stay_movements"
    __table_args__ = (record_primary_key("stay_movements", "id"), within_record("stay_movements", "stay_id", "stays"))

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    stay_id: Mapped[uuid.UUID] = mapped_column(index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    care_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime())

    stay: Mapped[Stay] = relationship(
        primaryjoin=lambda: and_(Stay.id == foreign(StayMovement.stay_id), Stay.record_id == StayMovement.record_id),
        back_populates="movements",
    )


class AdtSender(Base):
    """A hospital system allowed to report stays, as named in MSH-3 and MSH-4."""

    __tablename__ = "adt_senders"
    __table_args__ = (UniqueConstraint("sending_application", "sending_facility"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    sending_application: Mapped[str] = mapped_column(String(64))
    sending_facility: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()


class AdtSenderCertificate(Base):
    """A client certificate a sender's system presents on the MLLP listener (pinned by its SHA-256).

    A sender may have several (a renewed certificate beside the old one); one certificate
    may speak for several senders, all of the same hospital.
    """

    __tablename__ = "adt_sender_certificates"
    __table_args__ = (
        UniqueConstraint("sender_id", "sha256"),
        Index("ix_adt_sender_certificates_sha256", "sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("adt_senders.id"))
    # Lowercase hex SHA-256 of the certificate's DER encoding.
    sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())

    sender: Mapped[AdtSender] = relationship()


class ReceivedMessage(Base):
    """Each ADT message accepted, by sender and control id: a repeat changes nothing."""

    __tablename__ = "received_messages"
    __table_args__ = (UniqueConstraint("sender_id", "control_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("adt_senders.id"))
    control_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack: Mapped[str] = mapped_column(String(2000))


class InstitutionalRefusal(Base):
    """The holder refuses that a stay at this organisation (or at any, when None) opens the record."""

    __tablename__ = "institutional_refusals"
    __table_args__ = (record_primary_key("institutional_refusals", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(default=new_id, index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    __mapper_args__ = identified_within_record(id)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
