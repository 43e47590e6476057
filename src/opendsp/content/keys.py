"""Master keys behind a small key-provider interface.

A master key never encrypts content; it wraps the per-record data keys.
Providers: a keyring file (``opendsp keys init``; created with the well-known
demo key on a developer's machine that holds no sealed record yet), the
environment (``OPENDSP_MASTER_KEYS``), both for development, and a PKCS#11
token (``opendsp.content.pkcs11_keys``) for production, where the master keys
never leave the hardware module: a provider wraps, unwraps and derives index
keys itself, and only the development providers have key bytes to give.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendsp.clock import Randomness, SystemRandomness

if TYPE_CHECKING:
    from opendsp.settings import Settings

# Published on purpose: it makes demo data reproducible and can never pass for a secret.
DEMO_KEY_ID = "demo-1"
DEMO_KEY = bytes.fromhex("0d5b0d5b" * 8)
_NONCE_BYTES = 12


class MasterKeyError(Exception):
    """A master key problem, said in words (unknown key id, bad key file, ...)."""


class KeyProvider(ABC):
    """Master keys by id: the provider wraps and unwraps data keys and derives index keys itself."""

    # Whether ``add_key`` creates a key (``opendsp keys rotate`` then adds one before rewrapping).
    generates_keys: bool = True

    @property
    @abstractmethod
    def current_key_id(self) -> str: ...

    @abstractmethod
    def add_key(self, randomness: Randomness) -> str:
        """Create a new master key, make it current, and return its id."""

    @abstractmethod
    def key_ids(self) -> list[str]: ...

    @abstractmethod
    def remove_key(self, key_id: str) -> None:
        """Forget a master key that nothing uses any more (see ``opendsp.content.keyring.retire``)."""

    @abstractmethod
    def wrap(self, data_key: bytes, context: bytes, randomness: Randomness) -> tuple[str, bytes]:
        """Seal ``data_key`` bound to ``context`` under the current key: (key id, nonce + ciphertext + tag)."""

    @abstractmethod
    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The data key; ``InvalidTag`` when it was altered or wrapped for another context or key."""

    @abstractmethod
    def index_key(self, key_id: str, label: bytes) -> bytes:
        """HMAC-SHA256 of ``label`` under the key's index secret: a derived key, never the master key."""

    def uses_demo_key(self) -> bool:
        return False


