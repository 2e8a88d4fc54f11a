"""The fake Telegram Bot API server answers the way the real one is documented to."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.telegram_api import (
    FILE_DOWNLOAD,
    FakeTelegram,
    RecordedRequest,
    UploadedFile,
    running_fake_telegram,
)

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT = 412587349
KEYBOARD = {"inline_keyboard": [[{"text": "Баланс", "callback_data": "menu:balance"}]]}


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with running_fake_telegram(TOKEN) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def test_send_message_returns_the_message_with_increasing_ids(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 1
    first = http.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "Здравствуйте!"})
    second = http.post(
        f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "Чем помочь?", "reply_markup": KEYBOARD}
    )
    assert first.status_code == second.status_code == 200
    one, two = first.json(), second.json()
    assert one["ok"] is True
    assert two["ok"] is True
    assert one["result"]["chat"] == {"id": chat, "type": "private"}
    assert one["result"]["from"]["id"] == 7012345678
    assert one["result"]["from"]["is_bot"] is True
    assert one["result"]["text"] == "Здравствуйте!"
    assert two["result"]["message_id"] > one["result"]["message_id"]
    assert two["result"]["reply_markup"] == KEYBOARD
    assert fake.sent_messages(chat) == [one["result"], two["result"]]
    assert fake.calls("sendMessage")[-1] == {"chat_id": chat, "text": "Чем помочь?", "reply_markup": KEYBOARD}


def test_form_encoded_parameters_are_decoded_like_json(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 2
    response = http.post(
        f"{fake.api_url}/SENDMESSAGE",  # "All methods in the Bot API are case-insensitive."
        data={"chat_id": str(chat), "text": "form", "reply_markup": json.dumps(KEYBOARD)},
    )
    assert response.status_code == 200, response.text
    assert fake.requests[-1] == RecordedRequest(
        "sendMessage", {"chat_id": chat, "text": "form", "reply_markup": KEYBOARD}
    )
    assert [m["text"] for m in fake.sent_messages(chat)] == ["form"]


def test_429_with_retry_after_then_normal_behaviour(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 3
    fake.fail_next("sendMessage", ("retry_after", 3))
    limited = http.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "раз"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert fake.sent_messages(chat) == []
    retried = http.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "раз"})
    assert retried.status_code == 200
    assert retried.json()["ok"] is True
    assert len(fake.sent_messages(chat)) == 1
    assert [p["text"] for p in fake.calls("sendMessage") if p["chat_id"] == chat] == ["раз", "раз"]


def test_programmed_failures_are_consumed_in_order(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 4
    fake.fail_next(
        "sendMessage",
        ("status", 502),
        ("error", 403, "Forbidden: bot was blocked by the user"),
        ("error", 400, "Bad Request: chat not found"),
    )
    answers = [
        http.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "x"}) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [502, 403, 400, 200]
    assert answers[0].json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    assert answers[1].json() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    assert answers[2].json()["description"] == "Bad Request: chat not found"
    assert len(fake.sent_messages(chat)) == 1


def test_delay_provokes_a_client_timeout_but_the_call_still_happens(fake: FakeTelegram) -> None:
    chat = CHAT + 5
    fake.fail_next("sendMessage", ("delay", 0.5))
    with httpx.Client(timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": "late"})
    deadline = time.monotonic() + 5
    while not fake.sent_messages(chat) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m["text"] for m in fake.sent_messages(chat)] == ["late"]


def test_wrong_token_is_unauthorized(fake: FakeTelegram, http: httpx.Client) -> None:
    before = len(fake.requests)
    response = http.post(f"{fake.base_url}/bot123:WRONG/sendMessage", json={"chat_id": CHAT, "text": "x"})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert len(fake.requests) == before


def test_unknown_method_and_bad_parameters_are_bot_api_errors(fake: FakeTelegram, http: httpx.Client) -> None:
    unknown = http.post(f"{fake.api_url}/sendRocket", json={})
    assert unknown.status_code == 404
    assert unknown.json()["description"] == "Not Found: method not found"
    empty = http.post(f"{fake.api_url}/sendMessage", json={"chat_id": CHAT, "text": ""})
    assert (empty.status_code, empty.json()["description"]) == (400, "Bad Request: message text is empty")
    no_chat = http.post(f"{fake.api_url}/sendMessage", json={"text": "x"})
    assert no_chat.json()["description"] == "Bad Request: chat_id is empty"
    long_data = {"inline_keyboard": [[{"text": "x", "callback_data": "x" * 65}]]}
    bad_button = http.post(
        f"{fake.api_url}/sendMessage", json={"chat_id": CHAT, "text": "x", "reply_markup": long_data}
    )
    assert bad_button.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"


def test_get_file_then_download(fake: FakeTelegram, http: httpx.Client) -> None:
    fake.add_file("AwACAgIAAxkBAAIEBWZo", b"OggS\x00voice", "voice/file_7.oga")
    info = http.post(f"{fake.api_url}/getFile", json={"file_id": "AwACAgIAAxkBAAIEBWZo"})
    assert info.status_code == 200
    result = info.json()["result"]
    assert result["file_id"] == "AwACAgIAAxkBAAIEBWZo"
    assert result["file_size"] == len(b"OggS\x00voice")
    assert result["file_path"] == "voice/file_7.oga"
    download = http.get(f"{fake.base_url}/file/bot{TOKEN}/{result['file_path']}")
    assert download.status_code == 200
    assert download.content == b"OggS\x00voice"
    assert fake.requests[-1] == RecordedRequest(FILE_DOWNLOAD, {"file_path": "voice/file_7.oga"})


def test_unknown_files_and_failing_downloads(fake: FakeTelegram, http: httpx.Client) -> None:
    unknown = http.post(f"{fake.api_url}/getFile", json={"file_id": "nope"})
    assert (unknown.status_code, unknown.json()["description"]) == (400, "Bad Request: invalid file_id")
    assert http.get(f"{fake.base_url}/file/bot{TOKEN}/documents/missing.pdf").status_code == 404
    assert http.get(f"{fake.base_url}/file/botWRONG/voice/file_7.oga").status_code == 401
    fake.add_file("BQACAgIAAxkBAAIEA2Zo", b"%PDF-1.7", "documents/file_3.pdf")
    fake.fail_next(FILE_DOWNLOAD, ("status", 500))
    assert http.get(f"{fake.base_url}/file/bot{TOKEN}/documents/file_3.pdf").status_code == 500
    assert http.get(f"{fake.base_url}/file/bot{TOKEN}/documents/file_3.pdf").content == b"%PDF-1.7"


def test_multipart_photo_upload_can_be_fetched_back(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 6
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
    sent = http.post(
        f"{fake.api_url}/sendPhoto",
        data={"chat_id": str(chat), "caption": "Скриншот"},
        files={"photo": ("screen.jpg", jpeg, "image/jpeg")},
    )
    assert sent.status_code == 200, sent.text
    message = sent.json()["result"]
    assert message["caption"] == "Скриншот"
    largest = message["photo"][-1]
    assert largest["file_size"] == len(jpeg)
    recorded = fake.calls("sendPhoto")[-1]
    assert recorded["photo"] == UploadedFile("screen.jpg", "image/jpeg", jpeg)
    path = http.post(f"{fake.api_url}/getFile", json={"file_id": largest["file_id"]}).json()["result"][
        "file_path"
    ]
    assert http.get(f"{fake.base_url}/file/bot{TOKEN}/{path}").content == jpeg
    resent = http.post(f"{fake.api_url}/sendPhoto", json={"chat_id": chat, "photo": largest["file_id"]})
    assert resent.json()["result"]["photo"][-1]["file_id"] == largest["file_id"]
    assert len(fake.sent_messages(chat)) == 2


def test_document_upload_keeps_name_and_type(fake: FakeTelegram, http: httpx.Client) -> None:
    chat = CHAT + 7
    sent = http.post(
        f"{fake.api_url}/sendDocument",
        data={"chat_id": str(chat)},
        files={"document": ("Счёт.pdf", b"%PDF-1.7 invoice", "application/pdf")},
    )
    document = sent.json()["result"]["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "Счёт.pdf",
        "application/pdf",
        len(b"%PDF-1.7 invoice"),
    )
    missing = http.post(f"{fake.api_url}/sendDocument", json={"chat_id": chat})
    assert missing.json()["description"] == "Bad Request: there is no document in the request"


def test_answer_callback_query(fake: FakeTelegram, http: httpx.Client) -> None:
    ok = http.post(
        f"{fake.api_url}/answerCallbackQuery",
        json={"callback_query_id": "1772046789514220615", "text": "Готово"},
    )
    assert ok.json() == {"ok": True, "result": True}
    bad = http.post(f"{fake.api_url}/answerCallbackQuery", json={})
    assert bad.status_code == 400


def test_fail_next_rejects_what_it_does_not_understand(fake: FakeTelegram) -> None:
    for bad in [("status", 200), ("retry_after", -1), ("error", 403), ("delay", "soon"), ("explode",)]:
        with pytest.raises(ValueError, match="fail_next"):
            fake.fail_next("sendMessage", bad)
    with pytest.raises(ValueError, match="at least one"):
        fake.fail_next("sendMessage")
