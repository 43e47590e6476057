"""What a person types to say who they are, turned into the stored identifier."""

from __future__ import annotations

from opendsp.persons.national_number import InvalidNationalNumber, luhn_digit, parse_national_number, verhoeff_digit


def national_number_from_input(raw: str) -> str:
    """The 13-digit national number from 13 digits, or from the older 11-digit form.

    The 11-digit form is the number without its two check digits (birth date
    and sequence number): they are computed, so it maps to exactly one number.
    Spaces, dots and dashes are ignored.
    """
    digits = "".join(ch for ch in raw if ch not in " .-/")
    if len(digits) == 11 and digits.isdigit():
        digits = f"{digits}{luhn_digit(digits)}{verhoeff_digit(digits)}"
    return parse_national_number(digits).value


__all__ = ["InvalidNationalNumber", "national_number_from_input"]
