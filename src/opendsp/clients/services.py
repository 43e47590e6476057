"""Registering client software and issuing the short-lived tokens it calls the FHIR API with.

Two grants reach the same access tokens:

- SMART Backend Services (client_credentials with a ``private_key_jwt`` client
  assertion, RFC 7523) with the IHE IUA claims that say which professional of
  the client's organisation the software acts for, and why;
- SMART App Launch, standalone (authorization_code with PKCE S256): a
  professional or a person logged in on the portal approved the app
  (``opendsp.clients.launch``); the code is exchanged here.

The access token is a JWT signed by the platform's own key; it is bound to the
client, the professional and the organisation (or the person and the record
they opened), the scopes and the purpose of use, and lives five minutes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import delete, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from opendsp.actors import Actor
from opendsp.caches import has_written
from opendsp.clients.models import DEFAULT_SCOPES, AuthorizationCode, Client, ClientUsers, CredentialEpoch, UsedAssertion
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, OrganisationKind, Professional
from opendsp.records.services import write_trace
from opendsp.settings import Mode, Settings
from opendsp.trace.vocabulary import Outcome, RequestContext

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
                    "Immunization", "ImagingStudy", "Procedure", "MedicationRequest", "MedicationDispense",
                    "*")
# Read on every request: built once (building it and its cache key took longer than running it, issue 15).
_CREDENTIAL_EPOCH = select(CredentialEpoch.epoch).where(CredentialEpoch.id == 1)
_SCOPE = re.compile(r"^(?P<context>system|user|patient)/(?P<resource>[A-Za-z*]+)\.(?P<permissions>c?r?u?d?s?)$")
# What a person's app may reach: the record's trace and the holder's choices, read-only.
PATIENT_RESOURCES = ("AuditEvent", "Consent")
LAUNCH_PATIENT = "launch/patient"
# Asked for by many apps, not granted (no OpenID Connect identity, no refresh token): left out of the granted scope.
UNGRANTED_SCOPES = frozenset({"openid", "fhirUser", "profile", "offline_access", "online_access"})
# base64url of a SHA-256 digest (RFC 7636 S256), and a code verifier's alphabet and length.
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


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


def _redirect_uris(uris: Any) -> list[str]:
    """Absolute URIs without a fragment; plain http only back to this machine (RFC 8252 loopback)."""
    checked = []
    for uri in uris:
        if not isinstance(uri, str) or not uri or len(uri) > 2000 or any(c.isspace() for c in uri):
            raise ClientRegistrationRefused(f"{uri!r} is not a redirect URI")
        parts = urlsplit(uri)
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise ClientRegistrationRefused(f"{uri!r}: a redirect URI is absolute and has no fragment")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ClientRegistrationRefused(f"{uri!r}: use https (plain http only to 127.0.0.1 or localhost)")
        if parts.scheme not in ("http", "https") and "." not in parts.scheme:
            raise ClientRegistrationRefused(f"{uri!r}: https, loopback http, or a private-use scheme (com.example.app:)")
        checked.append(uri)
    return list(dict.fromkeys(checked))


def register_client(
    *,
    session: Session,
    platform: Platform,
    actor: Actor,
    name: str,
    organisation_identifier: str | None,
    jwks: Any,
    redirect_uris: tuple[str, ...] | list[str] = (),
    users: ClientUsers = ClientUsers.professionals,
    scopes: str | None = None,
    professionals: tuple[str, ...] | list[str] | None = None,
) -> Client:
    """Backend software (a JWK Set, no redirect URI) or a SMART app (redirect URIs; public without a JWK Set).

    Backend software and apps for professionals belong to an organisation;
    apps for persons belong to none. Backend software may be granted only
    ``scopes`` (SMART v2 system scopes; ``DEFAULT_SCOPES`` when not given) and
    may name only the ``professionals`` listed (licence numbers of members of
    its organisation; any member when not given).
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ClientRegistrationRefused("a client needs a name of 1 to 200 characters")
    uris = _redirect_uris(redirect_uris)
    if not uris and jwks is None:
        raise ClientRegistrationRefused("backend software needs its public JWK Set; a SMART app needs a redirect URI")
    if users is ClientUsers.persons and not uris:
        raise ClientRegistrationRefused("an app for persons is a SMART app: give its redirect URI")
    organisation = None
    if users is ClientUsers.persons:
        if organisation_identifier:
            raise ClientRegistrationRefused("an app for persons belongs to no organisation")
    else:
        if not organisation_identifier:
            raise ClientRegistrationRefused("name the organisation whose professionals use this client")
        organisation = session.scalars(
            select(Organisation).where(Organisation.identifier == organisation_identifier)
        ).first()
        if organisation is None:
            raise ClientRegistrationRefused(f"no organisation with identifier {organisation_identifier!r}")
    allowed = _allowed_scopes(scopes)
    named = _named_professionals(session, organisation, professionals)
    if uris and (scopes is not None or professionals is not None):
        raise ClientRegistrationRefused("--scopes and --professional are for backend software: a SMART app's scopes "
                                        "are approved by the person using it")
    client = Client(
        client_id=platform.randomness.bytes(16).hex(),
        name=name,
        organisation_id=organisation.id if organisation else None,
        jwks=_public_key_set(jwks) if jwks is not None else None,
        redirect_uris=uris,
        users=users,
        allowed_scopes=allowed,
        professionals=named,
        created_at=platform.clock.now(),
    )
    session.add(client)
    session.flush()
    context: dict[str, Any] = {"client_id": client.client_id, "name": name,
                               "organisation": organisation.identifier if organisation else None}
    if uris:
        context |= {"redirect_uris": uris, "users": users.value, "public": client.is_public}
    else:
        context |= {"scopes": allowed, "professionals": named}
    write_trace(session, platform, "client.register", actor=actor, context=context)
    return client


