"""Registering client software and issuing the short-lived tokens it calls the FHIR API with.

SMART Backend Services (client_credentials with a ``private_key_jwt`` client
assertion, RFC 7523) with the IHE IUA claims that say which professional of
the client's organisation the software acts for, and why. The access token is
a JWT signed by the platform's own key; it is bound to the client, the
professional, the organisation, the scopes and the purpose of use, and lives
five minutes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.clients.models import Client, UsedAssertion
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.services import trace_event
from opendsp.settings import Mode, Settings
from opendsp.trace.service import RequestContext

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS384", "ES384")
TOKEN_ALGORITHM = "ES256"
TOKEN_LIFETIME = timedelta(minutes=5)
# The longest a client assertion may live (SMART: "no more than five minutes in the future").
ASSERTION_MAX_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)
PURPOSES = frozenset({"TREAT", "ETREAT"})
# The resource types a scope may name, and the SMART v2 permissions.
SCOPED_RESOURCES = ("DocumentReference", "Binary", "List", "Patient", "AuditEvent", "Consent", "Encounter",
                    "Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement",
                    "Immunization", "*")
_SCOPE = re.compile(r"^system/(?P<resource>[A-Za-z*]+)\.(?P<permissions>c?r?u?d?s?)$")


class ClientRegistrationRefused(ValueError):
    """The client cannot be registered as given; the message says why."""


class TokenRefused(Exception):
    """An OAuth 2.0 error (RFC 6749 §5.2): ``error`` is the code, the message is for people."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class TokenInvalid(Exception):
    """An access token that cannot be used; the message says why."""


# -- registration -------------------------------------------------------------


def _public_key_set(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ClientRegistrationRefused('a JWK Set is a JSON object with a non-empty "keys" list')
    for key in jwks["keys"]:
        if not isinstance(key, dict):
            raise ClientRegistrationRefused("every key of the JWK Set is a JSON object")
        if key.get("kty") not in ("RSA", "EC"):
            raise ClientRegistrationRefused("only RSA (RS384) and EC P-384 (ES384) keys are accepted")
        if "d" in key or "p" in key:
            raise ClientRegistrationRefused("the JWK Set holds a private key: register the public keys only")
        if not key.get("kid"):
            raise ClientRegistrationRefused('every key needs a "kid" (the client assertion names it)')
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError) as error:
        raise ClientRegistrationRefused(f"the JWK Set cannot be read: {error}") from None
    return jwks


def register_client(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    name: str,
    organisation_identifier: str,
    jwks: Any,
) -> Client:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ClientRegistrationRefused("a client needs a name of 1 to 200 characters")
    organisation = session.scalars(
        select(Organisation).where(Organisation.identifier == organisation_identifier)
    ).first()
    if organisation is None:
        raise ClientRegistrationRefused(f"no organisation with identifier {organisation_identifier!r}")
    client = Client(
        client_id=platform.randomness.bytes(16).hex(),
        name=name,
        organisation_id=organisation.id,
        jwks=_public_key_set(jwks),
        created_at=platform.clock.now(),
    )
    session.add(client)
    session.flush()
    platform.trace.append(
        session,
        trace_event(
            actor,
            "client.register",
            record_id=None,
            context={"client_id": client.client_id, "name": name, "organisation": organisation.identifier},
        ),
    )
    return client


# -- the platform's signing key -------------------------------------------------


def signing_key_path(settings: Settings) -> Path:
    """Beside the master keyring when it is a file, else under the var folder."""
    source = settings.master_key_source
    folder = Path(source.removeprefix("file:")).parent if source.startswith("file:") else settings.var_dir / "keys"
    return folder / "token-signing-key.json"


def load_signing_key(settings: Settings) -> ECKey:
    """The key access tokens are signed with; created on a developer's machine, required in production."""
    path = signing_key_path(settings)
    if not path.exists():
        if settings.mode is Mode.production:
            raise FileNotFoundError(f"no token signing key at {path}: provision one (a P-256 private JWK)")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-256", private=True, auto_kid=True)
        _write_private(path, key.as_dict(private=True))
    return ECKey.import_key(json.loads(path.read_text()))


