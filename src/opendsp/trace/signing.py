"""The checkpoint signing key: Ed25519, in a file the database never sees.

Only the checkpointer reads the private key. Everything else (the server
handing out signed extracts, ``trace verify``, a holder checking an extract
offline) needs only the public key, kept beside it as ``<key file>.pub``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from opendsp.clock import Randomness


class SigningKeyError(RuntimeError):
    """The checkpoint key is missing or unreadable; the message says what to do."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's fingerprint: SHA-256 of its 32 raw bytes, in hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def parse_public_pem(text: str | bytes) -> Ed25519PublicKey:
    data = text.encode("ascii") if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


def create_key(private_file: Path, public_file: Path, randomness: Randomness) -> Ed25519PrivateKey:
    """A new key pair; refuses to replace a key that exists (checkpoints already signed would be orphaned)."""
    if private_file.exists():
        raise SigningKeyError(f"a checkpoint key already exists at {private_file}; it is never replaced")
    key = Ed25519PrivateKey.from_private_bytes(randomness.bytes(32))
    private_file.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_file.write_text(public_pem(key.public_key()), encoding="ascii")
    return key


def load_private_key(private_file: Path) -> Ed25519PrivateKey:
    try:
        data = private_file.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(
            f"no checkpoint key at {private_file}: create one with `opendsp trace new-key` "
            "(or set OPENDSP_CHECKPOINT_KEY_FILE)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"the checkpoint key {private_file} is unreadable: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the checkpoint key {private_file} is not an Ed25519 key")
    return key


def load_public_key(public_file: Path) -> Ed25519PublicKey:
    try:
        return parse_public_pem(public_file.read_bytes())
    except FileNotFoundError:
        raise SigningKeyError(
            f"no checkpoint public key at {public_file} (OPENDSP_CHECKPOINT_PUBLIC_KEY_FILE)"
        ) from None


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