def _allowed_scopes(text: str | None) -> str:
    if text is None:
        return DEFAULT_SCOPES
    try:
        return " ".join(scope.text for scope in parse_scopes(text))
    except TokenRefused as refused:
        raise ClientRegistrationRefused(refused.description) from None


def _named_professionals(session: Session, organisation: Organisation | None,
                         licences: tuple[str, ...] | list[str] | None) -> list[str] | None:
    if licences is None:
        return None
    named = list(dict.fromkeys(licence.strip() for licence in licences if licence.strip()))
    for licence in named:
        professional = session.scalars(select(Professional).where(Professional.licence_number == licence)).first()
        if professional is None or organisation is None or organisation not in professional.organisations:
            raise ClientRegistrationRefused(f"no professional with licence {licence} belongs to the organisation")
    return named


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
    context: str = "system"  # system (backend software), user (a professional's app), patient (a person's app)

    def allows(self, resource: str, permission: str) -> bool:
        return self.resource in (resource, "*") and permission in self.permissions

    @property
    def text(self) -> str:
        return f"{self.context}/{self.resource}.{''.join(p for p in 'cruds' if p in self.permissions)}"


def narrow_scopes(asked: list[Scope], allowed: list[Scope]) -> list[Scope]:
    """What a client asked for within what it may be granted (RFC 6749 §3.3: the server may grant less).

    ``system/*.cruds`` asked by a client allowed ``system/DocumentReference.rs`` is granted
    ``system/DocumentReference.rs``; nothing outside the allowed scopes is ever granted.
    """
    granted: dict[str, Scope] = {}
    for wanted in asked:
        for permitted in allowed:
            if wanted.resource == "*":
                resource = permitted.resource
            elif permitted.resource in (wanted.resource, "*"):
                resource = wanted.resource
            else:
                continue
            permissions = wanted.permissions & permitted.permissions
            if permissions:
                scope = Scope(resource, permissions, wanted.context)
                granted.setdefault(scope.text, scope)
    return list(granted.values())


