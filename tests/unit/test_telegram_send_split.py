"""Long agent replies are split to fit Telegram's 4096-character limit without losing text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helpline.channels.telegram.send import MAX_TEXT
from helpline.channels.text import split_text


@given(st.text(alphabet=st.sampled_from("ab \nж"), min_size=1, max_size=20_000))
def test_pieces_fit_and_keep_every_word(text: str) -> None:
    pieces = split_text(text, MAX_TEXT)
    assert all(len(p) <= MAX_TEXT for p in pieces)
    assert "".join(text.split()) == "".join("".join(pieces).split())


def test_short_text_is_one_piece() -> None:
    assert split_text("Добрый день!", MAX_TEXT) == ["Добрый день!"]
