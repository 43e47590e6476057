"""The catalogues of the interface and the letters (French, German, English, Portuguese), compiled in memory.

The ``.po`` files are the source and the only thing kept in git: they are
compiled when first needed (``babel``), so a fresh clone needs no build step
and no ``.mo`` file can go stale. English is the source language. Each part
of the interface keeps its own file (``messages.po`` for accounts and the
console, ``holder.po`` for the holder's portal, ...); a language's files are
merged into one catalogue, and a message must be defined in only one of them.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("fr", "de", "en", "pt")
DEFAULT_LANGUAGE = "fr"
HERE = Path(__file__).parent


def catalogue_paths(language: str) -> list[Path]:
    return sorted((HERE / language / "LC_MESSAGES").glob("*.po"))


def catalogue(language: str) -> Catalog:
    """All of a language's ``.po`` files as one catalogue."""
    merged = Catalog(locale=language)
    for path in catalogue_paths(language):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id:
                    merged[message.id] = message
    return merged


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    if not catalogue_paths(language):
        return gettext.NullTranslations()
    buffer = BytesIO()
    write_mo(buffer, catalogue(language))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; it is translated where it is shown."""
    return message


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    return translations(language).gettext
