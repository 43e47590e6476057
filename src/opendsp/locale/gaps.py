"""What a language's catalogues lack against the French ones, file by file.

French is the reference: every message the interface shows has a French
text (the untranslated-string test checks it against the sources). Another
language has a gap where a French message is absent from its catalogues,
empty, or marked fuzzy (a fuzzy entry is not compiled, so the page would
show English). English is the source language: an empty English text is the
message itself, so only an absent English message is a gap. A text whose
placeholders (``%(name)s``, ``{name}``) differ from the message's would fail
or mislead when filled: it is reported too.

``scripts/catalogue_gaps.py`` prints these for the lead after a merge; the
tests assert there are none.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from opendsp.locale import DEFAULT_LANGUAGE, HERE, LANGUAGES

SOURCE_LANGUAGE = "en"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


@dataclass(frozen=True)
class Gap:
    language: str
    file: str  # the French catalogue file that defines the message
    message: str
    problem: str  # "missing", "empty", "fuzzy" or "placeholders"


def _messages(language: str, root: Path) -> dict[str, tuple[str, str, bool]]:
    """Every message of a language's catalogues: its file, its text and whether it is fuzzy."""
    found: dict[str, tuple[str, str, bool]] = {}
    for path in sorted((root / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id and isinstance(message.id, str):
                    found[message.id] = (path.name, message.string or "", message.fuzzy)
    return found


def gaps(language: str, *, root: Path = HERE) -> list[Gap]:
    """The French messages this language lacks, leaves empty or fuzzy, or translates with other placeholders."""
    reference = _messages(DEFAULT_LANGUAGE, root)
    texts = _messages(language, root)
    found: list[Gap] = []
    for message, (file, _, _) in sorted(reference.items(), key=lambda item: (item[1][0], item[0])):
        if message not in texts:
            found.append(Gap(language, file, message, "missing"))
            continue
        _, text, fuzzy = texts[message]
        if fuzzy:
            found.append(Gap(language, file, message, "fuzzy"))
        elif not text:
            if language != SOURCE_LANGUAGE:
                found.append(Gap(language, file, message, "empty"))
        elif Counter(PLACEHOLDER.findall(text)) != Counter(PLACEHOLDER.findall(message)):
            found.append(Gap(language, file, message, "placeholders"))
    return found


def all_gaps(languages: tuple[str, ...] = LANGUAGES, *, root: Path = HERE) -> list[Gap]:
    return [gap for language in languages for gap in gaps(language, root=root)]