def parse_scopes(text: str, contexts: tuple[str, ...] = ("system",)) -> list[Scope]:
    scopes = []
    for word in text.split():
        match = _SCOPE.match(word)
        if (not match or not match["permissions"] or match["resource"] not in SCOPED_RESOURCES
                or match["context"] not in contexts):
            example = {"system": "system/DocumentReference.rs", "user": "user/DocumentReference.rs",
                       "patient": "patient/AuditEvent.rs"}[contexts[0]]
            raise TokenRefused("invalid_scope", f"scope {word!r} is not supported: use SMART v2 {contexts[0]} scopes "
                               f"such as {example}")
        scopes.append(Scope(match["resource"], frozenset(match["permissions"]), match["context"]))
    if not scopes:
        raise TokenRefused("invalid_scope", "no scope was requested")
    return scopes


@dataclass(frozen=True)
class AppScopes:
    """What a SMART app may be granted: resource scopes, and launch/patient for a person's app."""

    scopes: tuple[Scope, ...]
    launch_patient: bool

    @property
    def text(self) -> str:
        return " ".join([s.text for s in self.scopes] + ([LAUNCH_PATIENT] if self.launch_patient else []))


def parse_app_scopes(text: str, users: ClientUsers) -> AppScopes:
    """user/ scopes for a professional's app; patient/AuditEvent and patient/Consent (read, search) and
    launch/patient for a person's app. openid, fhirUser, profile and offline_access are not granted."""
    words = [w for w in text.split() if w not in UNGRANTED_SCOPES]
    launch = LAUNCH_PATIENT in words
    if launch and users is ClientUsers.professionals:
        raise TokenRefused("invalid_scope", "launch/patient is not offered to professionals' apps: find the patient "
                           "with PDQm (GET Patient?identifier=...)")
    words = [w for w in words if w != LAUNCH_PATIENT]
    context = "user" if users is ClientUsers.professionals else "patient"
    scopes = parse_scopes(" ".join(words), (context,))
    if users is ClientUsers.persons:
        for scope in scopes:
            if scope.resource not in PATIENT_RESOURCES or not scope.permissions <= {"r", "s"}:
                raise TokenRefused("invalid_scope", f"a person's app may only read the trace and the choices: "
                                   f"patient/AuditEvent.rs, patient/Consent.rs, not {scope.text}")
    return AppScopes(scopes=tuple(scopes), launch_patient=launch)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    patient: str | None = None  # SMART launch context: the Patient id of the record a person's app opened

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.patient:
            answer["patient"] = self.patient
        return answer


