"""Shaping replies for the Send API and reading Graph errors, without a network."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.channels.base import ReplyOption
from helpline.channels.meta.graph import failure, retry_after
from helpline.channels.meta.platform import INSTAGRAM, MESSENGER, utf8_bytes, utf16_units
from helpline.channels.meta.render import attachment_type, quick_replies, split_measured, text_messages
from helpline.domain.delivery import Rejected, RetryLater


@given(st.text(alphabet=st.sampled_from("ab \nжع😀"), min_size=1, max_size=6000))
def test_pieces_fit_both_platforms_and_keep_every_word(text: str) -> None:
    for limit, measure in ((MESSENGER.max_text, utf16_units), (INSTAGRAM.max_text, utf8_bytes)):
        pieces = split_measured(text, limit, measure)
        assert all(measure(p) <= limit for p in pieces)
        assert "".join(text.split()) == "".join("".join(pieces).split())


def test_instagram_counts_bytes_and_messenger_utf16_units() -> None:
    cyrillic = "ж" * 900  # 900 characters, 1800 UTF-8 bytes
    assert len(split_measured(cyrillic, MESSENGER.max_text, MESSENGER.measure)) == 1
    assert [utf8_bytes(p) for p in split_measured(cyrillic, INSTAGRAM.max_text, INSTAGRAM.measure)] == [
        1000,
        800,
    ]
    emoji = "😀" * 1500  # 1500 code points, 3000 UTF-16 units
    assert [len(p) for p in split_measured(emoji, MESSENGER.max_text, MESSENGER.measure)] == [1000, 500]


OPTIONS = (ReplyOption("balance", "Баланс"), ReplyOption("operator", "Оператор"))


def test_short_labels_are_quick_reply_titles() -> None:
    assert quick_replies("Выберите:", OPTIONS) == (
        "Выберите:",
        [
            {"content_type": "text", "title": "Баланс", "payload": "balance"},
            {"content_type": "text", "title": "Оператор", "payload": "operator"},
        ],
    )


def test_quick_replies_need_text_above_them() -> None:
    text, buttons = quick_replies("", OPTIONS)
    assert text == "1. Баланс\n2. Оператор"
    assert buttons is not None
    assert [b["title"] for b in buttons] == ["1", "2"]


def test_a_label_over_twenty_characters_turns_titles_into_numbers() -> None:
    options = (*OPTIONS, ReplyOption("card", "Заблокировать карту срочно"))
    text, buttons = quick_replies("Чем помочь?", options)
    assert text.endswith("3. Заблокировать карту срочно")
    assert buttons is not None
    assert [(b["title"], b["payload"]) for b in buttons] == [
        ("1", "balance"),
        ("2", "operator"),
        ("3", "card"),
    ]


def test_numbered_buttons_say_the_digits_the_list_shows() -> None:
    """The list read "9. Main menu" and "0. Operator" while its buttons said "4" and "5": a tap
    on "4" (the main menu) sent text "4", which reached a person."""
    options = (
        ReplyOption("1", "When is the next draw"),
        ReplyOption("2", "Draw results"),
        ReplyOption("9", "Main menu"),
        ReplyOption("0", "Operator"),
    )
    text, buttons = quick_replies("What would you like to know?", options)
    assert text.endswith("1. When is the next draw\n2. Draw results\n9. Main menu\n0. Operator")
    assert buttons is not None
    assert [(b["title"], b["payload"]) for b in buttons] == [("1", "1"), ("2", "2"), ("9", "9"), ("0", "0")]


@pytest.mark.parametrize(
    "options",
    [
        tuple(ReplyOption(f"p{n}", f"{n}") for n in range(14)),
        (ReplyOption("", "Пусто"),),
        (ReplyOption("x" * 1001, "Длинный"),),
    ],
    ids=["fourteen", "empty payload", "long payload"],
)
def test_options_meta_would_refuse_are_only_numbered_text(options: tuple[ReplyOption, ...]) -> None:
    text, buttons = quick_replies("Меню", options)
    assert buttons is None
    assert text.startswith("Меню\n\n1. ")


def test_quick_replies_ride_on_the_last_piece_only() -> None:
    messages = text_messages(INSTAGRAM, "слово " * 400, OPTIONS)
    assert len(messages) > 1
    assert ["quick_replies" in m for m in messages] == [False] * (len(messages) - 1) + [True]


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/png", "image"),
        ("audio/ogg", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "file"),
        ("", "file"),
    ],
)
def test_attachment_types(content_type: str, kind: str) -> None:
    assert attachment_type(content_type) == kind


def graph(
    status: int, error: dict[str, object] | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"error": {"type": "OAuthException", "fbtrace_id": "AbCd", **error}} if error is not None else None
    return httpx.Response(status, json=body, headers=headers) if body else httpx.Response(status, text="oops")


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (400, {"code": 4, "message": "(#4) Application request limit reached"}, RetryLater),
        (400, {"code": 17, "message": "(#17) User request limit reached"}, RetryLater),
        (400, {"code": 32, "message": "(#32) Page request limit reached"}, RetryLater),
        (400, {"code": 613, "message": "(#613) Calls to this api have exceeded the rate limit."}, RetryLater),
        (400, {"code": 80006, "message": "There have been too many messenger api calls"}, RetryLater),
        (500, {"code": 1, "message": "An unknown error occurred"}, RetryLater),
        (
            500,
            {"code": 2, "message": "An unexpected error has occurred. Please retry your request later."},
            RetryLater,
        ),
        (
            400,
            {"code": 1200, "message": "Temporary send message failure. Please try again later"},
            RetryLater,
        ),
        (400, {"code": 9999, "message": "Something new", "is_transient": True}, RetryLater),
        (503, None, RetryLater),
        (429, None, RetryLater),
        (400, {"code": 10, "error_subcode": 2018278, "message": "(#10) outside of allowed window"}, Rejected),
        (
            400,
            {"code": 551, "error_subcode": 1545041, "message": "This person isn't available right now."},
            Rejected,
        ),
        (400, {"code": 190, "message": "Invalid OAuth access token."}, Rejected),
        (400, {"code": 100, "error_subcode": 2018001, "message": "No matching user found"}, Rejected),
        (403, {"code": 200, "message": "(#200) Permissions error"}, Rejected),
        (404, None, Rejected),
    ],
)
def test_graph_errors_are_temporary_or_permanent_by_code(
    status: int, error: dict[str, object] | None, expected: type
) -> None:
    outcome = failure("Messenger", graph(status, error), graph(status, error).json() if error else None)
    assert isinstance(outcome, expected)
    if error is not None:
        assert str(error["message"]) in outcome.reason


def test_reason_names_code_subcode_and_message_only() -> None:
    response = graph(
        400, {"code": 10, "error_subcode": 2018278, "message": "(#10) outside\n of allowed window"}
    )
    outcome = failure("Instagram", response, response.json())
    assert outcome == Rejected("Instagram error 10/2018278: (#10) outside of allowed window")


def usage(minutes: int) -> str:
    return json.dumps(
        {"1234": [{"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": minutes}]}
    )


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"X-Business-Use-Case-Usage": usage(3)}, 180.0),
        ({"X-Business-Use-Case-Usage": usage(0)}, None),
        ({"X-Business-Use-Case-Usage": "not json"}, None),
        ({"Retry-After": "soon", "X-Business-Use-Case-Usage": usage(1)}, 60.0),
        ({}, None),
    ],
)
def test_how_long_to_wait_after_a_rate_limit(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(httpx.Headers(headers)) == seconds
