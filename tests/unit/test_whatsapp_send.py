"""How WhatsApp sends are shaped and how Graph API errors are judged: pure rules, no network."""

from __future__ import annotations

import pytest

from helpline.channels.base import ReplyOption
from helpline.channels.whatsapp.send import classify_error, interactive, media_type
from helpline.domain.delivery import Rejected, RetryLater


def graph_error(code: int, message: str, details: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "Az8",
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 4),  # API Too Many Calls
        (400, 80007),  # WABA rate limit
        (400, 130429),  # Cloud API message throughput
        (400, 131048),  # spam rate limit
        (400, 131056),  # pair rate limit
        (429, 100),  # HTTP 429, whatever the code
        (400, 1),  # API Unknown: invalid request or possible server error
        (503, 2),  # API Service: downtime or overload
        (500, 131000),  # Something went wrong: "try again"
        (500, 131016),  # Service unavailable
        (500, 131057),  # Account in maintenance mode
        (503, 133004),  # Server temporarily unavailable
        (502, 99999),  # an undocumented code with a server error
    ],
)
def test_rate_limits_and_temporary_errors_are_retried(status: int, code: int) -> None:
    outcome = classify_error(status, graph_error(code, "x"), 12.0)
    assert outcome == RetryLater(f"WhatsApp {code}: x", 12.0)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 131026, "(#131026) Message Undeliverable"),
        (400, 131047, "(#131047) Re-engagement message"),
        (400, 100, "(#100) Invalid parameter"),
        (401, 190, "Invalid OAuth access token - Cannot parse access token"),
        (403, 10, "(#10) Application does not have permission for this action"),
        (400, 131051, "(#131051) Unsupported message type"),
        (500, 3, "(#3) Application does not have the capability to make this API call."),
        (500, 131045, "(#131045) Incorrect certificate"),
    ],
)
def test_documented_permanent_errors_are_rejected_with_metas_words(
    status: int, code: int, message: str
) -> None:
    assert classify_error(status, graph_error(code, message)) == Rejected(f"WhatsApp {code}: {message}")


def test_details_complete_the_reason_and_odd_bodies_fall_back_to_the_status() -> None:
    outcome = classify_error(
        400, graph_error(131009, "(#131009) Parameter value is not valid", "to is invalid")
    )
    assert outcome == Rejected("WhatsApp 131009: (#131009) Parameter value is not valid (to is invalid)")
    assert classify_error(502, "<html>Bad Gateway</html>") == RetryLater("WhatsApp answered HTTP 502")
    assert classify_error(404, None) == Rejected("WhatsApp answered HTTP 404")
    assert classify_error(400, {"error": {"message": "no code"}}) == Rejected("WhatsApp 400: no code")
    long = classify_error(400, graph_error(100, "x" * 1000))
    assert len(long.reason) == 300


def opts(*labels: str) -> tuple[ReplyOption, ...]:
    return tuple(ReplyOption(f"p{n}", label) for n, label in enumerate(labels))


def test_up_to_three_short_options_are_reply_buttons() -> None:
    rendered = interactive("Pick", opts("Yes", "No"))
    assert rendered == {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "p0", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "p1", "title": "No"}},
            ]
        },
    }


def test_four_to_ten_options_or_longer_labels_are_a_list() -> None:
    four = interactive("Pick", opts("a", "b", "c", "d"))
    assert four is not None
    assert four["type"] == "list"
    assert [r["title"] for r in four["action"]["sections"][0]["rows"]] == ["a", "b", "c", "d"]
    assert 1 <= len(four["action"]["button"]) <= 20
    longer = interactive("Pick", opts("x" * 21))
    assert longer is not None
    assert longer["type"] == "list"


def test_what_no_native_form_can_show_is_left_to_numbered_text() -> None:
    assert interactive("Pick", opts(*"abcdefghijk")) is None  # 11 rows
    assert interactive("Pick", opts("x" * 25)) is None  # longer than a row title: never cut
    assert interactive("Pick", opts("same", "same")) is None  # titles must be unique
    assert interactive("", opts("Yes")) is None  # the body is required
    button = interactive("Pick", (ReplyOption("p" * 256, "Yes"),))  # a button id may be 256 long...
    assert button is not None
    assert button["type"] == "button"
    assert interactive("Pick", (ReplyOption("p" * 257, "Yes"),)) is None  # ...and no more
    assert interactive("Pick", (ReplyOption("p" * 201, "x" * 21),)) is None  # list row ids stop at 200


def test_files_go_out_as_the_type_whatsapp_accepts_them_as() -> None:
    assert media_type("image/jpeg") == "image"
    assert media_type("image/png") == "image"
    assert media_type("image/gif") == "document"
    assert media_type("audio/ogg; codecs=opus") == "audio"
    assert media_type("video/mp4") == "video"
    assert media_type("application/pdf") == "document"