def _write_private(path: Path, data: dict[str, Any]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)


# -- tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    resource: str
    permissions: frozenset[str]

    def allows(self, resource: str, permission: str) -> bool:
        return self.resource in (resource, "*") and permission in self.permissions


def parse_scopes(text: str) -> list[Scope]:
    scopes = []
    for word in text.split():
        match = _SCOPE.match(word)
        if not match or not match["permissions"] or match["resource"] not in SCOPED_RESOURCES:
            raise TokenRefused("invalid_scope", f"scope {word!r} is not supported: use SMART v2 system scopes "
                               "such as system/DocumentReference.rs")
        scopes.append(Scope(match["resource"], frozenset(match["permissions"])))
    if not scopes:
        raise TokenRefused("invalid_scope", "no scope was requested")
    return scopes


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Caller:
    """Who calls, as the access token says and the database confirms."""

    client: Client
    professional: Professional
    organisation: Organisation
    scopes: tuple[Scope, ...]
    purpose_of_use: str
    emergency_reason: str | None
    token_id: str

    def allows(self, resource: str, permission: str) -> bool:
        return any(scope.allows(resource, permission) for scope in self.scopes)

    @property
    def software(self) -> str:
        return f"{self.client.name} (client {self.client.client_id})"


def _purpose(value: Any) -> str | None:
    """IUA's purpose_of_use is a Coding; a bare code is accepted too."""
    if isinstance(value, dict):
        value = value.get("code")
    return value if isinstance(value, str) else None


