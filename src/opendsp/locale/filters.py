"""The formats and the coded values as Jinja filters, installed once on every environment (docs/i18n.md).

``{{ document.deposited_at | datetime }}``, ``{{ day | date }}``,
``{{ value | number }}``, ``{{ value | quantity(unit) }}``,
``{{ "2026-12" | month }}``, ``{{ "2024-10" | written_date }}`` (a date as a document writes it: a
year, a month, a day or a moment), ``{{ code | term("profession") }}`` (plain
text, for an ``<option>``) and ``{{ code | coded("document-type") }}`` (the
word in a ``<span>`` whose ``title`` keeps the original display),
``{{ concept | concept }}`` for a FHIR concept. Each filter writes in the
language of the page being rendered, which ``language`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from opendsp.locale import formats, terms


def coded_markup(word: str, original: str) -> Markup:
    """A coded value's word, with its original display on hover when the two differ."""
    if original and original != word:
        return Markup('<span class="opendsp-coded" title="{}">{}</span>').format(original, word)
    return Markup(escape(word))


def install(environment: Environment, language: Callable[[], str]) -> None:
    def coded(code: Any, system: str) -> Markup:
        return coded_markup(terms.word(system, code, language()), terms.original(system, code))

    def concept(value: Any) -> Markup:
        return coded_markup(terms.concept_word(value, language()), terms.concept_original(value))

    environment.filters.update(
        date=lambda value: formats.format_date(value, language()),
        datetime=lambda value: formats.format_datetime(value, language()),
        time=lambda value: formats.format_time(value, language()),
        month=lambda value: formats.format_month(value, language()),
        written_date=lambda value: formats.format_written_date(value, language()),
        number=lambda value, decimals=None: formats.format_number(value, language(), decimals=decimals),
        quantity=lambda value, unit=None: formats.format_quantity(value, unit, language()),
        term=lambda code, system: terms.word(system, code, language()),
        coded=coded,
        concept=concept,
    )
    # The names the holder's pages used first, kept so that their templates need no edit.
    environment.filters.update(local_date=environment.filters["date"], local_datetime=environment.filters["datetime"])


__all__ = ["coded_markup", "install"]
