"""Words to search terms: folding, stemming in four languages, the query's words (no database)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from opendsp.search import text


@pytest.mark.parametrize(("word", "folded"), [
    ("Hémoglobine", "hemoglobine"),
    ("Größe", "grosse"),
    ("Ärztin", "arztin"),
    ("ŒDÈME", "oedeme"),
    ("naïve", "naive"),
    ("Zürich", "zurich"),
])
def test_folding_removes_accents_and_umlauts(word: str, folded: str) -> None:
    assert text.fold(word) == folded


# Pairs a person would expect to meet: plural and singular, accents or not, in each language.
@pytest.mark.parametrize(("typed", "written"), [
    ("hemoglobine", "Hémoglobines"),  # French, no accent typed
    ("analyses", "analyse"),  # French plural
    ("radiographie", "Radiographies"),
    ("Untersuchung", "Untersuchungen"),  # German plural
    ("Blutbild", "BLUTBILDES"),  # German genitive, capitals
    ("Arztbrief", "Arztbriefe"),
    ("Grösse", "Größe"),  # Swiss and German spelling
    ("consultation", "consultations"),  # English (and French) plural
    ("running", "runs"),  # English verb forms
    ("allergy", "allergies"),
    ("análises", "análise"),  # Portuguese plural
    ("vacinação", "vacinas"),  # Portuguese: met only by the Portuguese stemmer
    ("hepáticas", "hepático"),
    ("cardiacos", "Cardíaca"),  # no accent typed
])
def test_forms_of_a_word_meet(typed: str, written: str) -> None:
    (query,) = text.query_words(typed)
    assert query & set(text.terms(written)), (query, text.terms(written))


@pytest.mark.parametrize(("typed", "written"), [
    ("glucose", "cholesterol"),
    ("blut", "blanc"),
    ("poumon", "coeur"),
])
def test_different_words_do_not_meet(typed: str, written: str) -> None:
    (query,) = text.query_words(typed)
    assert not query & set(text.terms(written))


def test_portuguese_stop_words_are_not_terms_but_the_french_bone_is() -> None:
    assert text.words("Análise de sangue para o controlo, com os resultados das vacinas") == [
        "análise", "sangue", "controlo", "os", "resultados", "vacinas"]


def test_stop_words_and_single_letters_are_not_terms() -> None:
    assert text.words("Le bilan de la prise de sang, und der Befund of the d'analyse") == [
        "bilan", "prise", "sang", "befund", "analyse"]
    assert text.query_words("de la") == []


def test_a_query_keeps_each_distinct_word_once_in_order() -> None:
    query = text.query_words("Analyse sang analyses")
    assert len(query) == 2 and query[0] == text.variants("analyse")


def test_field_weights_multiply_occurrences() -> None:
    weights = text.weighted([("Bilan sanguin", 50), ("bilan bilan", 1)])
    (bilan,) = text.variants("bilan")
    assert weights[bilan] == 52


@given(st.text(max_size=60))
def test_terms_are_folded_lower_case_and_never_empty(value: str) -> None:
    for term in text.terms(value):
        assert term and term == text.fold(term)


@given(st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu")), min_size=2, max_size=20))
def test_a_word_typed_without_accents_or_capitals_finds_the_word_as_written(word: str) -> None:
    typed = text.query_words(text.fold(word))
    assume(len(typed) == 1 and text.words(word))  # not a stop word, and still one word once folded
    assert typed[0] & set(text.terms(word))