class Tokens:
    """Issues and checks access tokens; built once per application."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.key = load_signing_key(platform.settings)
        base = platform.settings.public_base_url.rstrip("/")
        self.issuer = f"{base}/fhir"
        self.token_url = f"{base}/auth/token"

    @property
    def now(self) -> datetime:
        return self.platform.clock.now()

    def issue(self, *, session: Session, form: dict[str, str], request_id: str | None = None) -> IssuedToken:
        if form.get("grant_type") != "client_credentials":
            raise TokenRefused("unsupported_grant_type", "only the client_credentials grant is supported here")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenRefused("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise TokenRefused("invalid_client", "a client_assertion (a signed JWT) is required", 401)
        scopes = parse_scopes(form.get("scope") or "")
        client, claims = self._verify_assertion(session, assertion)
        professional, organisation = self._acting_professional(session, client, claims)
        iua = claims.get("extensions", {}).get("ihe_iua", {})
        purpose = _purpose(iua.get("purpose_of_use"))
        if purpose not in PURPOSES:
            raise TokenRefused("invalid_grant", "extensions.ihe_iua.purpose_of_use must be TREAT or ETREAT")
        reason = iua.get("purpose_of_use_reason")
        if purpose == "ETREAT" and not (isinstance(reason, str) and reason.strip()):
            raise TokenRefused(
                "invalid_grant", "emergency access (ETREAT) needs a reason in extensions.ihe_iua.purpose_of_use_reason"
            )
        scope_text = " ".join(f"system/{s.resource}.{''.join(p for p in 'cruds' if p in s.permissions)}"
                              for s in scopes)
        now = self.now
        token_id = self.platform.randomness.bytes(16).hex()
        claims_out = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": client.client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
            "jti": token_id,
            "scope": scope_text,
            "opendsp": {
                "professional": str(professional.id),
                "organisation": str(organisation.id),
                "purpose_of_use": purpose,
                "reason": reason.strip() if purpose == "ETREAT" else None,
            },
        }
        token = jwt.encode({"alg": TOKEN_ALGORITHM, "kid": self.key.kid}, claims_out, self.key,
                           algorithms=[TOKEN_ALGORITHM])
        self.platform.trace.append(
            session,
            trace_event(
                _actor_of(professional, organisation),
                "token.issue",
                record_id=None,
                request=RequestContext(request_id=request_id, client_software=f"{client.name} (client {client.client_id})"),
                context={"client_id": client.client_id, "scope": scope_text, "purpose_of_use": purpose,
                         "token": token_id},
            ),
        )
        return IssuedToken(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()), scope=scope_text)

    def _verify_assertion(self, session: Session, assertion: str) -> tuple[Client, dict[str, Any]]:
        header, payload = _peek(assertion)
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise TokenRefused("invalid_client", "the client assertion must be signed with RS384 or ES384", 401)
        client_id = payload.get("iss")
        client = (
            session.scalars(select(Client).where(Client.client_id == client_id)).first()
            if isinstance(client_id, str) else None
        )
        if client is None or client.disabled_at is not None:
            raise TokenRefused("invalid_client", "unknown or disabled client", 401)
        try:
            keys = KeySet.import_key_set(client.jwks)
            token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError) as error:
            raise TokenRefused("invalid_client", f"the client assertion's signature does not verify: {error}", 401) from None
        claims = dict(token.claims)
        if claims.get("sub") != client.client_id:
            raise TokenRefused("invalid_client", "the client assertion's sub must be the client id", 401)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.token_url not in audiences:
            raise TokenRefused("invalid_client", f"the client assertion's aud must be {self.token_url}", 401)
        now = self.now
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            raise TokenRefused("invalid_client", "the client assertion has no exp", 401)
        expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo)
        if expires_at <= now - CLOCK_SKEW:
            raise TokenRefused("invalid_client", "the client assertion has expired", 401)
        if expires_at > now + ASSERTION_MAX_LIFETIME + CLOCK_SKEW:
            raise TokenRefused("invalid_client", "the client assertion may live five minutes at most", 401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise TokenRefused("invalid_client", "the client assertion needs a jti", 401)
        session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now - CLOCK_SKEW))
        if session.get(UsedAssertion, (client.client_id, jti)) is not None:
            raise TokenRefused("invalid_client", "this client assertion was already used (jti replayed)", 401)
        session.add(UsedAssertion(client_id=client.client_id, jti=jti, expires_at=expires_at))
        session.flush()
        return client, claims

    def _acting_professional(
        self, session: Session, client: Client, claims: dict[str, Any]
    ) -> tuple[Professional, Organisation]:
        extensions = claims.get("extensions")
        iua = extensions.get("ihe_iua") if isinstance(extensions, dict) else None
        licence = iua.get("national_provider_identifier") if isinstance(iua, dict) else None
        if not isinstance(licence, str) or not licence:
            raise TokenRefused(
                "invalid_grant", "the client assertion must name the professional in "
                "extensions.ihe_iua.national_provider_identifier"
            )
        professional = session.scalars(select(Professional).where(Professional.licence_number == licence)).first()
        organisation = session.get(Organisation, client.organisation_id)
        assert organisation is not None
        if professional is None or organisation not in professional.organisations:
            raise TokenRefused(
                "invalid_grant", f"no professional with licence {licence} belongs to {organisation.name}"
            )
        return professional, organisation

    # -- access tokens ----------------------------------------------------------

    def verify(self, session: Session, token: str) -> Caller:
        try:
            decoded = jwt.decode(token, self.key, algorithms=[TOKEN_ALGORITHM])
        except (JoseError, ValueError):
            raise TokenInvalid("the access token is not valid") from None
        claims = decoded.claims
        if claims.get("iss") != self.issuer or claims.get("aud") != self.issuer:
            raise TokenInvalid("the access token was not issued for this server")
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires <= self.now.timestamp():
            raise TokenInvalid("the access token has expired")
        bound = claims.get("opendsp") or {}
        client = session.scalars(select(Client).where(Client.client_id == claims.get("sub"))).first()
        if client is None or client.disabled_at is not None:
            raise TokenInvalid("the client of this token is unknown or disabled")
        try:
            professional = session.get(Professional, uuid.UUID(bound.get("professional", "")))
            organisation = session.get(Organisation, uuid.UUID(bound.get("organisation", "")))
        except ValueError:
            raise TokenInvalid("the access token is not valid") from None
        if (
            professional is None
            or organisation is None
            or organisation.id != client.organisation_id
            or organisation not in professional.organisations
        ):
            raise TokenInvalid("the professional of this token no longer acts for this organisation")
        return Caller(
            client=client,
            professional=professional,
            organisation=organisation,
            scopes=tuple(parse_scopes(claims.get("scope", ""))),
            purpose_of_use=bound.get("purpose_of_use", "TREAT"),
            emergency_reason=bound.get("reason"),
            token_id=str(claims.get("jti")),
        )


def _peek(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification: only to find the client and its key set."""
    import base64

    parts = assertion.split(".")
    if len(parts) != 3:
        raise TokenRefused("invalid_client", "the client assertion is not a signed JWT", 401)
    try:
        decoded = [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2]]
    except ValueError:
        raise TokenRefused("invalid_client", "the client assertion is not a signed JWT", 401) from None
    if not all(isinstance(part, dict) for part in decoded):
        raise TokenRefused("invalid_client", "the client assertion is not a signed JWT", 401)
    return decoded[0], decoded[1]


