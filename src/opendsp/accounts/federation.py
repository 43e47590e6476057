"""Login through an external OpenID Connect provider (the State's portal with strong authentication).

Authorization code flow with PKCE (S256), a ``state`` against forged
callbacks and a ``nonce`` against replayed ID tokens. The provider is found
by discovery; its ID token must be signed with an asymmetric algorithm by a
key of its published key set, be issued by it, to us, recently, and carry our
nonce. The national number is read from a configured claim.

A federated login skips our second factor, so the provider must say how
strongly it authenticated: with ``OPENDSP_OIDC_ACR_VALUES`` the ``acr`` claim
must be one of them (they are also asked for in the request), and with
``OPENDSP_OIDC_AMR_VALUES`` one of the ``amr`` methods must be among them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opendsp.accounts.codes import new_token
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.clock import Clock, Randomness
from opendsp.settings import Settings

# Never "none", never a shared-secret algorithm: only the provider's private key can sign.
ALGORITHMS = ["RS256", "PS256", "ES256", "RS384", "RS512", "PS384", "PS512", "ES384"]
LEEWAY = timedelta(seconds=60)
DISCOVERY_TTL_SECONDS = 3600


def _json_object(response: httpx.Response, failure: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise FederationRefused(failure) from None
    if not isinstance(body, dict):
        raise FederationRefused(failure)
    return body


class FederationRefused(Exception):
    """The provider's answer cannot be trusted; ``reason`` says why (traced, not shown in detail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Pending:
    """What the browser's flow cookie keeps between the redirect and the callback."""

    state: str
    nonce: str
    verifier: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier}


@dataclass(frozen=True)
class Identity:
    national_number: str
    subject: str  # "issuer sub"
    claims: dict[str, Any]
    acr: str | None = None
    amr: tuple[str, ...] = ()


class OidcClient:
    def __init__(self, settings: Settings, clock: Clock, *, transport: httpx.BaseTransport | None = None) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ValueError("federation needs OPENDSP_OIDC_ISSUER and OPENDSP_OIDC_CLIENT_ID")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self.claim = settings.oidc_national_number_claim
        # Empty: any level (development only; production refuses federation without accepted levels).
        self.acr_values = settings.oidc_acr_values.split()
        self.amr_values = frozenset(settings.oidc_amr_values.split())
        self.redirect_uri = settings.public_base_url.rstrip("/") + "/login/federated/callback"
        self.clock = clock
        # Tests may put a transport in between to tamper with the provider's answers.
        self.transport = transport
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    def _http(self) -> httpx.Client:
        return httpx.Client(transport=self.transport, timeout=10.0, follow_redirects=False)

    def _call(self, failure: str, method: str, url: str, **options: Any) -> httpx.Response:
        """One request to the provider; unreachable, timed out or refused: ``FederationRefused(failure)``."""
        try:
            with self._http() as http:
                return http.request(method, url, **options)
        except httpx.HTTPError as error:
            raise FederationRefused(failure) from error

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL_SECONDS:
            response = self._call("discovery_failed", "GET", f"{self.issuer}/.well-known/openid-configuration")
            if response.status_code != 200:
                raise FederationRefused("discovery_failed")
            metadata = _json_object(response, "discovery_failed")
            # The document must describe the issuer we trust, not another one.
            if metadata.get("issuer", "").rstrip("/") != self.issuer:
                raise FederationRefused("discovery_issuer_mismatch")
            self._metadata, self._metadata_at, self._keys = metadata, time.monotonic(), None
        return self._metadata

    def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            response = self._call("jwks_failed", "GET", self.metadata()["jwks_uri"])
            if response.status_code != 200:
                raise FederationRefused("jwks_failed")
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    def start(self, randomness: Randomness) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what to remember."""
        pending = Pending(state=new_token(randomness), nonce=new_token(randomness), verifier=new_token(randomness, 48))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest()).decode().rstrip("=")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **({"acr_values": " ".join(self.acr_values)} if self.acr_values else {}),
            }
        )
        return f"{self.metadata()['authorization_endpoint']}?{query}", pending

    def finish(self, *, code: str, state: str, pending: Pending) -> Identity:
        """The callback: check the state, redeem the code, verify the ID token."""
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise FederationRefused("state_mismatch")
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.verifier,
        }
        auth = (self.client_id, self.client_secret) if self.client_secret else None
        if auth is None:
            data["client_id"] = self.client_id
        response = self._call("token_failed", "POST", self.metadata()["token_endpoint"], data=data, auth=auth)
        if response.status_code != 200:
            raise FederationRefused("token_request_refused")
        id_token = _json_object(response, "token_request_refused").get("id_token")
        if not isinstance(id_token, str):
            raise FederationRefused("no_id_token")
        return self.verify(id_token, nonce=pending.nonce)

    def verify(self, id_token: str, *, nonce: str) -> Identity:
        claims = self._verified_claims(id_token)
        now = self.clock.now()
        if claims.get("iss", "").rstrip("/") != self.issuer:
            raise FederationRefused("wrong_issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != self.client_id):
            raise FederationRefused("wrong_audience")
        if not isinstance(claims.get("exp"), int | float) or datetime.fromtimestamp(claims["exp"], now.tzinfo) < now - LEEWAY:
            raise FederationRefused("expired")
        if not isinstance(claims.get("iat"), int | float) or datetime.fromtimestamp(claims["iat"], now.tzinfo) > now + LEEWAY:
            raise FederationRefused("issued_in_the_future")
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(), nonce.encode()):
            raise FederationRefused("wrong_nonce")
        acr, amr = self._check_strength(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise FederationRefused("no_subject")
        raw_number = claims.get(self.claim)
        if not isinstance(raw_number, str):
            raise FederationRefused("no_national_number")
        try:
            number = national_number_from_input(raw_number)
        except InvalidNationalNumber:
            raise FederationRefused("bad_national_number") from None
        return Identity(national_number=number, subject=f"{self.issuer} {subject}", claims=claims, acr=acr, amr=amr)

    def _check_strength(self, claims: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
        """The level (``acr``) and methods (``amr``) of the provider's authentication, if they are accepted."""
        acr = claims.get("acr") if isinstance(claims.get("acr"), str) else None
        raw_amr = claims.get("amr")
        amr = tuple(m for m in raw_amr if isinstance(m, str)) if isinstance(raw_amr, list) else ()
        if self.acr_values and acr not in self.acr_values:
            raise FederationRefused("acr_not_accepted")
        if self.amr_values and not self.amr_values.intersection(amr):
            raise FederationRefused("amr_not_accepted")
        return acr, amr

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        for refresh in (False, True):  # once more with fresh keys: the provider may have rotated them
            try:
                token = jwt.decode(id_token, self._key_set(refresh=refresh), algorithms=ALGORITHMS)
                return dict(token.claims)
            except (JoseError, ValueError) as error:
                if refresh:
                    raise FederationRefused(f"bad_signature:{error.__class__.__name__}") from None
        raise AssertionError("unreachable")
