"""Admins' field patterns run over customers' text in linear time, and read digits as typed anywhere."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.domain.flows.patterns import PatternError, compile_pattern, field_value, whole_value


def test_a_pattern_that_backtracks_for_hours_answers_at_once() -> None:
    """`(a+)+$` over 40 a's and a 'b' is 2^40 steps for a backtracking engine."""
    result: list[str | None] = []
    typed = "a" * 40 + "b"
    worker = threading.Thread(target=lambda: result.append(field_value("(a+)+$", typed, 300)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the pattern backtracked"
    assert result == [None]
    assert field_value("(a+)+$", "a" * 40, 300) == "a" * 40


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(\d)\1", r"^backreferences \(\\1"),
        (r"(?P<d>\d)(?P=d)", r"^backreferences \(\?P=name\)"),
        (r"(?=\d{6})\d+", r"^lookaheads"),
        (r"(?<!0)\d+", r"^lookbehinds"),
        ("[0-9]++", r"^possessive"),
        ("((a{100}){100}){100}", r"^the pattern is too large"),
        ("(?x) [0-9]+  # verbose", r"^the verbose flag"),
        (r"[^\W\d_]+", r"^\\W, \\S and \\D inside \[...\] are not supported"),
        (r"\u06F", r"^\\u needs 4 hexadecimal digits"),
        (r"\N{NO SUCH CHARACTER}", r"^\\N\{…\} names no character"),
        (r"\N{LATIN CAPITAL LETTER A WITH MACRON AND GRAVE}x", r"^\\N\{…\} names no character"),  # 2 chars
        (r"\bИван\b", r"^word boundaries"),
        (r"[\S]+", r"^\\W, \\S and \\D inside \[...\] are not supported"),
        (r"(?a)\w+", r"^the flags \(\?a\)"),
        ("([0-9", r"^missing \]"),
    ],
)
def test_what_cannot_run_in_linear_time_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    "typed",
    [
        "123456",
        " 123456 ",
        "١٢٣٤٥٦",
        "۱۲۳۴۵۶",
        "१२३४५६",
        "１２３４５６",
        "123\u200b456",
        "\u2066123456\u2069",
    ],
)
def test_digits_typed_on_any_keyboard_are_kept_as_ascii(typed: str) -> None:
    assert field_value("[0-9]{6,12}", typed, 300) == "123456"
    assert field_value(r"\d{6}", typed, 300) == "123456"


def test_a_field_without_pattern_is_kept_as_typed() -> None:
    assert field_value(None, "  ул. Ленина, 5, кв. ١٢  ", 300) == "ул. Ленина, 5, кв. ١٢"


def test_letters_of_any_alphabet_have_their_class() -> None:
    assert field_value(r"\p{L}+ \p{L}+", "Иван Петров", 300) == "Иван Петров"
    assert field_value(r"\p{L}+ \p{L}+", "محمد علي", 300) == "محمد علي"
    assert field_value(r"[\p{L} .'-]{2,100}", "Анна-Мария О'Нил", 300) == "Анна-Мария О'Нил"
    assert field_value(r"[A-Z]{2}-\d{4}", "ab-1234", 300) is None
    assert field_value(r"(?i)[A-Z]{2}-\d{4}", "ab-1234", 300) == "ab-1234"


@given(st.text(alphabet="0123456789abc -", max_size=20))
def test_plain_patterns_agree_with_pythons_engine(typed: str) -> None:
    for pattern in ("[0-9]{6,12}", r"[a-c]+\d*", "(ab|c)+ ?[0-9]?"):
        expected = re.fullmatch(pattern, typed.strip())
        assert (whole_value(pattern, typed, 300) is not None) == (expected is not None), (pattern, typed)


@pytest.mark.parametrize(
    ("pattern", "typed"),
    [
        (r"\w{2,40}", "Иван"),  # \w: a letter of any alphabet, as Python's engine had it
        (r"[\w ]{2,40}", "محمد علي"),
        (r"\W?\w+\W?", "«Олег»"),
        (r"[0-9]{,8}", "1234567"),  # {,n}: 0 to n
        (r"[0-9]{6,12}\Z", "1234567"),
        (r"[\u0600-\u06FF ]{2,40}", "محمد علي"),
        (r"\N{NUMERO SIGN}\d+", "№42"),
        (r"[]a-c]+", "a]b"),  # a ] first in a class is itself
        (r"[x[:]+", "[x:"),  # so is a [ inside one
        (r"\w+\s\w+", "Иван\u3000Петров"),  # \s: any space
        (r"x{,}y", "xxxy"),  # {,}: 0 or more
        (r"(?u)(?#an order number)[0-9]+", "12345"),
        (r"[\b ]+", "\b \b"),  # backspace, inside a class
        (r"[०-९]{6}", "१२३४५६"),  # a pattern that spells out Devanagari digits
        (r"[٠-٩]\d", "٣٤"),  # \d: a digit of any script
        (r"a{,٣}", "a{,٣}"),  # not a count: Python reads it as the text
        (r"(?#a\)b)x", "x"),  # an escaped ) stays inside the comment
    ],
)
def test_patterns_keep_the_meaning_pythons_engine_gave_them(pattern: str, typed: str) -> None:
    """Flows were validated, and stored, under Python's engine: the same pattern accepts the same answer."""
    assert re.fullmatch(pattern, typed)
    assert field_value(pattern, typed, 300) is not None


