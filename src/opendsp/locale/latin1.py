"""Text for PDF core fonts (Helvetica, ...), which draw Latin-1 only.

French, German, English and Portuguese fit in Latin-1 once typographic marks are
written plainly; anything still outside it becomes ``?`` rather than failing the
whole document. Used by every PDF the platform writes (letters, the trace, the
vaccination record, the demo's documents).
"""

from __future__ import annotations

_PLAIN = str.maketrans({
    "œ": "oe", "Œ": "OE", "–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "„": '"', "…": "...",
    "€": "EUR", "≤": "<=", "≥": ">=", "\u202f": " ", "\u00a0": " ",
})


def latin_1(text: str) -> str:
    """``text`` as the core fonts can draw it."""
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")
