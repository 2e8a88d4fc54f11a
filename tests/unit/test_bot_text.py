"""Language detection and the character n-gram features of the FAQ bot."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.bot.text import (
    CharNgramTfidf,
    char_ngrams,
    clip_words,
    detect_language,
    normalize_text,
    reply_language,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Когда следующий тираж?", "ru"),
        ("how do I check my ticket", "en"),
        ("كيف أتحقق من تذكرتي؟", "ar"),
        ("мой iPhone не видит приложение", "ru"),
        ("تطبيق lottery لا يعمل", "ar"),
        ("12345 !!!", None),
        ("", None),
        ("🙂", None),
    ],
)
def test_detect_language_by_script(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


def test_detect_language_falls_back_to_the_default_without_letters() -> None:
    assert detect_language("+7 999 123-45-67", default="ru") == "ru"
    assert detect_language("ok", default="ru") == "en"


@given(st.text(max_size=60))
def test_detect_language_answers_one_of_the_languages_or_none(text: str) -> None:
    assert detect_language(text) in {"ru", "en", "ar", None}


def test_normalize_folds_spelling_variation() -> None:
    assert normalize_text("Ещё  ВЫИГРЫШ, 5000 руб.!") == "еще выигрыш 0 руб"
    # diacritics, tatweel, alef/ya/ta-marbuta forms and Arabic-Indic digits
    assert normalize_text("أُريدُ الجائــزة ٥٠٠ إلى") == normalize_text("اريد الجائزه 0 الي")
    assert normalize_text("وين استلم الجايزة") == normalize_text("وين استلم الجائزة")  # hamza's seat
    assert normalize_text("مسؤول") == normalize_text("مسوول")


LETTERS = "абвгдеёжзиклмнопрстуфхцчшщыьэюяABCdefxyzابتثجحخدذرزسشصضطظعغفقكلمنهويىةأإآ0123456789 ,.!?-"


@given(st.text(alphabet=LETTERS, max_size=80))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_char_ngrams_pad_each_word() -> None:
    assert list(char_ngrams("ab", 2, 3)) == [" a", "ab", "b ", " ab", "ab "]


def test_tfidf_rows_are_unit_length_and_share_word_forms() -> None:
    model = CharNgramTfidf.fit(["выигрыш на карту", "как вывести выигрыши", "результаты тиража"])
    columns, values = model.row("выигрышей")
    assert len(columns) > 0
    assert np.isclose(np.linalg.norm(values), 1.0)
    assert model.row("zzz qqq")[0].size == 0
    rows = model.transform(["результат тиражей", "zzz"])
    assert rows.indptr[0] == 0
    assert rows.indptr[-1] == len(rows.data)


WORDS = st.text(alphabet="абвгдеabcdeاسبت ", min_size=0, max_size=40)


@settings(deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), WORDS)
def test_tfidf_row_is_scikit_learns_char_wb_row(corpus: list[str], text: str) -> None:
    """Same columns and values as TfidfVectorizer(analyzer='char_wb', sublinear_tf=True), which the
    per-word cache must not change."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    corpus = [normalize_text(t) or "x" for t in corpus]
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=False)
    matrix = reference.fit_transform(corpus)
    ours = CharNgramTfidf.fit(corpus)
    assert ours.vocabulary == list(reference.get_feature_names_out())
    assert matrix.shape[1] == ours.n_features
    expected = reference.transform([normalize_text(text)]).tocsr()
    order = np.argsort(expected.indices)
    for _ in range(2):  # the second pass reads the cache
        columns, values = ours.row(text)
        assert list(columns) == sorted(expected.indices.tolist())
        assert np.allclose(values, expected.data[order], atol=1e-5)


def test_the_word_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import helpline.bot.text as text_module

    monkeypatch.setattr(text_module, "WORD_CACHE_SIZE", 3)
    model = CharNgramTfidf.fit(["выигрыш на карту", "как вывести выигрыши"])
    first = model.row("выигрыш карту вывести как на")
    assert len(model._word_columns) <= 3
    again = model.row("выигрыш карту вывести как на")
    assert np.array_equal(first[0], again[0])
    assert np.allclose(first[1], again[1])


def test_clip_words_cuts_long_text_at_a_word_boundary() -> None:
    assert clip_words("short", 10) == "short"
    assert clip_words("one two three four", 12) == "one two"
    assert clip_words("x" * 30, 10) == "x" * 10


@pytest.mark.parametrize(
    ("text", "expected", "answer_in"),
    [
        ("ok", "ru", "ru"),
        ("thx", "ar", "ar"),
        ("ABC-12", "ar", "ar"),
        ("kogda tirazh", "ru", "ru"),
        ("I need my winnings", "ru", "en"),  # a sentence: the customer chose English
        ("ok", None, "en"),  # nothing known yet: the message says it
        ("когда тираж", "en", "ru"),
        ("12345", "ar", "ar"),
        ("12345", None, None),
    ],
)
def test_a_few_latin_letters_do_not_change_the_conversations_language(
    text: str, expected: str | None, answer_in: str | None
) -> None:
    assert reply_language(text, detect_language(text), expected) == answer_in


@given(st.text(max_size=60), st.sampled_from([None, "ru", "en", "ar"]))
def test_letters_of_cyrillic_or_arabic_always_decide_and_no_letters_keep_the_language(
    text: str, expected: str | None
) -> None:
    detected = detect_language(text)
    answer = reply_language(text, detected, expected)
    if detected in ("ru", "ar"):
        assert answer == detected
    elif detected is None:
        assert answer == expected
    else:
        assert answer in ("en", expected)
