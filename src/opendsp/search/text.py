"""Words to search terms: folded, stemmed in French, German, English and Portuguese.

A word is lower-cased and stemmed by each language's Snowball stemmer, both as
written and with its accents folded; every stem is then folded (accents and
umlauts removed, ß → ss). A document is indexed under all the variants of its
words, and a query word matches a document holding any variant of it: we do
not guess a document's language, and "Hämoglobin", "hemoglobine" and
"hémoglobines" all meet.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache

import snowballstemmer

LANGUAGES = ("french", "german", "english", "portuguese")
MIN_LENGTH = 2
MAX_LENGTH = 40  # longer runs of letters are not words anyone types
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ı": "i"})

# Words too common to say anything about a document, in the four languages ("os", a bone in French, stays).
STOP_WORDS = frozenset("""
a au aux avec ce ces dans de des du elle en et eux il je la le les leur lui ma mais me meme mes moi mon ne nos
notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous d l j m n s t
y est sont ete etre
aber als am an auch auf aus bei bin bis da das dass dem den der des die dir du ein eine einem einen einer eines er
es fur hat ich ihr im in ist ja mit nach nicht noch nur oder sie sind so um und uns von vor war wie wir zu zum zur
an and are as at be but by for from had has have he her his i if in into is it its me my no not of on or our she
so than that the their them then there these they this to too us was we were what when which who will with you
ao aos com da das do dos ela elas ele eles em esta este foi isso isto na nas num numa para pela pelas pelo pelos
por sao se sem ser seu seus sua suas um uma umas uns
""".split())


def fold(word: str) -> str:
    """Lower case without accents or umlauts: "Größe" → "grosse", "Hémoglobine" → "hemoglobine"."""
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(_SPECIAL))
    # Compatibility forms may bring punctuation ("ŀ" → "l·"): only letters and digits are kept.
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).translate(_SPECIAL).lower()


@cache
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(language)


def words(text: str) -> list[str]:
    """The words of a text, lower-cased, in order; stop words and lone letters left out."""
    found = []
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if MIN_LENGTH <= len(word) <= MAX_LENGTH and fold(word) not in STOP_WORDS:
            found.append(word)
    return found


@cache
def variants(word: str) -> frozenset[str]:
    """Every search term a (lower-case) word stands for: its folded stems in the four languages."""
    forms = {word, fold(word)}
    terms = {fold(_stemmer(language).stemWord(form)) for language in LANGUAGES for form in forms}
    return frozenset(t for t in terms if t)


def terms(text: str) -> Counter[str]:
    """How often each term occurs in a text (a word counts once for each of its distinct variants)."""
    counted: Counter[str] = Counter()
    for word in words(text):
        counted.update(variants(word))
    return counted


def query_words(text: str) -> list[frozenset[str]]:
    """A query: one set of variants per distinct word, in the order typed (a document must match each)."""
    seen: list[frozenset[str]] = []
    for word in words(text):
        found = variants(word)
        if found and found not in seen:
            seen.append(found)
    return seen


def weighted(fields: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Terms of several fields, each occurrence counted with its field's weight."""
    total: Counter[str] = Counter()
    for text, weight in fields:
        for term, count in terms(text).items():
            total[term] += count * weight
    return dict(total)
