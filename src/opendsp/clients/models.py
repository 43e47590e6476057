"""Client software registered to call the FHIR API for one organisation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opendsp.db import Base, UTCDateTime, new_id
from opendsp.professionals.models import Organisation


class Client(Base):
    """A piece of software an organisation runs (a hospital's or a laboratory's system).

    It authenticates with a JWT signed by one of the keys of its registered
    public JWK set (SMART Backend Services) and acts for one professional of
    its organisation at a time.
    """

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The public keys only (a JWK Set); private parameters are refused at registration.
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()


class UsedAssertion(Base):
    """A client assertion already presented: its ``jti`` is refused again until it expires."""

    __tablename__ = "client_assertions_used"
    __table_args__ = (Index("ix_client_assertions_used_expires", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