def test_an_answer_too_long_to_be_one_is_refused() -> None:
    assert field_value(r"[\p{L} ]+", "a" * 301, 300) is None
    assert field_value(None, "a" * 301, 300) is None
    assert field_value(r"[\p{L} ]+", "\ufdfa" * 300, 300) == "\ufdfa" * 300  # kept as typed, not NFKC'd
    assert field_value(r"[\p{L} ]+", "a" * 300, 300) == "a" * 300


_PYTHON_PATTERNS = st.sampled_from(
    [r"\w+", r"[\w -]{2,20}", r"\W*\w+", r"[0-9]{,4}x?", r"\d{2,}-?\w*", r"[^\d]+", r"(?i)[а-яa-z]+\Z"]
)


@given(_PYTHON_PATTERNS, st.text(alphabet="abcXYZабвЖЁمحد0123 -_.,«»", max_size=12))
def test_rewritten_patterns_agree_with_pythons_engine(pattern: str, typed: str) -> None:
    expected = re.fullmatch(pattern, typed.strip())
    assert (whole_value(pattern, typed, 300) is not None) == (expected is not None), (pattern, typed)


@given(_PYTHON_PATTERNS, st.text(alphabet="abcXYZабвЖЁمحد0123 -_.,«»#№", max_size=16))
def test_an_answer_in_a_sentence_is_the_one_word_that_matches(pattern: str, typed: str) -> None:
    kept = field_value(pattern, typed, 300)
    whole = whole_value(pattern, typed, 300)
    if whole is not None:
        assert kept == whole
    elif kept is not None:
        assert re.fullmatch(pattern, kept) is not None
        stripped = (w.strip("\"'«»“”„()[]{}<>.,;:!?¿¡،؟؛…#№*") for w in typed.split())
        words = [w for w in stripped if w]  # "«" alone is no word (field_value skips it too)
        assert kept in words or kept in [w.replace("-", "") for w in words]
        assert len({w for w in words if re.fullmatch(pattern, w)}) <= 1


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("my order number is 12345678", "12345678"),
        ("заказ №1234567 от 12.03.2024", "1234567"),
        ("رقم الطلب ١٢٣٤٥٦٧", "1234567"),
        ("#123-456-789", "123456789"),
        ("(1234567).", "1234567"),
        ("1234567 or 7654321", None),  # which one?
        ("my order", None),
        ("I ordered it on 2024-05-12", None),  # a date is no order number
        ("don't know it, call me 8-916-123-45-67", None),  # nor a dashed phone number
        ("заказывал 12-05-2024, номера нет", None),
    ],
)
def test_an_order_number_is_found_in_a_sentence(typed: str, kept: str | None) -> None:
    assert field_value("[0-9]{6,12}", typed, 300) == kept


def test_a_repeat_count_left_open_is_refused() -> None:
    """Python reads "[0-9]{6,12" as a digit and the text "{6,12": no order number would pass."""
    for typo in ("[0-9]{6,12", "[0-9]{,5", "x{6"):
        with pytest.raises(PatternError, match="not closed"):
            compile_pattern(typo)
    assert compile_pattern(r"\{6") is not None


@pytest.mark.parametrize(
    ("pattern", "typed", "kept"),
    [
        (r"[A-Z]{2}\d{6}", "ＡＢ１２３４５６", "AB123456"),  # fullwidth
        (r"\w+ \w+", "Иван\u00a0Петров", "Иван Петров"),  # a no-break space
        (r"\w+ \w+", "山田\u3000太郎", "山田 太郎"),  # an ideographic space
        (r"\N{NUMERO SIGN}\d+", "№٤٢", "№42"),  # not NFKC: № stays
    ],
)
def test_a_code_is_kept_as_the_code(pattern: str, typed: str, kept: str) -> None:
    assert field_value(pattern, typed, 300) == kept


_ANY_PATTERN = st.sampled_from(
    [r"\w+", r"\w\w[\s]\w", r"\S+\s?\S*", r"x{,}\w{,3}", r"[\w-]+", r"\W*\w+\s*", r"(?i)[а-я\s]+"]
)


@given(_ANY_PATTERN, st.text(alphabet="abXЖё مد0\u00a0\u3000\u2028\x1c-x_", max_size=10))
def test_spaces_and_empty_braces_agree_with_pythons_engine(pattern: str, typed: str) -> None:
    """What Python's engine accepts, the rewritten pattern accepts (as typed or folded)."""
    if re.fullmatch(pattern, typed.strip()) is not None:
        assert field_value(pattern, typed, 300) is not None, (pattern, typed)


@pytest.mark.parametrize(("pattern", "typed"), [(r"\D+", "١٢٣"), (r"aaa\D", "aaa٣"), (r"\D\D", "۱۲")])
def test_a_digit_of_any_script_is_no_non_digit(pattern: str, typed: str) -> None:
    assert re.fullmatch(pattern, typed) is None
    assert field_value(pattern, typed, 300) is None


def test_an_unterminated_comment_is_refused_as_python_refuses_it() -> None:
    with pytest.raises(PatternError, match="unterminated comment"):
        compile_pattern("abc(?#")
