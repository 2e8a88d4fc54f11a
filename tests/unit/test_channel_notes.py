"""A stored message's channel notes are shown to agents and kept from the bot."""

from hypothesis import given
from hypothesis import strategies as st

from helpline.domain.inbound import customer_words


def test_notes_are_left_out_and_words_kept() -> None:
    assert customer_words("[unsupported message type: sticker]") == ""
    assert customer_words("👍\n[unsupported message type: sticker]") == "👍"
    assert customer_words("Вот видео\n[video not available: 21 MB is too big]") == "Вот видео"
    assert customer_words("👍\n[reaction]") == "👍"
    assert customer_words(" [reaction removed] ") == ""


def test_a_line_that_only_starts_with_brackets_is_the_customers() -> None:
    assert customer_words("[срочно] когда следующий тираж") == "[срочно] когда следующий тираж"
    assert customer_words("[Ticket 123] still no answer") == "[Ticket 123] still no answer"


def test_brackets_inside_a_sentence_are_the_customers() -> None:
    assert customer_words("my order [12345] is late") == "my order [12345] is late"
    assert customer_words("[]") == "[]"


@given(st.text(alphabet=st.characters(blacklist_characters="[")))
def test_a_text_without_an_opening_bracket_is_unchanged(text: str) -> None:
    assert customer_words(text) == text


_LINE = st.text(alphabet=st.characters(blacklist_characters="\n"))
_NOTE = st.builds("[{}]".format, st.text(alphabet=st.characters(blacklist_characters="[]\n"), min_size=1))


@given(st.lists(st.one_of(_LINE, _NOTE)))
def test_only_whole_lines_are_ever_removed(lines: list[str]) -> None:
    words = customer_words("\n".join(lines))
    kept = words.split("\n") if words else []
    remaining = iter(lines)
    assert all(line in remaining for line in kept)  # the kept lines are a subsequence of the lines
