"""Client software registered to call the FHIR API, and the authorization codes of SMART App Launch."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opendsp.db import Base, UTCDateTime, new_id
from opendsp.professionals.models import Organisation


# What backend software registered without ``--scopes`` may be granted: read and search, and deposit,
# replace or withdraw documents and report stays (migration 0014 gives the same to older clients).
DEFAULT_SCOPES = "system/*.rs system/DocumentReference.cu system/Encounter.cu"


class ClientUsers(str, enum.Enum):
    """Who a SMART app is for: an organisation's professionals, or holders and their assistants."""

    professionals = "professionals"
    persons = "persons"


class Client(Base):
    """A piece of software that calls the FHIR API.

    Two kinds (docs/fhir.md):

    - **backend** software an organisation runs (a hospital's or a laboratory's
      system): no redirect URI; it authenticates with a JWT signed by one of
      the keys of its registered public JWK set (SMART Backend Services) and
      acts for one professional of its organisation at a time;
    - a **SMART app** (redirect URIs registered): the person using it logs in
      on the portal and approves it (authorization code + PKCE). With a JWK
      set it is a confidential client (``private_key_jwt`` at the token
      endpoint), without one a public client. ``users`` says who may use it:
      the professionals of its organisation, or persons (no organisation).
    """

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The public keys only (a JWK Set); private parameters are refused at registration. None: a public SMART app.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Exact redirect URIs of a SMART app; empty for backend software.
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    users: Mapped[ClientUsers] = mapped_column(
        Enum(ClientUsers, native_enum=False, length=16), default=ClientUsers.professionals
    )
    # The SMART v2 scopes backend software may be granted, space-separated (``clients add --scopes``):
    # a token carries what was asked for within these, never more.
    allowed_scopes: Mapped[str] = mapped_column(String(2000), default=DEFAULT_SCOPES)
    # The licence numbers of the professionals backend software may name; None: any member of its organisation.
    professionals: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def is_app(self) -> bool:
        """A SMART app (authorization code), not backend software (client credentials)."""
        return bool(self.redirect_uris)

    @property
    def is_public(self) -> bool:
        return self.jwks is None


class UsedAssertion(Base):
    """A client assertion already presented: its ``jti`` is refused again until it expires."""

    __tablename__ = "client_assertions_used"
    __table_args__ = (Index("ix_client_assertions_used_expires", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    """A SMART App Launch authorization code: single use, short-lived, kept as a SHA-256 hash.

    Bound to the client, its exact redirect URI, the PKCE challenge (S256), the
    scopes granted and who approved them: a professional acting for an
    organisation, or a person (``person_id``) for a record (``patient_id``: their
    own, or the one they act for). Access tokens issued from it carry its id,
    so that presenting it a second time revokes them (RFC 6749 §4.1.2).
    """

    __tablename__ = "smart_authorization_codes"
    __table_args__ = (Index("ix_smart_authorization_codes_expires", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(2000))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    professional_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("professionals.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the code was presented again: the tokens issued from it stop working.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CredentialEpoch(Base):
    """One counter, moved forward whenever a verified caller could be withdrawn (opendsp.counters, ADR 0045):
    a client changed, an authorization code revoked, a membership or an account's state changed. Cached
    callers (``Tokens.verify``) are keyed by it, so a withdrawal made by any process reaches every process."""

    __tablename__ = "credential_epochs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
