"""What customers paste rather than type: invisible characters, e-mail addresses, links, brand
names, fullwidth letters, and "words" a thousand characters long."""

from __future__ import annotations

import sys
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.bot.classifier import MAX_CHARS, prepared
from helpline.bot.text import (
    MAX_CACHED_WORD,
    CharNgramTfidf,
    detect_language,
    has_letters,
    normalize_text,
)
from helpline.domain.text import remove_invisible

SOFT_HYPHEN, ZWSP, ZWNJ, ZWJ, LRM, RLM, WORD_JOINER, BOM = (
    "\u00ad",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u2060",
    "\ufeff",
)
INVISIBLE = [SOFT_HYPHEN, ZWSP, ZWNJ, ZWJ, LRM, RLM, WORD_JOINER, BOM, "\u202b", "\u202c", "\u2066", "\u2069"]


def test_every_format_character_is_removed_and_nothing_else() -> None:
    """The pattern is written out (built from unicodedata at import it took 0.15 s): it must be
    Unicode's category Cf as this Python knows it, plus at most characters this Python's
    Unicode has not assigned yet (later versions' format characters)."""
    everything = "".join(chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)
    removed = set(everything) - set(remove_invisible(everything))
    categories = {char: unicodedata.category(char) for char in removed}
    assert {char for char in everything if unicodedata.category(char) == "Cf"} <= removed
    assert set(categories.values()) <= {"Cf", "Cn"}


def test_invisible_characters_inside_words_do_not_split_them() -> None:
    pasted = f"ко{SOFT_HYPHEN}гда сле{ZWSP}ду{ZWJ}ю{ZWNJ}щий ти{WORD_JOINER}раж{RLM}?{BOM}"
    assert normalize_text(pasted) == normalize_text("когда следующий тираж?") == "когда следующий тираж"


WORDS = st.sampled_from(["когда", "следующий", "тираж", "when", "is", "the", "draw", "متى", "السحب", "5000"])


@given(st.lists(WORDS, min_size=1, max_size=6), st.data())
def test_normalisation_ignores_invisible_characters_anywhere(words: list[str], data: st.DataObject) -> None:
    text = " ".join(words)
    spots = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    pasted = text
    for spot in sorted(spots, reverse=True):
        pasted = pasted[:spot] + data.draw(st.sampled_from(INVISIBLE)) + pasted[spot:]
    assert normalize_text(pasted) == normalize_text(text)
    assert prepared(pasted) == prepared(text)  # what the sentence encoder reads


def test_the_encoder_reads_the_text_without_invisible_characters() -> None:
    assert prepared(f"ти{SOFT_HYPHEN}раж") == "тираж"
    assert prepared(f"{ZWSP}متى{RLM} السحب") == prepared("متى السحب")
    assert len(prepared("x" * (MAX_CHARS + 50))) == MAX_CHARS


def test_the_encoder_reads_vowelled_arabic_without_diacritics_or_tatweel() -> None:
    """A knowledge-base question written with diacritics did not meet the same question typed
    without them: only the n-grams folded them."""
    assert prepared("أَيْنَ أَرْكُنُ سَيَّارَتِي؟") == prepared("أين أركن سيارتي؟")
    assert prepared("مـــوقف") == prepared("موقف")
    assert prepared("شكرًا جزيلا على المساعدة") == "شكرًا جزيلا على المساعدة"  # everyday marks: as learnt
    assert prepared("شكرًا") == "شكرًا"
    assert prepared("متى السحب القـــادم") == "متى السحب القادم"  # tatweel is never a letter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("мой email ivan.petrov1985@example.com не подходит", "ru"),
        ("лол alexander.smith.support@gmail.com", "ru"),
        ("Не работает приложение Google Play Market на Samsung Galaxy", "ru"),
        ("ссылка https://lottery.example.com/tickets/check не открывается", "ru"),
        ("зайдите на www.lottery-example.com/tickets/check-status", "ru"),
        ("لم يصلني الكود على alexander.smith@gmail.com", "ar"),
        ("ابغى اشحن رصيد عن طريق Google Play Store", "ar"),
        ("تطبيق Samsung Galaxy Store لا يفتح", "ar"),
        ("Как вывести деньги на PayPal?", "ru"),
        ("ｗｈｅｎ ｉｓ ｔｈｅ ｄｒａｗ", "en"),  # fullwidth
        ("𝐰𝐡𝐞𝐧 𝐢𝐬 𝐭𝐡𝐞 𝐝𝐫𝐚𝐰", "en"),  # mathematical bold
        ("ＫＯＧＤＡ тираж", "ru"),
        ("my ticket number is wrong, please check it for me", "en"),
        ("write to support@example.com", "en"),
        ("№ 123", None),
        ("ivan@example.com", None),
        ("https://example.com/when-is-the-draw", None),
    ],
)
def test_language_is_the_script_of_the_words_not_of_addresses_and_brands(
    text: str, expected: str | None
) -> None:
    assert detect_language(text) == expected


