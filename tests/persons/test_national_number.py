from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendsp.persons.national_number import (
    InvalidNationalNumber,
    make_national_number,
    parse_national_number,
)


@pytest.mark.parametrize("number", ["1893120105732", " 1893120105732 ", "1893 1201 05732"])
def test_valid_numbers(number: str) -> None:
    assert parse_national_number(number).value == "1893120105732"
    assert parse_national_number(number).birth_date == date(1893, 12, 1)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "exactly 13 digits"),
        ("189312010573", "exactly 13 digits"),
        ("18931201057321", "exactly 13 digits"),
        ("18931201O5732", "exactly 13 digits"),
        ("1893120105742", "Luhn"),
        ("1893120105731", "Verhoeff"),
        ("1893133105732", "not a real date"),
        ("2023022900132", "not a real date"),  # 2023 is not a leap year
        ("1893001005732", "not a real date"),
    ],
)
def test_invalid_numbers_say_why(number: str, reason: str) -> None:
    with pytest.raises(InvalidNationalNumber, match=reason):
        parse_national_number(number)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), st.integers(0, 999))
def test_every_made_number_parses_back(birth: date, sequence: int) -> None:
    number = make_national_number(birth, sequence)
    assert parse_national_number(number.value).birth_date == birth


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(0, 999),
    st.integers(0, 10),
    st.integers(1, 9),
)
def test_any_single_digit_error_is_caught(birth: date, sequence: int, position: int, delta: int) -> None:
    """Changing one digit of the first eleven never yields another valid number."""
    value = make_national_number(birth, sequence).value
    changed = value[:position] + str((int(value[position]) + delta) % 10) + value[position + 1 :]
    with pytest.raises(InvalidNationalNumber):
        parse_national_number(changed)
