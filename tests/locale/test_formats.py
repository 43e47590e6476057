"""The formats of dates, times and numbers per language, in the platform's zone (docs/i18n.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from opendsp.locale import formats
from opendsp.settings import Settings


@pytest.fixture(autouse=True)
def _luxembourg():
    formats.use_zone(formats.DEFAULT_ZONE)
    yield
    formats.use_zone(formats.DEFAULT_ZONE)


# The case: deposited at 06:49 UTC in December is 07:49 in Luxembourg (CET, UTC+1).
DEPOSITED = datetime(2026, 12, 7, 6, 49, tzinfo=UTC)


@pytest.mark.parametrize(("language", "expected"), [
    ("fr", "07/12/2026 07:49"),
    ("de", "7.12.2026 07:49"),
    ("en", "07/12/2026 07:49"),
    ("pt", "07/12/2026 07:49"),
    ("xx", "07/12/2026 07:49"),  # unknown: English
])
def test_datetime_in_luxembourg(language, expected):
    assert formats.format_datetime(DEPOSITED, language) == expected


@pytest.mark.parametrize(("moment", "expected"), [
    # Summer time starts on 29 March 2026 at 01:00 UTC (02:00 CET becomes 03:00 CEST).
    (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29/03/2026 01:59"),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29/03/2026 03:00"),
    # It ends on 25 October 2026 at 01:00 UTC (03:00 CEST becomes 02:00 CET): 02:30 happens twice.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25/10/2026 02:30"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25/10/2026 02:30"),
    (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "25/10/2026 03:00"),
    # A moment late in the UTC evening is already the next day in Luxembourg.
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "01/01/2027 00:30"),
    (datetime(2026, 6, 30, 22, 15, tzinfo=UTC), "01/07/2026 00:15"),
    # A naive moment is UTC, as the databases store it.
    (datetime(2026, 6, 30, 22, 15), "01/07/2026 00:15"),
])
def test_summer_time_boundaries(moment, expected):
    assert formats.format_datetime(moment, "fr") == expected


def test_a_day_shown_as_a_moment_is_its_date():
    assert formats.format_datetime(date(2026, 12, 7), "de") == "7.12.2026"
    assert formats.format_datetime(None, "de") == "" and formats.format_date(None, "fr") == ""


def test_a_moments_day_is_its_day_in_luxembourg():
    assert formats.format_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "de") == "1.1.2027"
    assert formats.local_day(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)


@pytest.mark.parametrize(("language", "expected"), [
    ("fr", "15/08/2025"), ("de", "15.8.2025"), ("en", "15/08/2025"), ("pt", "15/08/2025"),
])
def test_dates(language, expected):
    assert formats.format_date(date(2025, 8, 15), language) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("fr", "déc. 2026"), ("de", "Dez. 2026"), ("en", "Dec 2026"), ("pt", "12/2026"),  # CLDR writes the Portuguese short month in figures
])
def test_months(language, expected):
    assert formats.format_month("2026-12", language) == expected


@pytest.mark.parametrize(("value", "language", "decimals", "expected"), [
    (1.5, "fr", None, "1,5"),
    (1.5, "de", None, "1,5"),
    (1.5, "en", None, "1.5"),
    (1.5, "pt", None, "1,5"),
    (0.75, "fr", None, "0,75"),
    (Decimal("1.50"), "de", None, "1,5"),
    (13.0, "fr", None, "13"),
    (250, "de", None, "250"),
    (1234.5, "en", None, "1,234.5"),
    (1234.5, "de", None, "1.234,5"),
    (2.345, "fr", 1, "2,3"),
    (5, "fr", 2, "5,00"),
    ("7,2", "fr", None, "7,2"),  # not a number: as it came
    (None, "fr", None, ""),
    (float("nan"), "fr", None, "nan"),
])
def test_numbers(value, language, decimals, expected):
    assert formats.format_number(value, language, decimals=decimals) == expected


def test_quantities():
    assert formats.format_quantity(1.45, "mg/dL", "fr") == "1,45 mg/dL"
    assert formats.format_quantity(1.45, "mg/dL", "en") == "1.45 mg/dL"
    assert formats.format_quantity(12, None, "de") == "12"


def test_the_zone_is_a_setting():
    formats.use_zone(Settings(time_zone="Europe/Lisbon").time_zone)
    assert formats.format_datetime(DEPOSITED, "pt") == "07/12/2026 06:49"
    assert formats.format_datetime(datetime(2026, 7, 1, 6, 49, tzinfo=UTC), "pt") == "01/07/2026 07:49"


def test_the_default_zone_is_luxembourg():
    assert Settings().time_zone == "Europe/Luxembourg"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "", "UTC+1"])
def test_an_unknown_zone_stops_start_up(name):
    with pytest.raises(ValueError, match="time zone"):
        Settings(time_zone=name)


@pytest.mark.parametrize(("value", "language", "expected"), [
    (date(2026, 12, 7), "fr", "7 décembre 2026"),
    (date(2026, 12, 7), "de", "7. Dezember 2026"),
    (date(2026, 12, 7), "en", "7 December 2026"),
    (date(2026, 12, 7), "pt", "7 de dezembro de 2026"),
    # An invitation expiring at 23:30 UTC on New Year's Eve expires on New Year's Day in Luxembourg.
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "en", "1 January 2027"),
])
def test_long_dates_for_letters_and_e_mails(value, language, expected):
    assert formats.format_date(value, language, long=True) == expected


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("2025-08-15", "fr", "15/08/2025"),
    ("2025-08-15", "de", "15.8.2025"),
    ("2025-08", "fr", "août 2025"),
    ("2025", "de", "2025"),
    ("2026-03-29T01:30:00Z", "fr", "29/03/2026"),
    ("2026-12-31T23:30:00+00:00", "de", "1.1.2027"),  # a moment: its day in Luxembourg
    ("2019-05-01", "de", "1.5.2019"),  # a day is never shifted
    ("last spring", "fr", "last spring"),
    ("2025-13-45", "fr", "2025-13-45"),
    (None, "fr", ""),
])
def test_dates_as_documents_write_them(text, language, expected):
    assert formats.format_written_date(text, language) == expected
