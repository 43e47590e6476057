"""Random single-use codes: activation codes, recovery codes, tokens.

Codes are drawn from the injected randomness (tests control them) and use the
presence code's alphabet: no 0/O or 1/I, because they are typed from paper.
"""

from __future__ import annotations

import base64
import hashlib

from opendsp.access.presence import ALPHABET
from opendsp.clock import Randomness

ACTIVATION_LENGTH = 12  # 60 bits, and a lockout after a few wrong tries
RECOVERY_LENGTH = 10  # 50 bits each


def _draw(randomness: Randomness, length: int) -> str:
    # 256 is a multiple of 32: every character is equally likely.
    return "".join(ALPHABET[b % len(ALPHABET)] for b in randomness.bytes(length))


def _grouped(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def new_activation_code(randomness: Randomness) -> str:
    return _grouped(_draw(randomness, ACTIVATION_LENGTH))


def new_recovery_code(randomness: Randomness) -> str:
    return _grouped(_draw(randomness, RECOVERY_LENGTH))


def normalise(code: str) -> str:
    """What the person typed, without spaces, dashes or case: compared as such."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_token(randomness: Randomness, n: int = 32) -> str:
    return base64.urlsafe_b64encode(randomness.bytes(n)).decode().rstrip("=")


def token_digest(token: str) -> str:
    """Tokens carry 256 bits: a plain SHA-256 is enough to keep them out of the database."""
    return hashlib.sha256(token.encode()).hexdigest()
