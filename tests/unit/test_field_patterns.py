"""Admins' field patterns run over customers' text in linear time, and read digits as typed anywhere."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.domain.flows.patterns import PatternError, compile_pattern, field_value


def test_a_pattern_that_backtracks_for_hours_answers_at_once() -> None:
    """`(a+)+$` over 40 a's and a '!' is 2^40 steps for a backtracking engine."""
    result: list[str | None] = []
    typed = "a" * 40 + "!"
    worker = threading.Thread(target=lambda: result.append(field_value("(a+)+$", typed)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the pattern backtracked"
    assert result == [None]
    assert field_value("(a+)+$", "a" * 40) == "a" * 40


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(\d)\1", r"^backreferences \(\\1"),
        (r"(?P<d>\d)(?P=d)", r"^backreferences \(\?P=name\)"),
        (r"(?=\d{6})\d+", r"^lookaheads"),
        (r"(?<!0)\d+", r"^lookbehinds"),
        ("[0-9]++", r"^possessive"),
        ("((a{100}){100}){100}", r"^the pattern is too large"),
        ("([0-9", r"^missing \]"),
    ],
)
def test_what_cannot_run_in_linear_time_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    "typed", ["123456", " 123456 ", "١٢٣٤٥٦", "۱۲۳۴۵۶", "１２３４５６", "123\u200b456", "\u2066123456\u2069"]
)
def test_digits_typed_on_any_keyboard_are_kept_as_ascii(typed: str) -> None:
    assert field_value("[0-9]{6,12}", typed) == "123456"
    assert field_value(r"\d{6}", typed) == "123456"


def test_a_field_without_pattern_is_kept_as_typed() -> None:
    assert field_value(None, "  ул. Ленина, 5, кв. ١٢  ") == "ул. Ленина, 5, кв. ١٢"


def test_letters_of_any_alphabet_have_their_class() -> None:
    assert field_value(r"\p{L}+ \p{L}+", "Иван Петров") == "Иван Петров"
    assert field_value(r"\p{L}+ \p{L}+", "محمد علي") == "محمد علي"
    assert field_value(r"[A-Z]{2}-\d{4}", "ab-1234") is None
    assert field_value(r"(?i)[A-Z]{2}-\d{4}", "ab-1234") == "ab-1234"


@given(st.text(alphabet="0123456789abc -", max_size=20))
def test_plain_patterns_agree_with_pythons_engine(typed: str) -> None:
    for pattern in ("[0-9]{6,12}", r"[a-c]+\d*", "(ab|c)+ ?[0-9]?"):
        expected = re.fullmatch(pattern, typed.strip())
        assert (field_value(pattern, typed) is not None) == (expected is not None), (pattern, typed)