ADDRESSES = st.sampled_from(
    [
        "ivan.petrov1985@example.com",
        "alexander.smith+lottery@gmail.com",
        "https://lottery.example.com/tickets/check?id=1234567",
        "http://example.org/a/b/c/d/e/f/g",
        "www.example-lottery-site.com/account/settings",
    ]
)
SENTENCES = st.sampled_from(
    [
        ("мой адрес не подходит", "ru"),
        ("не приходит письмо", "ru"),
        ("لم يصلني الكود", "ar"),
        ("الرابط لا يعمل", "ar"),
        ("the code did not arrive", "en"),
    ]
)


@given(SENTENCES, st.lists(ADDRESSES, min_size=1, max_size=3), st.integers(0, 3))
def test_addresses_anywhere_in_a_message_leave_its_language_alone(
    sentence: tuple[str, str], addresses: list[str], position: int
) -> None:
    text, language = sentence
    words = text.split()
    for address in addresses:
        words.insert(min(position, len(words)), address)
    assert detect_language(" ".join(words)) == language


@given(st.text(max_size=80))
def test_detect_language_answers_one_of_the_languages_or_the_default(text: str) -> None:
    assert detect_language(text, default="ru") in {"ru", "en", "ar"}


@pytest.mark.parametrize(
    ("text", "letters"),
    [
        ("+7 (999) 123-45-67", False),
        ("#12345", False),
        ("99", False),
        ("٠٥٠ ١٢٣ ٤٥٦٧", False),
        ("12/05/2024 20:00", False),
        ("$100 100₽ 5%", False),
        (f"{ZWSP}{RLM}", False),
        ("ـــــ", False),  # tatweel alone
        ("№ 123", False),  # NFKC would make it "No 123"
        ("5™ ½ ℃", False),
        ("a", True),
        ("5 тиражей", True),
        ("ب", True),
        ("ｗｈｅｎ", True),
    ],
)
def test_has_letters(text: str, letters: bool) -> None:
    assert has_letters(text) is letters


MODEL = CharNgramTfidf.fit(["выигрыш на карту", "как вывести выигрыши", "результаты тиража"])


def test_long_words_are_not_cached_but_still_counted() -> None:
    model = CharNgramTfidf(MODEL.vocabulary, MODEL.idf, MODEL.low, MODEL.high)
    glued = "выигрыш" * 140  # pasted text without spaces: one 980-character "word"
    columns, values = model.row(glued)
    assert glued not in model._word_columns
    assert len(columns) > 0
    again = model.row(glued)
    assert np.array_equal(columns, again[0])
    assert np.allclose(values, again[1])
    model.row("выигрыш")
    assert "выигрыш" in model._word_columns


PIECES = st.tuples(st.text(alphabet="выигрштакнруёьъ", min_size=1, max_size=9), st.integers(1, 12))


@settings(deadline=None, max_examples=30)
@given(st.lists(PIECES, min_size=1, max_size=5))
def test_the_cache_holds_only_words_up_to_the_limit(pieces: list[tuple[str, int]]) -> None:
    """Words of 1 to 108 characters (a piece repeated): rows are the same with the cache or
    without, and only the short words stay in it."""
    model = CharNgramTfidf(MODEL.vocabulary, MODEL.idf, MODEL.low, MODEL.high)
    text = " ".join(piece * times for piece, times in pieces)
    model.row(text)
    assert all(len(word) <= MAX_CACHED_WORD for word in model._word_columns)
    fresh = CharNgramTfidf(MODEL.vocabulary, MODEL.idf, MODEL.low, MODEL.high)
    assert np.array_equal(model.row(text)[0], fresh.row(text)[0])


def test_unique_thousand_character_words_do_not_grow_the_cache() -> None:
    """2000 messages of one unique 1000-character "word" each used to keep ~16 KB apiece
    (~190 MB per model at the cache's size)."""
    model = CharNgramTfidf(MODEL.vocabulary, MODEL.idf, MODEL.low, MODEL.high)
    rng = np.random.default_rng(1)
    alphabet = np.array(list("выигрштакнру"))
    for _ in range(2000):
        model.row("".join(rng.choice(alphabet, size=MAX_CHARS)))
    assert sum(columns.nbytes for columns in model._word_columns.values()) == 0
