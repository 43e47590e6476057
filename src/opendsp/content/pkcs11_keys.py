"""Master keys inside a PKCS#11 token (an HSM; SoftHSM2 for tests), through ``python-pkcs11``.

Each master key is two secret objects generated in the token, sensitive and
never extractable, both labelled with the key id (docs/adr/0028):

- ``CKA_ID = opendsp-wrap``: AES-256, used with ``CKM_AES_GCM`` to wrap and
  unwrap data keys, the context as additional authenticated data; the wrapped
  form is the one the development providers write (12-byte nonce, ciphertext, tag);
- ``CKA_ID = opendsp-index``: a 256-bit generic secret, used with
  ``CKM_SHA256_HMAC`` to derive the search and structured index keys.

The current key is the newest: key ids begin with their creation time, so one
object creation makes a key current and there is no second write to lose.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag

from opendsp.clock import Randomness
from opendsp.content.keys import KeyProvider, MasterKeyError

if TYPE_CHECKING:
    from opendsp.settings import Settings

WRAP_ID = b"opendsp-wrap"
INDEX_ID = b"opendsp-index"
KEY_ID_PREFIX = "h-"
_NONCE_BYTES = 12

# One logged-in session per (module, token, PIN) in a process: PKCS#11 logs the whole
# application in, so a second login on the same token is refused by the module. A forked
# process (a web worker) initialises the modules again and opens sessions of its own.
_sessions: dict[tuple[str, str, str], tuple[Any, threading.RLock]] = {}
_sessions_lock = threading.RLock()
_libraries: dict[str, Any] = {}
_pid = os.getpid()


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise MasterKeyError(
            "OPENDSP_MASTER_KEY_SOURCE=pkcs11 needs the python-pkcs11 library: install opendsp[hsm]"
        ) from None
    return pkcs11


def _open(module: str, token_label: str, pin: str) -> tuple[Any, threading.RLock]:
    pkcs11 = _pkcs11()
    with _sessions_lock:
        _after_fork(pkcs11)
        if (cached := _sessions.get((module, token_label, pin))) is not None:
            return cached
        if not Path(module).is_file():
            raise MasterKeyError(f"the PKCS#11 module {module} does not exist (OPENDSP_PKCS11_MODULE)")
        try:
            library = _libraries[module] = pkcs11.lib(module)
        except pkcs11.PKCS11Error as error:
            raise MasterKeyError(f"the PKCS#11 module {module} cannot be loaded: {error!r}") from None
        try:
            token = library.get_token(token_label=token_label)
        except pkcs11.NoSuchToken:
            raise MasterKeyError(
                f"no PKCS#11 token labelled {token_label!r} in {module} (OPENDSP_PKCS11_TOKEN_LABEL)"
            ) from None
        try:
            session = token.open(rw=True, user_pin=pin)
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange):
            raise MasterKeyError(
                f"the PKCS#11 token {token_label!r} refused the PIN (OPENDSP_PKCS11_PIN or OPENDSP_PKCS11_PIN_FILE)"
            ) from None
        except pkcs11.PinLocked:
            raise MasterKeyError(f"the PIN of the PKCS#11 token {token_label!r} is locked") from None
        except pkcs11.UserAlreadyLoggedIn:
            raise MasterKeyError(
                f"the PKCS#11 token {token_label!r} is already logged in by this process with another PIN"
            ) from None
        except pkcs11.PKCS11Error as error:
            raise MasterKeyError(f"the PKCS#11 token {token_label!r} cannot be opened: {error!r}") from None
        _sessions[(module, token_label, pin)] = cached = (session, threading.RLock())
        return cached


def _after_fork(pkcs11: Any) -> None:
    """In a forked process, forget the parent's sessions and initialise each module again (PKCS#11 §6.7.1)."""
    global _pid
    if _pid == os.getpid():
        return
    _pid = os.getpid()
    _sessions.clear()  # never closed here: the handles are the parent's
    for library in _libraries.values():
        try:
            library.finalize()
        except pkcs11.PKCS11Error:
            pass  # a module may refuse to finalise state it did not create in this process
        library.initialize()