@dataclass(frozen=True)
class Caller:
    """Who calls, as the access token says and the database confirms.

    Either a professional acting for an organisation (backend software, or a
    professional's app), or a person (a person's app) on one record: their
    own, or the one they act for as assistant or legal representative.
    """

    client: Client
    scopes: tuple[Scope, ...]
    token_id: str
    professional: Professional | None = None
    organisation: Organisation | None = None
    purpose_of_use: str = "TREAT"
    emergency_reason: str | None = None
    person: Person | None = None
    patient: Person | None = None

    def allows(self, resource: str, permission: str) -> bool:
        return any(scope.allows(resource, permission) for scope in self.scopes)

    @property
    def software(self) -> str:
        return f"{self.client.name} (client {self.client.client_id})"

    def actor(self, session: Session) -> Actor:
        """The actor the policy decides for: the professional, or the person (as holder, assistant or parent)."""
        from opendsp import actors

        if self.professional is not None:
            return actors.professional(self.professional, organisation=self.organisation)
        from opendsp.accounts.delegations import actor_for

        assert self.person is not None and self.patient is not None
        return actor_for(session, self.person, None if self.patient.id == self.person.id else self.patient.id)


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
        """SMART Backend Services: a client_credentials request with a private_key_jwt assertion."""
        if form.get("grant_type") != "client_credentials":
            raise TokenRefused("unsupported_grant_type",
                               "the grants supported are client_credentials and authorization_code")
        assertion = self._assertion(form)
        asked = parse_scopes(form.get("scope") or "")
        client, claims = self._verify_assertion(session, assertion)
        if client.is_app:
            raise TokenRefused("unauthorized_client", "this client is a SMART app: it uses the authorization_code "
                               "grant, with a professional or a person logged in")
        scopes = narrow_scopes(asked, parse_scopes(client.allowed_scopes))
        if not scopes:
            raise TokenRefused("invalid_scope", "none of the scopes asked for is registered for this client")
        professional, organisation = self._acting_professional(session, client, claims)
        iua = claims.get("extensions", {}).get("ihe_iua", {})
        purpose = _purpose(iua.get("purpose_of_use"))
        if purpose not in PURPOSES:
            raise TokenRefused("invalid_grant", "extensions.ihe_iua.purpose_of_use must be TREAT or ETREAT")
        if purpose == "ETREAT" and organisation.kind is not OrganisationKind.emergency_department:
            raise TokenRefused("invalid_grant", "emergency access (ETREAT) is reserved to software registered for "
                               "an emergency department")
        reason = iua.get("purpose_of_use_reason")
        if purpose == "ETREAT" and not (isinstance(reason, str) and reason.strip()):
            raise TokenRefused(
                "invalid_grant", "emergency access (ETREAT) needs a reason in extensions.ihe_iua.purpose_of_use_reason"
            )
        scope_text = " ".join(scope.text for scope in scopes)
        bound = {
            "professional": str(professional.id),
            "organisation": str(organisation.id),
            "purpose_of_use": purpose,
            "reason": reason.strip() if purpose == "ETREAT" else None,
        }
        return self._token(session, client, _actor_of(professional, organisation), scope_text, bound,
                           {"grant_type": "client_credentials", "purpose_of_use": purpose}, request_id)

    def _token(self, session: Session, client: Client, actor: Actor, scope_text: str, bound: dict[str, Any],
               context: dict[str, Any], request_id: str | None, patient: str | None = None) -> IssuedToken:
        """Sign an access token and trace its issue, in the caller's transaction."""
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
            "opendsp": bound,
        }
        token = jwt.encode({"alg": TOKEN_ALGORITHM, "kid": self.key.kid}, claims_out, self.key,
                           algorithms=[TOKEN_ALGORITHM])
        write_trace(
            session, self.platform, "token.issue", actor=actor,
            request=RequestContext(request_id=request_id, client_software=f"{client.name} (client {client.client_id})"),
            context={"client_id": client.client_id, "scope": scope_text, "token": token_id, **context},
        )
        return IssuedToken(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()), scope=scope_text,
                           patient=patient)

    @staticmethod
    def _assertion(form: dict[str, str]) -> str:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenRefused("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise TokenRefused("invalid_client", "a client_assertion (a signed JWT) is required", 401)
        return assertion

    # -- SMART App Launch: the authorization code exchanged ---------------------

    def claim_code(self, session: Session, form: dict[str, str]) -> AuthorizationCode | TokenRefused:
        """Use the code once, whatever follows; a second presentation revokes what the first obtained.

        Returns the refusal rather than raising it, so that the caller commits
        the use (or the revocation) before answering.
        """
        if form.get("grant_type") != "authorization_code":
            return TokenRefused("unsupported_grant_type", "this is not an authorization_code request")
        code = form.get("code") or ""
        if not code:
            return TokenRefused("invalid_request", "the authorization code (code) is missing")
        row = session.scalars(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_digest(code))).first()
        if row is None:
            return TokenRefused("invalid_grant", "unknown authorization code")
        now = self.now
        claimed = session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.execute(update(AuthorizationCode).where(AuthorizationCode.id == row.id,
                                                            AuthorizationCode.revoked_at.is_(None))
                            .values(revoked_at=now).execution_options(synchronize_session=False))
            write_trace(session, self.platform, "token.code_replayed", actor=None, party="client",
                        party_id=row.client_id, outcome=Outcome.refused, reason="code_replayed",
                        context={"client_id": row.client_id, "code": str(row.id)})
            return TokenRefused("invalid_grant", "this authorization code was already used: the tokens issued "
                                "from it are revoked")
        if row.expires_at <= now:
            return TokenRefused("invalid_grant", "the authorization code has expired")
        return row

    def exchange_code(self, *, session: Session, form: dict[str, str], code: AuthorizationCode,
                      request_id: str | None = None) -> IssuedToken:
        """The code (already claimed) for an access token: the client, the redirect URI and the PKCE verifier."""
        client = self._app_client(session, form)
        if code.client_id != client.client_id:
            raise TokenRefused("invalid_grant", "the authorization code was issued to another client")
        if form.get("redirect_uri") != code.redirect_uri:
            raise TokenRefused("invalid_grant", "redirect_uri is not the one of the authorization request")
        verifier = form.get("code_verifier") or ""
        if not _VERIFIER.match(verifier):
            raise TokenRefused("invalid_grant", "code_verifier is missing or malformed (43 to 128 characters, RFC 7636)")
        if not secrets.compare_digest(s256(verifier), code.code_challenge):
            raise TokenRefused("invalid_grant", "code_verifier does not match the code_challenge (S256)")
        granted = parse_app_scopes(code.scope, client.users)
        if code.professional_id is not None:
            professional = session.get(Professional, code.professional_id)
            organisation = session.get(Organisation, code.organisation_id) if code.organisation_id else None
            if professional is None or organisation is None or organisation not in professional.organisations:
                raise TokenRefused("invalid_grant", "the professional no longer acts for this organisation")
            actor = _actor_of(professional, organisation)
            bound: dict[str, Any] = {"professional": str(professional.id), "organisation": str(organisation.id),
                                     "purpose_of_use": "TREAT", "reason": None, "grant": str(code.id)}
            patient = None
        else:
            person = session.get(Person, code.person_id)
            holder = session.get(Person, code.patient_id)
            if person is None or holder is None or not _active_person(session, person):
                raise TokenRefused("invalid_grant", "the account that approved this app is no longer active")
            from opendsp.accounts.delegations import actor_for

            actor = actor_for(session, person, None if holder.id == person.id else holder.id)
            bound = {"person": str(person.id), "patient": str(holder.id), "grant": str(code.id)}
            patient = str(holder.id) if granted.launch_patient else None
        return self._token(session, client, actor, granted.text, bound,
                           {"grant_type": "authorization_code", "grant": str(code.id)}, request_id, patient=patient)

    def _app_client(self, session: Session, form: dict[str, str]) -> Client:
        """A confidential app proves itself with a private_key_jwt assertion; a public one names itself."""
        if form.get("client_assertion") or form.get("client_assertion_type"):
            client, _claims = self._verify_assertion(session, self._assertion(form))
            if form.get("client_id") not in (None, client.client_id):
                raise TokenRefused("invalid_client", "client_id is not the client of the assertion", 401)
        else:
            client_id = form.get("client_id") or ""
            client = session.scalars(select(Client).where(Client.client_id == client_id)).first()
            if client is None or client.disabled_at is not None:
                raise TokenRefused("invalid_client", "unknown or disabled client", 401)
            if not client.is_public:
                raise TokenRefused("invalid_client", "this client is confidential: authenticate with a "
                                   "private_key_jwt client assertion", 401)
        if not client.is_app:
            raise TokenRefused("unauthorized_client", "backend software uses the client_credentials grant")
        return client

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
        if client.jwks is None:
            raise TokenRefused("invalid_client", "this client is public (no JWK Set registered): it cannot sign "
                               "a client assertion", 401)
        try:
            keys = KeySet.import_key_set(client.jwks)
            token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError, TypeError, KeyError):
            # The library's own words would tell a forger what to change: one neutral answer for every failure.
            raise TokenRefused("invalid_client", "the client assertion's signature does not verify", 401) from None
        claims = dict(token.claims)
        if claims.get("sub") != client.client_id:
            raise TokenRefused("invalid_client", "the client assertion's sub must be the client id", 401)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.token_url not in audiences:
            raise TokenRefused("invalid_client", f"the client assertion's aud must be {self.token_url}", 401)
        now = self.now
        expires_at = _instant(claims.get("exp"), now)
        if expires_at is None:
            raise TokenRefused("invalid_client", "the client assertion has no exp", 401)
        if expires_at <= now - CLOCK_SKEW:
            raise TokenRefused("invalid_client", "the client assertion has expired", 401)
        if expires_at > now + ASSERTION_MAX_LIFETIME + CLOCK_SKEW:
            raise TokenRefused("invalid_client", "the client assertion may live five minutes at most", 401)
        _check_not_before(claims, now)
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
        # The rule (docs/fhir.md): a member of the client's organisation, among the professionals the client was
        # registered for when it was, whose account (if any) the agency has not closed. One answer for every "no".
        if (professional is None or organisation not in professional.organisations
                or (client.professionals is not None and licence not in client.professionals)
                or _account_closed(session, professional)):
            raise TokenRefused("invalid_grant", "this client may not act for the professional named")
        return professional, organisation

    # -- access tokens ----------------------------------------------------------

    def verify(self, session: Session, token: str) -> Caller:
        """The caller a valid access token names, as the database confirms it.

        Kept for the token's life in the platform's caller cache, keyed by the token's SHA-256 and the
        credential epoch read here (one statement per request): a client disabled, an authorization code
        revoked, a professional leaving the organisation, an account closed or a person's account no longer
        active all move the epoch forward (opendsp.counters, ADR 0045), and the next request from any process
        verifies the token again against the database (docs/adr/0031-request-caches.md).
        """
        cache, now = self.platform.caller_cache, self.now
        epoch = session.scalar(_CREDENTIAL_EPOCH)
        key = (hashlib.sha256(token.encode()).digest(), epoch)
        if epoch is not None and not has_written(session):
            found = cache.get(key, now)
            if found is not None:
                return found.attached(session)
        caller, until = self._verify(session, token)
        if epoch is not None and not has_written(session):
            cache.put(key, _VerifiedCaller.of(caller), until)
        return caller

    def _verify(self, session: Session, token: str) -> tuple[Caller, datetime]:
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
        until = datetime.fromtimestamp(expires, UTC)
        bound = claims.get("opendsp") or {}
        client = session.scalars(select(Client).where(Client.client_id == claims.get("sub"))).first()
        if client is None or client.disabled_at is not None:
            raise TokenInvalid("the client of this token is unknown or disabled")
        try:
            grant = uuid.UUID(bound["grant"]) if bound.get("grant") else None
            if grant is not None:
                code = session.get(AuthorizationCode, grant)
                if code is None or code.revoked_at is not None:
                    raise TokenInvalid("the access token was revoked (its authorization code was used again)")
            if bound.get("person"):
                return self._person_caller(session, client, claims, bound), until
            # The professional with their organisations in one statement: the token's organisation is then
            # found among them without another.
            professional = session.get(Professional, uuid.UUID(bound.get("professional", "")),
                                       options=[joinedload(Professional.organisations)])
            organisation = session.get(Organisation, uuid.UUID(bound.get("organisation", "")))
        except ValueError:
            raise TokenInvalid("the access token is not valid") from None
        if (
            professional is None
            or organisation is None
            or (client.organisation_id is not None and organisation.id != client.organisation_id)
            or organisation not in professional.organisations
            or _account_closed(session, professional)
        ):
            raise TokenInvalid("the professional of this token no longer acts for this organisation")
        return Caller(
            client=client,
            professional=professional,
            organisation=organisation,
            scopes=tuple(parse_scopes(claims.get("scope", ""), ("system", "user"))),
            purpose_of_use=bound.get("purpose_of_use", "TREAT"),
            emergency_reason=bound.get("reason"),
            token_id=str(claims.get("jti")),
        ), until

    def _person_caller(self, session: Session, client: Client, claims: dict[str, Any], bound: dict[str, Any]) -> Caller:
        person = session.get(Person, uuid.UUID(bound["person"]))
        patient = session.get(Person, uuid.UUID(bound.get("patient", "")))
        if person is None or patient is None or client.users is not ClientUsers.persons or not _active_person(
                session, person):
            raise TokenInvalid("the person of this token can no longer use it")
        granted = parse_app_scopes(claims.get("scope", ""), ClientUsers.persons)
        return Caller(client=client, scopes=granted.scopes, token_id=str(claims.get("jti")), person=person,
                      patient=patient)


