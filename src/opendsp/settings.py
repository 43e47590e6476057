"""One settings object, read from ``OPENDSP_*`` environment variables.

Every default is the embedded one: SQLite and a local folder under ``var/``,
so that ``make run`` needs nothing else. Production mode refuses those
defaults that are only safe on a developer's machine.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(str, enum.Enum):
    development = "development"
    production = "production"


class InsecureSettings(RuntimeError):
    """Raised when production mode is asked to run on development defaults."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENDSP_", extra="ignore")

    mode: Mode = Mode.development
    var_dir: Path = Path("var")
    database_url: str = ""
    # The owner role's URL, for `opendsp migrate` and `opendsp db roles` (docs/operations.md, "Database roles");
    # empty: the application's own URL (the embedded default).
    migration_database_url: str = ""
    # Each process's pool of database connections: kept open, and opened beyond for a burst (closed after).
    # A process holds at most their sum; docs/operations.md ("Capacity") adds up what every process may hold.
    database_pool_size: int = Field(5, ge=1)
    database_max_overflow: int = Field(10, ge=0)
    # "file:PATH" for a local folder, "s3://BUCKET/PREFIX" for an object store.
    content_store: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # "file:PATH" for a keyring file, "env" for OPENDSP_MASTER_KEYS (both for development),
    # "pkcs11" for keys inside an HSM (docs/operations.md, "Master keys in an HSM").
    master_key_source: str = ""
    master_keys: str | None = Field(default=None, description="id:base64key[,id:base64key...] for the env source")
    # The pkcs11 source: the vendor's PKCS#11 module (.so), the token's label, and the user PIN
    # (given, or read from a file readable by the service only).
    pkcs11_module: str | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: str | None = Field(default=None, repr=False)
    pkcs11_pin_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    # The zone every time is shown in (pages, PDFs, CSV files, e-mails, the trace); stored times stay UTC.
    time_zone: str = "Europe/Luxembourg"
    # The PACS viewer an imaging study opens in, "https://…{study_uid}…" (docs/reading.md); empty: no link, the
    # study's identifiers are shown as text. A document's own addresses are never made links.
    pacs_viewer_url: str = ""
    # The rights matrix (YAML); the default ships with the package.
    rights_matrix: Path | None = None
    # The server's log lines: "text" for a person, "json" (one object a line, with the request id) for a collector.
    log_format: Literal["text", "json"] = "text"
    # Port of the HL7 v2 MLLP listener, `opendsp mllp` (none: 2575).
    mllp_port: int | None = None
    mllp_host: str = "127.0.0.1"
    # The listener's perimeter (docs/institutional-access.md). TLS with a client certificate required:
    # the listener's certificate chain and key (PEM) and the CA bundle that signs hospitals' certificates.
    # Without all three the listener speaks plain TCP, in development mode only.
    mllp_tls_certificate: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_tls_client_ca: Path | None = None
    # A larger message is answered AR and never parsed.
    mllp_max_message_bytes: int = Field(1024 * 1024, ge=1024)
    # Silence in the middle of a message or of the TLS handshake, and between two messages, before closing.
    mllp_idle_timeout_seconds: float = Field(30.0, gt=0)
    mllp_keepalive_seconds: float = Field(600.0, gt=0)
    # Connections held at once; one more is closed at once.
    mllp_max_connections: int = Field(50, ge=1)
    # Of those, from one peer address (an IPv6 peer's /64): a stranger cannot take them all.
    mllp_max_connections_per_peer: int = Field(5, ge=1)
    # Refusals of messages from unknown or unauthenticated senders: one trace entry per peer and claimed
    # sender in this window, carrying the count of those not traced since.
    mllp_refusal_trace_window_seconds: int = Field(3600, ge=1)
    # Entries each process keeps between requests (docs/adr/0031-request-caches.md): records' facts and grants,
    # and verified callers (one per live access token). 0 keeps none.
    access_cache_size: int = Field(50_000, ge=0)
    caller_cache_size: int = Field(10_000, ge=0)
    # Minutes a stored blob may wait for its metadata before `store check` calls it an orphan.
    orphan_grace_minutes: int = 60
    # The shortest grace `store check` accepts (none: 15 minutes in production, 0 in development).
    orphan_grace_minimum_minutes: int | None = Field(default=None, ge=0)

    # -- the trace's signed checkpoints (docs/operations.md, "The trace and its checkpoints") --
    # The Ed25519 private key that signs checkpoints; only the checkpointer reads it (default var/keys/).
    checkpoint_key_file: Path | None = None
    # Its public key (PEM), which every other process and every holder's extract uses (default: key file + .pub).
    checkpoint_public_key_file: Path | None = None
    # "file:PATH" for a folder (default var/checkpoints), "s3://BUCKET/PREFIX" for a bucket with object lock.
    checkpoint_sink: str = ""
    # Days an S3 checkpoint is locked against deletion (compliance mode).
    checkpoint_retention_days: int = Field(3650, ge=1)

    # -- identity and sessions (docs/identity.md) --
    # Days an activation code stays valid after its letter is printed.
    activation_code_days: int = 90
    # Failed logins (password or second factor) for one identifier from one source (client address, or a
    # browser the account logged in from) before that source waits; each further failure doubles the wait.
    login_max_failures: int = Field(5, ge=1)
    # Failed logins for one identifier from all sources together before every unknown browser waits too.
    login_account_max_failures: int = Field(20, ge=1)
    login_wait_minutes: float = Field(1.0, gt=0)
    login_wait_max_minutes: float = Field(24 * 60.0, gt=0)
    # How long the link e-mailed to an owner whose logins are held back stays valid.
    unlock_link_hours: int = Field(24, ge=1)
    # Any client: secrets entered per window (login, second factor, activation) before HTTP 429. Counted in
    # the database, so the limit holds across processes and restarts.
    rate_limit_attempts: int = 30
    rate_limit_window_minutes: int = 15
    # Reverse proxies whose X-Forwarded-For is believed: addresses or networks, comma-separated. None by
    # default: the client is the peer of the TCP connection.
    trusted_proxies: str = ""
    # Minutes a login (or a step-up) counts as recent for sensitive acts: a new presence code, closing the
    # record, downloading everything, naming or inviting an assistant.
    stepup_minutes: int = Field(10, ge=1)
    session_idle_minutes: int = 15
    session_absolute_hours: int = 8
    # "file:PATH" (created on first use, development only) or "env" for OPENDSP_SESSION_SECRET.
    session_secret_source: str = ""
    session_secret: str | None = None
    # None: secure cookies in production mode or behind an https public address.
    cookie_secure: bool | None = None
    # argon2id cost: "standard" (OWASP); "fast" only for the test suite, refused in production.
    password_hash_profile: Literal["standard", "fast"] = "standard"
    # Where `opendsp letters` and the console write the activation letters to print.
    letters_dir: Path | None = None
    letters_batch_size: int = 500
    # The external OpenID Connect provider (the State's portal); federation is off without an issuer.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid"
    # The ID token claim that carries the national number.
    oidc_national_number_claim: str = "national_number"
    # Accepted authentication levels (``acr``), space-separated, asked for in that order; none: any level.
    oidc_acr_values: str = ""
    # Accepted authentication methods (``amr``), space-separated: one of them must be in the token; none: any.
    oidc_amr_values: str = ""
    # Outgoing e-mail (assistant invitations, notifications); without a host, invitations by e-mail are off
    # and the worker writes notifications as .eml files to ``mail_dir`` (docs/notifications.md).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "OpenDSP <no-reply@localhost>"
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 10.0
    # Days an e-mailed assistant invitation stays valid.
    assistant_invitation_days: int = 14
    # -- notifications by e-mail: the outbox and its worker (docs/notifications.md) --
    # Where the worker writes the e-mails when no SMTP host is configured (default var/mail).
    mail_dir: Path | None = None
    # Attempts before a message is given up (state "failed", listed by `opendsp outbox status`).
    outbox_max_attempts: int = Field(12, ge=1)
    # Wait after the first failed attempt; doubled after each one, up to the ceiling.
    outbox_retry_seconds: float = Field(60.0, gt=0)
    outbox_retry_max_seconds: float = Field(6 * 3600.0, gt=0)
    # How long a worker's claim on a message lasts if the worker hangs (a dead worker's claim ends at once).
    outbox_lease_seconds: float = Field(600.0, gt=0)
    # Seconds an idle worker waits before looking at the outbox again; messages it claims in one go.
    outbox_poll_seconds: float = Field(2.0, gt=0)
    outbox_batch_size: int = Field(20, ge=1)
    # -- the work a deposit leaves for the worker: keyword indexing, notification fan-out (docs/adr/0030) --
    # Seconds an idle worker waits before looking for due jobs (a deposit is searchable within about that).
    jobs_poll_seconds: float = Field(0.5, gt=0, le=1.0)
    # Attempts before a job is given up (state "failed", listed by `opendsp jobs status`).
    jobs_max_attempts: int = Field(10, ge=1)
    # Wait after the first failed attempt; doubled after each one, up to the ceiling.
    jobs_retry_seconds: float = Field(5.0, gt=0)
    jobs_retry_max_seconds: float = Field(3600.0, gt=0)
    # How long a worker's claim on a job lasts if the worker hangs (a dead worker's claim ends at once).
    jobs_lease_seconds: float = Field(300.0, gt=0)
    jobs_batch_size: int = Field(20, ge=1)

    @field_validator("pacs_viewer_url")
    @classmethod
    def _viewer_template(cls, value: str) -> str:
        value = value.strip()
        if value and (not value.startswith(("https://", "http://")) or "{study_uid}" not in value):
            raise ValueError("the PACS viewer URL is an http(s) address with {study_uid} where the study's UID goes")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Luxembourg)") from None
        return value

    def model_post_init(self, _context: object) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'opendsp.db'}"
        if not self.migration_database_url:
            self.migration_database_url = self.database_url
        if self.checkpoint_key_file is None:
            self.checkpoint_key_file = self.var_dir / "keys" / "trace-checkpoint.key"
        if self.checkpoint_public_key_file is None:
            self.checkpoint_public_key_file = self.checkpoint_key_file.with_name(self.checkpoint_key_file.name + ".pub")
        if not self.checkpoint_sink:
            self.checkpoint_sink = f"file:{self.var_dir / 'checkpoints'}"
        if not self.content_store:
            self.content_store = f"file:{self.var_dir / 'content'}"
        if not self.master_key_source:
            self.master_key_source = f"file:{self.var_dir / 'keys' / 'master-keys.json'}"
        if not self.session_secret_source:
            self.session_secret_source = f"file:{self.var_dir / 'keys' / 'session-secret'}"
        if self.letters_dir is None:
            self.letters_dir = self.var_dir / "letters"
        if self.mail_dir is None:
            self.mail_dir = self.var_dir / "mail"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.mode is Mode.production or self.public_base_url.startswith("https://")

    @property
    def mllp_tls(self) -> bool:
        """Whether the MLLP listener is configured for mutual TLS (all three files named)."""
        return None not in (self.mllp_tls_certificate, self.mllp_tls_key, self.mllp_tls_client_ca)

    @property
    def orphan_grace_minimum(self) -> int:
        if self.orphan_grace_minimum_minutes is not None:
            return self.orphan_grace_minimum_minutes
        return 15 if self.mode is Mode.production else 0

    def pkcs11_user_pin(self) -> str:
        """The PKCS#11 user PIN: OPENDSP_PKCS11_PIN, else the first line of OPENDSP_PKCS11_PIN_FILE."""
        from opendsp.content.keys import MasterKeyError

        if self.pkcs11_pin:
            return self.pkcs11_pin
        if self.pkcs11_pin_file is None:
            raise MasterKeyError("OPENDSP_MASTER_KEY_SOURCE=pkcs11 needs OPENDSP_PKCS11_PIN or OPENDSP_PKCS11_PIN_FILE")
        try:
            return self.pkcs11_pin_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as error:
            raise MasterKeyError(f"the PKCS#11 PIN file {self.pkcs11_pin_file} cannot be read: {error}") from None

    @property
    def database_kind(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    def check_production(self) -> None:
        """Refuse to run production on defaults meant for a developer's machine."""
        if self.mode is not Mode.production:
            return
        if self.database_kind == "sqlite":
            raise InsecureSettings(
                "production mode refuses an SQLite database: set OPENDSP_DATABASE_URL to PostgreSQL"
            )
        if self.cookie_secure is False:
            raise InsecureSettings("production mode refuses cookies without the Secure flag (OPENDSP_COOKIE_SECURE)")
        if self.orphan_grace_minimum < 1:
            raise InsecureSettings(
                "production mode refuses OPENDSP_ORPHAN_GRACE_MINIMUM_MINUTES=0: store check would remove "
                "content that deposits are still writing"
            )
        if self.orphan_grace_minutes < self.orphan_grace_minimum:
            raise InsecureSettings(
                f"OPENDSP_ORPHAN_GRACE_MINUTES ({self.orphan_grace_minutes}) is below the minimum of "
                f"{self.orphan_grace_minimum} minutes"
            )
        if self.oidc_issuer and not _public_https(self.oidc_issuer):
            raise InsecureSettings(
                "production mode refuses an OpenID Connect issuer that is not https on a public host (such as the "
                "demo's stand-in for MyGuichet.lu on 127.0.0.1): set OPENDSP_OIDC_ISSUER to the State's portal"
            )
        if self.oidc_issuer and not self.oidc_acr_values.strip():
            raise InsecureSettings(
                "production mode refuses federation that accepts any level: set OPENDSP_OIDC_ACR_VALUES "
                "(a federated login skips the second factor)"
            )
        if self.password_hash_profile != "standard":
            raise InsecureSettings("production mode refuses the fast password hashing meant for tests")
        if self.mllp_port is not None and not self.mllp_tls:
            raise InsecureSettings(
                "production mode refuses the MLLP listener without mutual TLS: set OPENDSP_MLLP_TLS_CERTIFICATE, "
                "OPENDSP_MLLP_TLS_KEY and OPENDSP_MLLP_TLS_CLIENT_CA"
            )
        from opendsp.content.keys import key_provider_from_settings

        # MasterKeyError here stops the start: a keyring or an HSM token that is missing,
        # refuses the PIN or holds no key.
        provider = key_provider_from_settings(self)
        provider.current_key_id  # noqa: B018 - a token holding no key raises here
        if provider.uses_demo_key():
            raise InsecureSettings(
                "production mode refuses the demo master key: configure OPENDSP_MASTER_KEY_SOURCE "
                "with a key of your own"
            )


def _public_https(url: str) -> bool:
    """An https address whose host is not this machine (a name, or an address that is not loopback or private)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith((".localhost", ".local")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: resolved by the operator's DNS
    return not (address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified)
