"""Luxembourg's national identification number (matricule).

Thirteen digits ``YYYYMMDDNNNCC``: a birth date, a sequence number, then two
check digits computed over the first eleven: a Luhn digit and a Verhoeff digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

_VERHOEFF_MULTIPLY = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_PERMUTE = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INVERSE = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


class InvalidNationalNumber(ValueError):
    """The reason a string is not a valid national number, in words."""


def luhn_digit(digits: str) -> int:
    total = 0
    # The check digit will sit to the right, so the rightmost payload digit is doubled.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def verhoeff_digit(digits: str) -> int:
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = _VERHOEFF_MULTIPLY[check][_VERHOEFF_PERMUTE[(position + 1) % 8][int(char)]]
    return _VERHOEFF_INVERSE[check]


@dataclass(frozen=True)
class NationalNumber:
    value: str

    @property
    def birth_date(self) -> date:
        return date(int(self.value[:4]), int(self.value[4:6]), int(self.value[6:8]))

    def __str__(self) -> str:
        return self.value


def parse_national_number(raw: str) -> NationalNumber:
    """Return the number, or raise InvalidNationalNumber saying what is wrong."""
    value = raw.strip().replace(" ", "")
    if len(value) != 13 or not value.isdigit():
        raise InvalidNationalNumber("a national number has exactly 13 digits")
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise InvalidNationalNumber(f"{value[:8]} is not a real date of birth") from None
    payload = value[:11]
    if int(value[11]) != luhn_digit(payload):
        raise InvalidNationalNumber("the Luhn check digit (12th digit) does not match")
    if int(value[12]) != verhoeff_digit(payload):
        raise InvalidNationalNumber("the Verhoeff check digit (13th digit) does not match")
    return NationalNumber(value)


def make_national_number(birth_date: date, sequence: int) -> NationalNumber:
    """Build a valid number for a birth date and a sequence number 0..999."""
    if not 0 <= sequence <= 999:
        raise ValueError("the sequence number has three digits")
    payload = f"{birth_date:%Y%m%d}{sequence:03d}"
    return NationalNumber(f"{payload}{luhn_digit(payload)}{verhoeff_digit(payload)}")
