"""Presence codes: generated from the injected randomness, kept only as argon2id hashes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opendsp.clock import Randomness

# No 0/O or 1/I: the code is read aloud and typed from a slip of paper.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 8
# OWASP's minimum for argon2id (19 MiB, 2 passes): the code is also guarded by lockouts.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def new_code(randomness: Randomness) -> str:
    raw = randomness.bytes(LENGTH)
    code = "".join(ALPHABET[b % len(ALPHABET)] for b in raw)  # 256 is a multiple of 32: no bias
    return f"{code[:4]}-{code[4:]}"


def normalise(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == LENGTH else cleaned


def hash_code(code: str) -> str:
    return _hasher.hash(normalise(code))


def code_matches(stored_hash: str | None, presented: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, normalise(presented))
    except (VerificationError, InvalidHashError):
        return False