@dataclass(frozen=True)
class _VerifiedCaller:
    """A verified ``Caller`` kept between requests: detached copies of its rows, never attached to a session
    (each request gets its own instances with ``Session.merge(load=False)``, without a statement)."""

    caller: Caller

    @classmethod
    def of(cls, caller: Caller) -> _VerifiedCaller:
        organisations: dict[uuid.UUID, Organisation] = {}

        def organisation(row: Organisation) -> Organisation:
            return organisations.setdefault(row.id, _detached_copy(row))

        professional = caller.professional
        copy = None
        if professional is not None:
            copy = _detached_copy(professional, organisations=[organisation(o) for o in professional.organisations])
        return cls(replace(
            caller, client=_detached_copy(caller.client), professional=copy,
            organisation=organisation(caller.organisation) if caller.organisation is not None else None,
            person=_detached_copy(caller.person) if caller.person is not None else None,
            patient=_detached_copy(caller.patient) if caller.patient is not None else None))

    def attached(self, session: Session) -> Caller:
        caller = self.caller

        def merged(row: T | None) -> T | None:
            return session.merge(row, load=False) if row is not None else None

        return replace(caller, client=session.merge(caller.client, load=False),
                       professional=merged(caller.professional), organisation=merged(caller.organisation),
                       person=merged(caller.person), patient=merged(caller.patient))