def _actor_of(professional: Professional, organisation: Organisation) -> Actor:
    from opendsp import actors

    return actors.professional(professional, organisation=organisation)


# -- demo -------------------------------------------------------------------------


def register_demo_clients(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    organisations: dict[str, str],
    keys_dir: Path,
) -> list[dict[str, str]]:
    """Register one client per organisation (identifier -> client name) with a fresh ES384 key.

    Each private key is written to ``keys_dir/<client id>.jwk.json`` (mode 0600)
    for the demo's client software; the entries returned are meant for the
    demo's identities file.
    """
    keys_dir.mkdir(parents=True, exist_ok=True)
    registered = []
    for identifier, name in organisations.items():
        key = ECKey.generate_key("P-384", private=True, auto_kid=True)
        public = {**key.as_dict(private=False), "alg": "ES384", "use": "sig"}
        client = register_client(
            session=session, platform=platform, actor=actor, name=name, organisation_identifier=identifier,
            jwks={"keys": [public]},
        )
        path = keys_dir / f"{client.client_id}.jwk.json"
        _write_private(path, {**key.as_dict(private=True), "alg": "ES384"})
        registered.append(
            {
                "name": name,
                "organisation": identifier,
                "client_id": client.client_id,
                "private_key_file": str(path),
                "algorithm": "ES384",
                "kid": str(public["kid"]),
            }
        )
    return registered


def make_client_assertion(
    *,
    private_jwk: dict[str, Any],
    client_id: str,
    token_url: str,
    licence_number: str,
    purpose_of_use: str = "TREAT",
    reason: str | None = None,
    now: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=4),
    jti: str | None = None,
) -> str:
    """A client assertion as a client would build it (used by the demo, the docs and the tests)."""
    key = ECKey.import_key(private_jwk) if private_jwk.get("kty") == "EC" else None
    if key is None:
        from joserfc.jwk import RSAKey

        key = RSAKey.import_key(private_jwk)
    algorithm = "ES384" if private_jwk.get("kty") == "EC" else "RS384"
    issued = now.timestamp() if now else time.time()
    iua: dict[str, Any] = {
        "national_provider_identifier": licence_number,
        "purpose_of_use": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose_of_use},
    }
    if reason is not None:
        iua["purpose_of_use_reason"] = reason
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": int(issued + lifetime.total_seconds()),
        "iat": int(issued),
        "jti": jti or secrets.token_hex(16),
        "extensions": {"ihe_iua": iua},
    }
    return jwt.encode({"alg": algorithm, "kid": private_jwk.get("kid"), "typ": "JWT"}, claims, key,
                      algorithms=[algorithm])
