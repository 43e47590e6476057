"""The catalogues of the interface and the letters (French, German, English), compiled in memory.

The ``.po`` files are the source and the only thing kept in git: they are
compiled when first needed (``babel``), so a fresh clone needs no build step
and no ``.mo`` file can go stale. English is the source language.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("fr", "de", "en")
DEFAULT_LANGUAGE = "fr"
HERE = Path(__file__).parent


def catalogue_path(language: str) -> Path:
    return HERE / language / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    path = catalogue_path(language)
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; it is translated where it is shown."""
    return message


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    return translations(language).gettext
