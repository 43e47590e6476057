"""Passwords: argon2id hashes and the rules a new password must meet.

The rules follow NIST SP 800-63B: a minimum length, no composition rules, any
character (normalised NFKC), and a refusal of passwords found in breach and
common-password dictionaries or built from the person's own details. zxcvbn
carries those dictionaries offline and scores the guessability.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opendsp.locale import N_
from opendsp.settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from offline slow-hash scenario"


@cache
def _hasher(profile: str) -> PasswordHasher:
    if profile == "fast":
        # Tests only (production refuses it): the suite hashes hundreds of secrets on two cores.
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.password_hash_profile)


def hash_secret(settings: Settings, secret: str) -> str:
    return hasher(settings).hash(secret)


@cache
def _decoy(profile: str) -> str:
    return _hasher(profile).hash("a decoy that no one can type: it only costs the time of a real check")


def secret_matches(settings: Settings, stored: str | None, presented: str) -> bool:
    if not stored:
        # The very work of a real check, so that a missing account (or secret) does not answer faster.
        stored = _decoy(settings.password_hash_profile)
        presented = "\0" + presented  # never the decoy's secret
        try:
            hasher(settings).verify(stored, presented)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher(settings).verify(stored, presented)
    except (VerificationError, InvalidHashError):
        return False


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def problems(password: str, *, personal: list[str]) -> list[str]:
    """Why a new password is refused (message ids for the catalogues); empty when it is good."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return [N_("The password needs at least 12 characters.")]
    if len(password) > MAX_LENGTH:
        return [N_("The password has at most 128 characters.")]
    lowered = password.lower()
    if any(part and len(part) >= 4 and part.lower() in lowered for part in personal):
        return [N_("The password must not contain your name, number or e-mail address.")]
    from zxcvbn import zxcvbn

    if zxcvbn(password, user_inputs=[p for p in personal if p])["score"] < MIN_SCORE:
        return [N_("This password is too common or too easy to guess: use a longer phrase of unrelated words.")]
    return []
