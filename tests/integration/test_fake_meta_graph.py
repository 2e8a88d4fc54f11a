"""The fake Graph API answers the way Meta documents the real one (Send API, uploads, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.meta_graph_api import FakeGraph, UploadedFile, running_fake_graph

TOKEN = "EAAfakefakefake"
PSID = "1254477777772919"


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with running_fake_graph(TOKEN) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def test_send_api_in_json_and_in_the_documented_form_encoding(fake: FakeGraph, http: httpx.Client) -> None:
    url = f"{fake.base_url}/v25.0/me/messages"
    as_json = http.post(
        url,
        json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "hello, world"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    # curl … -d "recipient={'id':'PSID'}" -d "messaging_type=RESPONSE" … -d "access_token=…" (JSON strings)
    as_form = http.post(
        f"{fake.base_url}/v25.0/{fake.page_id}/messages",
        data={
            "recipient": json.dumps({"id": PSID}),
            "messaging_type": "RESPONSE",
            "message": json.dumps({"text": "second"}),
            "access_token": TOKEN,
        },
    )
    assert as_json.status_code == as_form.status_code == 200
    assert as_json.json()["recipient_id"] == PSID
    assert as_json.json()["message_id"] != as_form.json()["message_id"]
    assert [m["text"] for m in fake.sent_messages(PSID)] == ["hello, world", "second"]
    assert "access_token" not in fake.calls("messages")[-1]


def test_tokens_are_checked_like_graph_does(fake: FakeGraph, http: httpx.Client) -> None:
    body = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
    wrong = http.post(
        f"{fake.base_url}/v25.0/me/messages", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == 190
    assert wrong.json()["error"]["type"] == "OAuthException"
    assert "invalid_token" in wrong.headers["www-authenticate"]
    missing = http.post(f"{fake.base_url}/v25.0/me/messages", json=body)
    assert missing.json()["error"]["code"] == 2500
    assert fake.requests == []  # refused calls are not recorded


def test_limits_of_the_send_api(fake: FakeGraph, http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def send(message: dict[str, object], messaging_type: str = "RESPONSE") -> httpx.Response:
        body = {"recipient": {"id": PSID}, "messaging_type": messaging_type, "message": message}
        return http.post(f"{fake.base_url}/v25.0/me/messages", json=body, headers=headers)

    too_long = send({"text": "x" * 2001})
    assert too_long.json()["error"]["code"] == 100
    assert send({"text": "😀" * 1001}).status_code == 400  # 2002 UTF-16 units
    replies = [{"content_type": "text", "title": str(n), "payload": str(n)} for n in range(14)]
    assert send({"text": "pick", "quick_replies": replies}).status_code == 400
    assert send({"text": "pick", "quick_replies": replies[:13]}).status_code == 200
    assert send({"text": "hi"}, messaging_type="WHENEVER").status_code == 400
    assert send({"attachment": {"type": "image", "payload": {"attachment_id": "404"}}}).status_code == 400


def test_attachment_upload_then_send_by_id(fake: FakeGraph, http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    uploaded = http.post(
        f"{fake.base_url}/v25.0/me/message_attachments",
        data={
            "platform": "instagram",
            "message": json.dumps({"attachment": {"type": "image", "payload": {}}}),
        },
        files={"filedata": ("shirt.png", b"\x89PNG\r\n\x1a\n", "image/png")},
        headers=headers,
    )
    attachment_id = uploaded.json()["attachment_id"]
    sent = http.post(
        f"{fake.base_url}/v25.0/me/messages",
        json={
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}},
        },
        headers=headers,
    )
    assert sent.status_code == 200
    (message,) = fake.sent_messages(PSID)
    assert message["attachment"]["file"] == UploadedFile("shirt.png", "image/png", b"\x89PNG\r\n\x1a\n")


def test_profiles_files_and_programmed_failures(fake: FakeGraph, http: httpx.Client) -> None:
    fake.add_profile(PSID, first_name="Peter", last_name="Chang", profile_pic="https://x/p.jpg")
    profile = http.get(
        f"{fake.base_url}/v25.0/{PSID}", params={"fields": "first_name,last_name", "access_token": TOKEN}
    )
    assert profile.json() == {"id": PSID, "first_name": "Peter", "last_name": "Chang"}
    unknown = http.get(f"{fake.base_url}/v25.0/42", params={"access_token": TOKEN})
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["error_subcode"]) == (100, 33)

    url = fake.add_file("a.jpg", b"\xff\xd8\xff", "image/jpeg")
    fake.fail_next("cdn", ("status", 502))
    assert http.get(url).status_code == 502
    assert http.get(url).content == b"\xff\xd8\xff"

    fake.fail_next("messages", ("rate_limit", 4, 3), ("retry_after", 9))
    body = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
    limited = http.post(
        f"{fake.base_url}/v25.0/me/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert limited.json()["error"]["code"] == 4
    usage = json.loads(limited.headers["x-business-use-case-usage"])
    assert usage[fake.page_id][0]["estimated_time_to_regain_access"] == 3
    throttled = http.post(
        f"{fake.base_url}/v25.0/me/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "9")
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.fail_next("sendMessage", ("status", 500))
