"""Add or update messages in one catalogue file of each language.

    python scripts/translate.py holder.po messages.json

where ``messages.json`` maps each English message to its French, German and
Portuguese texts: ``{"Documents": {"fr": "Vie documentaire", "de": "Dokumente",
"pt": "Documentos"}}``.
English is the source language: its catalogue repeats the message (or takes
an ``"en"`` text when one is given). The files are written by Babel, sorted.
``scripts/catalogue_gaps.py pt --json`` prints such a file for the messages a
language still lacks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALE = Path(__file__).resolve().parents[1] / "src" / "opendsp" / "locale"


def update(file_name: str, messages: dict[str, dict[str, str]]) -> None:
    for language in ("fr", "de", "en", "pt"):
        path = LOCALE / language / "LC_MESSAGES" / file_name
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            catalog = Catalog(locale=language, project="OpenDSP", version="0.1")
        for message, texts in messages.items():
            text = texts.get(language) or (message if language == "en" else "")
            if not text:
                raise SystemExit(f"{message!r} has no {language} text")
            catalog.add(message, text)
        catalog.fuzzy = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, sort_output=True, omit_header=False, width=120)


if __name__ == "__main__":
    update(sys.argv[1], json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