class LocalKeyProvider(KeyProvider):
    """A development provider: the key bytes are in this process, AES-GCM runs here."""

    @abstractmethod
    def key(self, key_id: str) -> bytes: ...

    def uses_demo_key(self) -> bool:
        return self.key(self.current_key_id) == DEMO_KEY

    def wrap(self, data_key: bytes, context: bytes, randomness: Randomness) -> tuple[str, bytes]:
        key_id = self.current_key_id
        nonce = randomness.bytes(_NONCE_BYTES)
        return key_id, nonce + AESGCM(self.key(key_id)).encrypt(nonce, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        return AESGCM(self.key(key_id)).decrypt(nonce, sealed, context)

    def index_key(self, key_id: str, label: bytes) -> bytes:
        return hmac.new(self.key(key_id), label, hashlib.sha256).digest()


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise MasterKeyError(f"master key {key_id!r} is not valid base64") from None
    if len(key) != 32:
        raise MasterKeyError(f"master key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
    return key


def _write_keyring(path: Path, current: str, keys: dict[str, bytes]) -> None:
    """Write the keyring whole (a temporary file renamed into place), readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"current": current, "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}}
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class KeyringFileProvider(LocalKeyProvider):
    """A JSON file ``{"current": ID, "keys": {ID: base64}}`` readable only by its owner."""

    def __init__(self, path: Path, *, create_demo: bool, sealed_records: Callable[[], int] = lambda: 0) -> None:
        self.path = path
        if not path.exists():
            if not create_demo:
                raise MasterKeyError(f"no master keyring at {path}; create one with `opendsp keys init`")
            if count := sealed_records():
                # Its keys unwrapped those records' data keys: a new keyring would not open them.
                raise MasterKeyError(
                    f"the master keyring {path} is missing, but {count} record(s) hold data keys wrapped by it: "
                    "put the keyring back from where you keep it (`opendsp keys init --demo` only if they "
                    "were sealed under the published demo key)"
                )
            self._write(DEMO_KEY_ID, {DEMO_KEY_ID: DEMO_KEY})
        self._load()

    @classmethod
    def create(cls, path: Path, *, randomness: Randomness, demo: bool = False) -> KeyringFileProvider:
        """Write a new keyring (``opendsp keys init``); an existing one is never overwritten."""
        if path.exists():
            raise MasterKeyError(f"a master keyring already exists at {path}; it is never overwritten")
        key_id, key = (DEMO_KEY_ID, DEMO_KEY) if demo else (f"k-{randomness.bytes(6).hex()}", randomness.bytes(32))
        _write_keyring(path, key_id, {key_id: key})
        return cls(path, create_demo=False)

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            self._current = data["current"]
            self._keys = {key_id: _decode_key(key_id, value) for key_id, value in data["keys"].items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MasterKeyError(f"the master keyring {self.path} cannot be read: {error}") from None
        if self._current not in self._keys:
            raise MasterKeyError(f"the master keyring {self.path} names a current key it does not hold")

    def _write(self, current: str, keys: dict[str, bytes]) -> None:
        _write_keyring(self.path, current, keys)

    @property
    def current_key_id(self) -> str:
        return self._current

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise MasterKeyError(f"master key {key_id!r} is not in the keyring {self.path}") from None

    def key_ids(self) -> list[str]:
        return list(self._keys)

    def add_key(self, randomness: Randomness) -> str:
        key_id = f"k-{randomness.bytes(6).hex()}"
        self._write(key_id, {**self._keys, key_id: randomness.bytes(32)})
        self._load()
        return key_id

    def remove_key(self, key_id: str) -> None:
        if key_id == self._current:
            raise MasterKeyError(f"master key {key_id!r} is the current one and cannot be retired")
        self.key(key_id)
        self._write(self._current, {k: v for k, v in self._keys.items() if k != key_id})
        self._load()


class EnvironmentKeyProvider(LocalKeyProvider):
    """Keys from ``id:base64,id:base64``; the first one is current."""

    generates_keys = False

    def __init__(self, spec: str | None) -> None:
        if not spec:
            raise MasterKeyError("OPENDSP_MASTER_KEYS is empty; give id:base64key[,id:base64key]")
        self._keys: dict[str, bytes] = {}
        for item in spec.split(","):
            key_id, sep, encoded = item.strip().partition(":")
            if not sep or not key_id:
                raise MasterKeyError("OPENDSP_MASTER_KEYS entries are id:base64key")
            self._keys[key_id] = _decode_key(key_id, encoded)
        self._current = next(iter(self._keys))

    @property
    def current_key_id(self) -> str:
        return self._current

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise MasterKeyError(f"master key {key_id!r} is not in OPENDSP_MASTER_KEYS") from None

    def key_ids(self) -> list[str]:
        return list(self._keys)

    def add_key(self, randomness: Randomness) -> str:
        raise MasterKeyError(
            "keys from the environment are added by the operator: put the new id:key first in "
            "OPENDSP_MASTER_KEYS, then run `opendsp keys rotate` to rewrap the data keys"
        )

    def remove_key(self, key_id: str) -> None:
        self.key(key_id)
        raise MasterKeyError(
            f"master key {key_id!r} is no longer used: remove it from OPENDSP_MASTER_KEYS yourself "
            "(keys from the environment are kept by the operator)"
        )


def keyring_path(settings: Settings) -> Path | None:
    source = settings.master_key_source
    return Path(source.removeprefix("file:")) if source.startswith("file:") else None


def key_provider_from_settings(settings: Settings, *, sealed_records: Callable[[], int] = lambda: 0) -> KeyProvider:
    """The configured provider; ``sealed_records`` counts the data keys a missing keyring would orphan."""
    source = settings.master_key_source
    if source == "env":
        return EnvironmentKeyProvider(settings.master_keys)
    if source == "pkcs11":
        from opendsp.content.pkcs11_keys import Pkcs11KeyProvider

        return Pkcs11KeyProvider.from_settings(settings)
    if (path := keyring_path(settings)) is not None:
        from opendsp.settings import Mode

        return KeyringFileProvider(path, create_demo=settings.mode is Mode.development, sealed_records=sealed_records)
    raise MasterKeyError(f"unknown master key source {source!r}: use file:PATH, env or pkcs11")


__all__ = [
    "DEMO_KEY",
    "EnvironmentKeyProvider",
    "KeyProvider",
    "KeyringFileProvider",
    "LocalKeyProvider",
    "SystemRandomness",
    "key_provider_from_settings",
]