T = TypeVar("T")


def _detached_copy(row: T, **relations: Any) -> T:
    """A copy of ``row``'s columns (and the relations given), detached, as if loaded by a session now closed."""
    mapper = sa_inspect(row).mapper
    copy = mapper.class_manager.new_instance()
    for attribute in mapper.column_attrs:
        value = getattr(row, attribute.key)
        set_committed_value(copy, attribute.key, list(value) if isinstance(value, list) else
                            dict(value) if isinstance(value, dict) else value)
    for name, value in relations.items():
        set_committed_value(copy, name, value)
    make_transient_to_detached(copy)
    return copy


def code_digest(code: str) -> str:
    """Authorization codes are kept as their SHA-256 (hex): a copy of the database redeems none."""
    return hashlib.sha256(code.encode()).hexdigest()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _account_closed(session: Session, professional: Professional) -> bool:
    from opendsp.accounts.models import Account, AccountState

    account = session.scalars(select(Account).where(Account.professional_id == professional.id)).first()
    return account is not None and account.state is AccountState.closed


def _active_person(session: Session, person: Person) -> bool:
    from opendsp.accounts.models import Account, AccountState

    account = session.scalars(select(Account).where(Account.person_id == person.id)).first()
    return account is not None and account.state is AccountState.active


def _check_not_before(claims: dict[str, Any], now: datetime) -> None:
    """``iat`` and ``nbf``, when present, are numbers no later than now (with a little clock skew)."""
    for name, problem in (("iat", "was issued in the future"), ("nbf", "is not valid yet")):
        if claims.get(name) is None:
            continue
        when = _instant(claims[name], now)
        if when is None:
            raise TokenRefused("invalid_client", f"the client assertion's {name} is not a time", 401)
        if when > now + CLOCK_SKEW:
            raise TokenRefused("invalid_client", f"the client assertion {problem}", 401)


def _instant(value: Any, now: datetime) -> datetime | None:
    """A NumericDate claim as a time, or None when it is not one (a string, a boolean, out of range)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, tz=now.tzinfo)
    except (OverflowError, OSError, ValueError):
        return None


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
    extra_claims: dict[str, Any] | None = None,
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
        **(extra_claims or {}),
    }
    return jwt.encode({"alg": algorithm, "kid": private_jwk.get("kid"), "typ": "JWT"}, claims, key,
                      algorithms=[algorithm])
