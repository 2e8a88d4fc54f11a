"""The fake Viber REST bot API answers the way the real one is documented to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.viber_api import MEDIA, SEND_MESSAGE, FakeViber, running_fake_viber

TOKEN = "4453b6ac12345678-e02c5f12174805f9-9b4e7f2b1c3d5a7e"
BODY = {
    "receiver": "01234567890A=",
    "min_api_version": 1,
    "sender": {"name": "Bot"},
    "type": "text",
    "text": "Hi",
}


@pytest.fixture
def fake() -> Iterator[FakeViber]:
    with running_fake_viber(TOKEN) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def send(http: httpx.Client, fake: FakeViber, body: object, token: str | None = TOKEN) -> dict[str, object]:
    headers = {"X-Viber-Auth-Token": token} if token is not None else {}
    response = http.post(f"{fake.base_url}/send_message", json=body, headers=headers)
    assert response.status_code == 200  # Viber answers its own errors with HTTP 200 too
    data = response.json()
    assert isinstance(data, dict)
    return data


def test_send_message_answers_ok_with_increasing_tokens(fake: FakeViber, http: httpx.Client) -> None:
    one, two = send(http, fake, BODY), send(http, fake, {**BODY, "text": "again"})
    assert (one["status"], one["status_message"]) == (0, "ok")
    assert isinstance(one["message_token"], int)
    assert isinstance(two["message_token"], int)
    assert two["message_token"] > one["message_token"]
    assert [m["text"] for m in fake.sent_messages("01234567890A=")] == ["Hi", "again"]


def test_token_and_documented_limits_are_checked(fake: FakeViber, http: httpx.Client) -> None:
    assert send(http, fake, BODY, token=None) == {
        "status": 2,
        "status_message": "missing_auth_token",
        "chat_hostname": "SN-CHAT-05_",
    }
    assert send(http, fake, BODY, token="wrong")["status"] == 2
    assert send(http, fake, {**BODY, "receiver": ""})["status"] == 4
    assert send(http, fake, {k: v for k, v in BODY.items() if k != "sender"})["status"] == 4
    assert send(http, fake, {**BODY, "sender": {"name": "n" * 29}})["status"] == 3
    assert send(http, fake, {**BODY, "text": "x" * 7001})["status"] == 3
    bad_action = {"Buttons": [{"ActionType": "postback", "ActionBody": "x", "Text": "x"}]}
    refused = send(http, fake, {**BODY, "keyboard": bad_action})
    assert refused["status"] == 3
    assert str(refused["status_message"]).startswith("keyboard is not valid.")
    no_body = {"Buttons": [{"ActionType": "reply", "Text": "x"}]}
    assert send(http, fake, {**BODY, "keyboard": no_body})["status"] == 3
    assert fake.sent_messages("01234567890A=") == []


def test_canned_failures_come_once_each_in_order(fake: FakeViber, http: httpx.Client) -> None:
    fake.fail_next(SEND_MESSAGE, ("viber", 12), ("viber", 6), ("status", 503))
    assert send(http, fake, BODY)["status_message"] == "Too many requests"
    assert send(http, fake, BODY)["status_message"] == "notSubscribed"
    assert (
        http.post(
            f"{fake.base_url}/send_message", json=BODY, headers={"X-Viber-Auth-Token": TOKEN}
        ).status_code
        == 503
    )
    assert send(http, fake, BODY)["status"] == 0
    with pytest.raises(ValueError, match="fail_next"):
        fake.fail_next(MEDIA, ("viber", 12))


def test_media_is_served_until_told_to_fail(fake: FakeViber, http: httpx.Client) -> None:
    url = fake.add_media("a.jpg", b"\xff\xd8\xff", "image/jpeg")
    fake.fail_next(MEDIA, ("status", 500))
    assert http.get(url).status_code == 500
    ok = http.get(url)
    assert (ok.status_code, ok.content, ok.headers["content-type"]) == (200, b"\xff\xd8\xff", "image/jpeg")
    assert http.get(f"{fake.root_url}/media/missing").status_code == 404
