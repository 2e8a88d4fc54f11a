"""What goes into a Viber send_message request, and what each documented answer means."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline.channels.base import OutboundFile, ReplyOption
from helpline.channels.viber.send import (
    MAX_BUTTON_TEXT,
    MAX_BUTTONS,
    MAX_TEXT,
    MAX_TEXT_BYTES,
    keyboard,
    outcome_of,
    sender,
    share_phone_keyboard,
    text_pieces,
    with_file_names,
)
from helpline.domain.delivery import Delivered, Rejected, RetryLater


def test_options_become_reply_buttons_one_per_row() -> None:
    board = keyboard([ReplyOption("menu:balance", "Баланс"), ReplyOption("menu:agent", "Оператор")])
    assert board == {
        "Type": "keyboard",
        "Buttons": [
            {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": "menu:balance", "Text": "Баланс"},
            {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": "menu:agent", "Text": "Оператор"},
        ],
    }


def test_asking_for_the_number_puts_the_share_phone_button_first() -> None:
    board = share_phone_keyboard(
        "Отправить мой номер", [ReplyOption("9", "Главное меню"), ReplyOption("0", "Оператор")]
    )
    assert [b["ActionType"] for b in board["Buttons"]] == ["share-phone", "reply", "reply"]
    assert board["Buttons"][0] == {
        "Columns": 6,
        "Rows": 1,
        "ActionType": "share-phone",
        "ActionBody": "share-phone",
        "Text": "Отправить мой номер",
    }
    assert [b["ActionBody"] for b in board["Buttons"][1:]] == ["9", "0"]
    # Options that cannot all be buttons go as numbered text: only share-phone stays a button.
    crowded = [ReplyOption(str(n), f"option {n}") for n in range(MAX_BUTTONS)]
    assert [b["ActionType"] for b in share_phone_keyboard("Share", crowded)["Buttons"]] == ["share-phone"]


def test_long_labels_are_cut_to_the_documented_250_characters() -> None:
    board = keyboard([ReplyOption("x", "я" * 400)])
    assert board is not None
    text = board["Buttons"][0]["Text"]
    assert len(text) == MAX_BUTTON_TEXT
    assert text.endswith("…")


def test_options_that_cannot_all_be_buttons_give_no_keyboard() -> None:
    assert keyboard([]) is None
    assert keyboard([ReplyOption(str(n), str(n)) for n in range(MAX_BUTTONS + 1)]) is None  # > 12 rows
    assert keyboard([ReplyOption("", "empty payload")]) is None  # ActionBody is required
    assert keyboard([ReplyOption("p" * 9000, "huge payload")]) is None  # would not fit in 30 KB


def test_text_is_split_under_7000_characters_and_the_byte_budget() -> None:
    assert text_pieces("") == [""]
    assert text_pieces("hello") == ["hello"]
    words = ("слово " * 3000).strip()  # 17,999 characters
    pieces = text_pieces(words)
    assert len(pieces) == 3
    assert all(len(p) <= MAX_TEXT for p in pieces)
    emoji = "😀" * 7000  # 7,000 characters but 28,000 bytes
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in text_pieces(emoji))
    assert "".join(text_pieces(emoji)) == emoji


@given(st.text(max_size=20000))
def test_pieces_keep_every_non_blank_character_within_the_limits(text: str) -> None:
    pieces = text_pieces(text)
    assert all(len(p) <= MAX_TEXT and len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def test_files_are_named_in_the_text_because_viber_takes_only_urls() -> None:
    files = [OutboundFile("счёт.pdf", "application/pdf", b"%PDF"), OutboundFile("a.png", "image/png", b"")]
    assert with_file_names("Вот документы", files) == "Вот документы\n\n📎 счёт.pdf\n📎 a.png"
    assert with_file_names("", files[:1]) == "📎 счёт.pdf"
    assert with_file_names("text", []) == "text"


def test_sender_name_is_required_and_cut_to_28_characters() -> None:
    assert sender({}) == {"name": "Support"}
    assert sender({"sender_name": "  "}) == {"name": "Support"}
    assert sender({"sender_name": "Служба поддержки интернет-магазина"}) == {
        "name": "Служба поддержки интернет-ма"
    }
    assert sender({"sender_name": "Shop", "sender_avatar": "https://cdn.example/a.jpg"}) == {
        "name": "Shop",
        "avatar": "https://cdn.example/a.jpg",
    }


def test_success_is_delivered_with_the_token_receipts_will_name() -> None:
    answer = json.loads('{"status":0,"status_message":"ok","message_token":5741311803571721087}')
    assert outcome_of(answer) == Delivered("5741311803571721087")
    assert outcome_of({"status": 0, "status_message": "ok"}) == Delivered(None)


@pytest.mark.parametrize("status", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20])
def test_documented_errors_are_permanent(status: int) -> None:
    outcome = outcome_of({"status": status, "status_message": "someName"})
    assert outcome == Rejected(f"Viber {status}: someName")


def test_the_rate_limit_is_retried() -> None:
    answer = {"status": 12, "status_message": "Too many requests", "message_token": 1234567890}
    assert outcome_of(answer) == RetryLater("Viber 12: Too many requests")


def test_other_statuses_are_viber_general_errors_and_retried() -> None:
    assert outcome_of({"status": 99}) == RetryLater("Viber 99: General error")


def test_missing_status_message_uses_the_documented_description() -> None:
    assert outcome_of({"status": 6}) == Rejected("Viber 6: The receiver is not subscribed to the account")


def test_an_answer_without_status_is_retried() -> None:
    assert isinstance(outcome_of({}), RetryLater)
    assert isinstance(outcome_of({"status": True}), RetryLater)
    assert isinstance(outcome_of({"status": "0"}), RetryLater)