class Pkcs11KeyProvider(KeyProvider):
    """Master keys that never leave a PKCS#11 token: it wraps, unwraps and derives in the module."""

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        self.module, self.token_label, self._pin = module, token_label, pin
        _open(module, token_label, pin)  # the errors at start-up, not at the first document
        self._index_keys: dict[tuple[str, bytes], bytes] = {}

    @property
    def _session(self) -> Any:
        return _open(self.module, self.token_label, self._pin)[0]

    @property
    def _lock(self) -> threading.RLock:
        return _open(self.module, self.token_label, self._pin)[1]

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11KeyProvider:
        if not settings.pkcs11_module or not settings.pkcs11_token_label:
            raise MasterKeyError(
                "OPENDSP_MASTER_KEY_SOURCE=pkcs11 needs OPENDSP_PKCS11_MODULE (the module's .so) and "
                "OPENDSP_PKCS11_TOKEN_LABEL"
            )
        return cls(settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_user_pin())

    # -- objects in the token -----------------------------------------------------------------

    def _objects(self, object_id: bytes, label: str | None = None) -> list[Any]:
        pkcs11 = _pkcs11()
        template = {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY, pkcs11.Attribute.ID: object_id}
        if label is not None:
            template[pkcs11.Attribute.LABEL] = label
        return list(self._session.get_objects(template))

    def _object(self, key_id: str, object_id: bytes) -> Any:
        found = self._objects(object_id, key_id)
        if not found:
            raise MasterKeyError(f"master key {key_id!r} is not in the PKCS#11 token {self.token_label!r}")
        if len(found) > 1:
            raise MasterKeyError(f"the PKCS#11 token {self.token_label!r} holds master key {key_id!r} twice")
        return found[0]

    def key_ids(self) -> list[str]:
        pkcs11 = _pkcs11()
        with self._lock:
            labels = {key[pkcs11.Attribute.LABEL] for key in self._objects(WRAP_ID)}
        return sorted(label for label in labels if label.startswith(KEY_ID_PREFIX))

    @property
    def current_key_id(self) -> str:
        ids = self.key_ids()
        if not ids:
            raise MasterKeyError(
                f"the PKCS#11 token {self.token_label!r} holds no OpenDSP master key: create one with "
                "`opendsp keys init`"
            )
        return ids[-1]

    def add_key(self, randomness: Randomness) -> str:
        """Generate a wrapping key and an index secret in the token; the newest key is current."""
        pkcs11 = _pkcs11()
        attribute = pkcs11.Attribute
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        key_id = f"{KEY_ID_PREFIX}{stamp}-{randomness.bytes(3).hex()}"
        kept = {attribute.SENSITIVE: True, attribute.EXTRACTABLE: False, attribute.PRIVATE: True,
                attribute.MODIFIABLE: False, attribute.WRAP: False, attribute.UNWRAP: False,
                attribute.DERIVE: False}
        with self._lock:
            if (held := self.key_ids()) and key_id <= held[-1]:
                raise MasterKeyError(f"the PKCS#11 token {self.token_label!r} holds a key newer than {key_id!r}")
            # The index secret first: the wrapping key is what makes the key exist (and current).
            self._session.generate_key(
                pkcs11.KeyType.GENERIC_SECRET, 256, id=INDEX_ID, label=key_id, store=True,
                mechanism=pkcs11.Mechanism.GENERIC_SECRET_KEY_GEN,
                template={**kept, attribute.SIGN: True, attribute.VERIFY: False,
                          attribute.ENCRYPT: False, attribute.DECRYPT: False},
            )
            self._session.generate_key(
                pkcs11.KeyType.AES, 256, id=WRAP_ID, label=key_id, store=True,
                template={**kept, attribute.ENCRYPT: True, attribute.DECRYPT: True,
                          attribute.SIGN: False, attribute.VERIFY: False},
            )
        return key_id

    def remove_key(self, key_id: str) -> None:
        """Destroy the key's objects (wrapping key first: then it no longer exists, even half-removed)."""
        if key_id == self.current_key_id:
            raise MasterKeyError(f"master key {key_id!r} is the current one and cannot be retired")
        with self._lock:
            self._object(key_id, WRAP_ID).destroy()
            for secret in self._objects(INDEX_ID, key_id):
                secret.destroy()
        self._index_keys = {k: v for k, v in self._index_keys.items() if k[0] != key_id}

    # -- operations inside the token ----------------------------------------------------------

    def wrap(self, data_key: bytes, context: bytes, randomness: Randomness) -> tuple[str, bytes]:
        pkcs11 = _pkcs11()
        key_id = self.current_key_id
        nonce = randomness.bytes(_NONCE_BYTES)
        with self._lock:
            sealed = self._object(key_id, WRAP_ID).encrypt(
                data_key, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=pkcs11.GCMParams(nonce, context)
            )
        return key_id, nonce + bytes(sealed)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        pkcs11 = _pkcs11()
        nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        with self._lock:
            key = self._object(key_id, WRAP_ID)
            try:
                return bytes(key.decrypt(
                    sealed, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=pkcs11.GCMParams(nonce, context)
                ))
            except pkcs11.PKCS11Error:
                # The module does not say why (SoftHSM2: CKR_GENERAL_ERROR): a wrong tag, context or key.
                # The development providers' exception, so that callers handle one.
                raise InvalidTag from None

    def index_key(self, key_id: str, label: bytes) -> bytes:
        pkcs11 = _pkcs11()
        if (cached := self._index_keys.get((key_id, label))) is None:
            with self._lock:
                cached = bytes(self._object(key_id, INDEX_ID).sign(label, mechanism=pkcs11.Mechanism.SHA256_HMAC))
            self._index_keys[(key_id, label)] = cached
        return cached


__all__ = ["Pkcs11KeyProvider"]
