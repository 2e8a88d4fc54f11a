"""Colloquial Arabic reaches the classifier in MSA; everything else passes through untouched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.bot.arabic_dialect import colloquial_to_msa


@pytest.mark.parametrize(
    ("colloquial", "msa"),
    [
        ("ازاي اعرف التذكرة كسبت؟", "كيف اعرف التذكرة كسبت؟"),  # Egyptian
        ("أبغى أسحب فلوسي", "أريد أسحب أموالي"),  # Gulf
        ("شو بدي اعمل", "ماذا أريد اعمل"),  # Levantine
        ("فين الأبلكيشن", "أين التطبيق"),
        ("وليش مش واصل", "ولماذا ليس واصل"),  # a leading و ("and") is kept
    ],
)
def test_everyday_dialect_words_become_msa(colloquial: str, msa: str) -> None:
    assert colloquial_to_msa(colloquial) == msa


@pytest.mark.parametrize(
    "text",
    [
        "متى السحب القادم؟",  # already MSA
        "أبي يريد شراء تذكرة",  # «أبي» is "my father" in MSA: left alone
        "Когда следующий тираж?",
        "Where is my prize, why not now?",
        "",
    ],
)
def test_msa_and_other_scripts_pass_unchanged(text: str) -> None:
    assert colloquial_to_msa(text) == text


def test_only_whole_words_are_replaced() -> None:
    # «مشروع» (project) starts like «مش» (not), «فينيق» like «فين» (where)
    assert colloquial_to_msa("مشروع فينيق") == "مشروع فينيق"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_text_without_arabic_letters_is_returned_as_is(text: str) -> None:
    stripped = "".join(ch for ch in text if not "\u0600" <= ch <= "\u06ff")
    assert colloquial_to_msa(stripped) == stripped


@given(st.text(alphabet="ازايفينشوبدي مكسب؟ "))
def test_rewriting_is_idempotent(text: str) -> None:
    once = colloquial_to_msa(text)
    assert colloquial_to_msa(once) == once
