"""Dates, times and numbers as the reader writes them, in the platform's time zone (docs/i18n.md).

Every moment the platform stores is in UTC; every moment it shows — pages,
PDFs, CSV files, e-mails, the trace — is shown in one zone, the platform's
(``OPENDSP_TIME_ZONE``, Europe/Luxembourg by default), with the Babel
formats of the reader's language: ``07/12/2026 07:49`` in French,
``7.12.2026 07:49`` in German, ``1,5`` where French and German write a
decimal comma. A language without a Babel locale of its own here falls back
to English. The same functions serve the templates (as filters, see
``opendsp.web.templating``) and the code that writes files and letters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton
from babel.numbers import format_decimal

DEFAULT_ZONE = "Europe/Luxembourg"
# The Babel locale of each interface language: the Luxembourg variant where CLDR has one.
LOCALES = {"fr": "fr_LU", "de": "de_LU", "en": "en_GB", "pt": "pt_LU"}
FALLBACK = "en"

_zone = ZoneInfo(DEFAULT_ZONE)


def use_zone(name: str) -> None:
    """Sets the platform's zone (from the settings, when the platform is built)."""
    global _zone
    _zone = ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone


def _locale(language: str | None) -> str:
    return LOCALES.get((language or FALLBACK)[:2].lower(), LOCALES[FALLBACK])


def local(moment: datetime) -> datetime:
    """A stored moment in the platform's zone (a naive one is taken as UTC, as the databases store it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone)


def local_day(moment: datetime | date) -> date:
    """The calendar day of a moment in the platform's zone (a date is already a day)."""
    return local(moment).date() if isinstance(moment, datetime) else moment


def format_date(value: datetime | date | None, language: str, *, long: bool = False) -> str:
    """A day with its four-digit year: ``07/12/2026`` (fr, en), ``7.12.2026`` (de).

    ``long``: in words, for letters and e-mails: ``7 décembre 2026``, ``7. Dezember 2026``.
    """
    if value is None:
        return ""
    if long:
        return babel_format_date(local_day(value), format="long", locale=_locale(language))
    return format_skeleton("yMd", local_day(value), locale=_locale(language))


def format_time(value: datetime | None, language: str) -> str:
    """Hours and minutes on the 24-hour clock, in the platform's zone."""
    if value is None:
        return ""
    return format_skeleton("Hm", local(value), locale=_locale(language))


def format_datetime(value: datetime | date | None, language: str) -> str:
    """A moment's day and time in the platform's zone: ``07/12/2026 07:49`` (a day alone: its date)."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return format_date(value, language)
    return f"{format_date(value, language)} {format_time(value, language)}"


def format_month(value: datetime | date | str, language: str) -> str:
    """A month, ``déc. 2026`` (also from ``2026-12``, the statistics' month key)."""
    if isinstance(value, str):
        value = date(int(value[:4]), int(value[5:7]), 1)
    return format_skeleton("yMMM", local_day(value), locale=_locale(language))


def format_written_date(text: object, language: str) -> str:
    """A date as documents write it (ISO 8601: a year, a month, a day or a moment) in the reader's format.

    A day stays that day (no zone applies to it); a moment is shown as its day in the platform's zone.
    Text that is no such date is shown as it came.
    """
    if not isinstance(text, str) or not text:
        return "" if text is None else str(text)
    try:
        if len(text) == 4:
            return str(int(text))
        if len(text) == 7:
            return format_month(text, language)
        if len(text) == 10:
            return format_date(date.fromisoformat(text), language)
        return format_date(datetime.fromisoformat(text.replace("Z", "+00:00")), language)
    except ValueError:
        return text


def format_number(value: float | int | Decimal | str | None, language: str, *, decimals: int | None = None) -> str:
    """A number with the language's decimal sign and grouping; ``decimals`` fixes the digits after the sign.

    Without ``decimals`` the digits the value has are kept (``1.50`` stays ``1,5``, ``0.75`` stays ``0,75``).
    A value that is not a number is shown as it came.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    if decimals is None:
        exponent = number.normalize().as_tuple().exponent
        decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(number, format=pattern, locale=_locale(language), decimal_quantization=True)


def format_quantity(value: float | int | Decimal | str | None, unit: str | None, language: str) -> str:
    """A measured value and its unit: ``1,5 mg/dL``."""
    number = format_number(value, language)
    return f"{number} {unit}".strip() if unit and number else number


__all__ = [
    "DEFAULT_ZONE",
    "LOCALES",
    "format_date",
    "format_datetime",
    "format_month",
    "format_number",
    "format_quantity",
    "format_time",
    "format_written_date",
    "local",
    "local_day",
    "use_zone",
    "zone",
]
