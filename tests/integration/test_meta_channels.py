"""Messenger and Instagram end to end against a local fake Graph API, through the real routes.

Webhooks go to `/webhooks/messenger/{id}` and `/webhooks/instagram/{id}` signed like Meta signs
them; replies leave through the outbox worker to the fake Send API. Runs on SQLite and
PostgreSQL; the clock is moved by hand so backoff and Retry-After are checked exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpline.bootstrap import Container
from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.meta import INSTAGRAM_SPEC, MESSENGER_SPEC
from helpline.domain.delivery import Delivered, Rejected, RetryPolicy
from helpline.domain.users import Role
from helpline.storage.models import Attachment, Contact, ContactIdentity, Message
from tests.fakes.meta_graph_api import FakeGraph, UploadedFile, running_fake_graph
from tests.integration.channel_kit import agent_reply, count, message_state, until
from tests.integration.conftest import Clock, MakeStaff, Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
TOKEN = "EAAGm0PX4ZCpsBAKZAvSBFUvDZBx3a9ZCZAZB3ZC1WZCbZAYtHk8xz5ZAV2ZBZCnZB"
APP_SECRET = "5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99"
VERIFY_TOKEN = "helpline-verify-me"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 3000
PDF = b"%PDF-1.4\n" + b"0" * 500


@dataclasses.dataclass(frozen=True)
class Platform:
    channel: str
    page_id: str
    customer: str
    prefix: str  # fixture names
    name: str  # as in reasons


MESSENGER = Platform("messenger", "682498302938465", "1254477777772919", "messenger", "Messenger")
INSTAGRAM = Platform("instagram", "17841405822304914", "6211934818837021", "instagram", "Instagram")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def event(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["entry"][0]["messaging"][0]  # type: ignore[no-any-return]


@pytest.fixture(params=[MESSENGER, INSTAGRAM], ids=["messenger", "instagram"])
def platform(request: pytest.FixtureRequest) -> Platform:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def fake(platform: Platform) -> Iterator[FakeGraph]:
    with running_fake_graph(TOKEN, page_id=platform.page_id, instagram=platform is INSTAGRAM) as server:
        yield server


def config(fake: FakeGraph, platform: Platform, **changes: str) -> dict[str, str]:
    return {
        "page_access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "page_id": platform.page_id,
        "api_base": fake.base_url,
        "api_version": "v25.0",
        **changes,
    }


async def setup_account(
    api: httpx.AsyncClient, admin: Staff, fake: FakeGraph, platform: Platform, **changes: str
) -> int:
    created = await api.post(
        "/api/v1/channel-accounts",
        json={
            "channel": platform.channel,
            "name": f"{platform.name} page",
            "config": config(fake, platform, **changes),
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    for secret in (TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in created.text
    assert body["webhook_path"] == f"/webhooks/{platform.channel}/{body['id']}"
    return int(body["id"])


def hook(platform: Platform, account_id: int) -> str:
    return f"/webhooks/{platform.channel}/{account_id}"


def signed(payload: object, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def post_signed(api: httpx.AsyncClient, url: str, payload: object) -> httpx.Response:
    body, headers = signed(payload)
    return await api.post(url, content=body, headers=headers)


# --- the verification handshake -----------------------------------------------------------------------


async def test_verification_handshake_echoes_the_challenge_only_for_the_verify_token(
    api: httpx.AsyncClient, make_staff: MakeStaff, fake: FakeGraph, platform: Platform
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake, platform)
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = await api.get(hook(platform, account), params=good)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")
    for bad in (
        {**good, "hub.verify_token": "guess"},
        {**good, "hub.mode": "unsubscribe"},
        {k: v for k, v in good.items() if k != "hub.verify_token"},
        {k: v for k, v in good.items() if k != "hub.challenge"},
        {**good, "hub.challenge": "<script>alert(1)</script>"},
    ):
        refused = await api.get(hook(platform, account), params=bad)
        assert refused.status_code == 403, bad
        assert "1158201444" not in refused.text
    assert (await api.get(hook(platform, account + 999), params=good)).status_code == 403


# --- inbound ------------------------------------------------------------------------------------------


async def test_signatures_are_checked_and_retries_store_once(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeGraph,
    platform: Platform,
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake, platform)
    url = hook(platform, account)
    payload = fixture(f"{platform.prefix}_text")
    body, headers = signed(payload)

    assert (
        await api.post(url, content=body, headers={"Content-Type": "application/json"})
    ).status_code == 401
    wrong_key = signed(payload, "not-the-app-secret")[1]
    assert (await api.post(url, content=body, headers=wrong_key)).status_code == 401
    tampered = body.replace(b"hello", b"HELLO").replace(b"blue", b"BLUE")
    assert tampered != body
    assert (await api.post(url, content=tampered, headers=headers)).status_code == 401
    sha1 = {**headers, "X-Hub-Signature-256": headers["X-Hub-Signature-256"].replace("sha256=", "sha1=")}
    assert (await api.post(url, content=body, headers=sha1)).status_code == 401
    assert (await api.post(hook(platform, account + 999), content=body, headers=headers)).status_code == 401
    assert (
        await post_signed(api, url, {"object": payload["object"], "entry": [{"time": 1}]})
    ).status_code == 400
    assert (await post_signed(api, url, ["not", "an", "object"])).status_code == 400
    assert await count(channel_container, Message) == 0
    assert fake.calls("profile") == []  # nothing was even looked at

    profile = (
        {"first_name": "Мария", "last_name": "Иванова"}
        if platform is MESSENGER
        else {"name": "Мария Иванова"}
    )
    fake.add_profile(platform.customer, **profile)
    for _ in range(2):  # Meta redelivers what it thinks failed: the same mid, stored once
        ok = await api.post(url, content=body, headers=headers)
        assert (ok.status_code, ok.text) == (200, "EVENT_RECEIVED")
    assert await count(channel_container, Message) == 1
    async with channel_container.uow() as uow:
        message = await uow.session.scalar(select(Message))
        identity = await uow.session.scalar(
            select(ContactIdentity).where(ContactIdentity.kind == platform.channel)
        )
        contact = await uow.session.scalar(select(Contact))
    assert message is not None
    assert identity is not None
    assert contact is not None
    assert message.text == event(payload)["message"]["text"]
    assert message.provider_message_id == event(payload)["message"]["mid"]
    assert identity.value == platform.customer
    assert contact.name == "Мария Иванова"
    assert len(fake.calls("profile")) == 1  # asked once, for the new customer only

    # Our own sends echoed back, and entries of another Page sharing the app, store nothing.
    assert (await post_signed(api, url, fixture(f"{platform.prefix}_echo"))).status_code == 200
    other_page = fixture(f"{platform.prefix}_text")
    other_page["entry"][0]["id"] = "100200300400500"
    event(other_page)["message"]["mid"] = "m_from_another_page"
    assert (await post_signed(api, url, other_page)).status_code == 200
    # A notification of another webhook object is acknowledged and ignored.
    feed = {"object": "user", "entry": [{"id": "1", "time": 1, "changes": [{"field": "feed", "value": {}}]}]}
    assert (await post_signed(api, url, feed)).status_code == 200
    assert await count(channel_container, Message) == 1

    # A button press is a message saying the button's title; its redelivery is stored once too.
    postback = fixture(f"{platform.prefix}_postback")
    for _ in range(2):
        assert (await post_signed(api, url, postback)).status_code == 200
    async with channel_container.uow() as uow:
        texts = list(await uow.session.scalars(select(Message.text).order_by(Message.id)))
    assert texts == [event(payload)["message"]["text"], event(postback)["postback"]["title"]]


async def test_media_are_downloaded_and_stored_or_asked_for_again(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeGraph,
    platform: Platform,
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake, platform)
    url = hook(platform, account)
    payload = fixture("messenger_attachments" if platform is MESSENGER else "instagram_image")
    attachment = event(payload)["message"]["attachments"][0]

    # An expired or unknown file URL (403 from the CDN) stays so on a redelivery: the message is
    # stored at once, with a note where the file would be, and Meta gets its 200.
    gone = copy.deepcopy(payload)
    gone_event = event(gone)
    gone_event["message"]["mid"] = gone_event["message"]["mid"] + "-gone"
    gone_event["message"]["attachments"][0]["payload"]["url"] = f"{fake.base_url}/cdn/not-there.jpg?oh=1&oe=2"
    assert (await post_signed(api, url, gone)).status_code == 200
    async with channel_container.uow() as uow:
        noted = await uow.session.scalar(select(Message))
    assert noted is not None
    assert "not available: the download answered 403" in noted.text
    # The CDN failing for a moment (5xx): 503, nothing stored, Meta delivers the notification again.
    fake.fail_next("cdn", ("status", 500))
    attachment["payload"]["url"] = fake.add_file("photo_n.jpg", JPEG, "image/jpeg")
    assert (await post_signed(api, url, payload)).status_code == 503
    assert await count(channel_container, Message) == 1

    for _ in range(2):
        ok = await post_signed(api, url, payload)
        assert ok.status_code == 200, ok.text
    assert await count(channel_container, Message) == 2
    async with channel_container.uow() as uow:
        stored = await uow.session.scalar(select(Attachment))
    assert stored is not None
    assert stored.content_type == "image/jpeg"
    assert await channel_container.files.get(stored.storage_key) == JPEG
    assert [r.params["name"] for r in fake.requests if r.endpoint == "cdn"] == [
        "not-there.jpg",
        "photo_n.jpg",
        "photo_n.jpg",  # not again for the redelivery: the message is known, its URL may have expired
    ]


# --- outbound -----------------------------------------------------------------------------------------


async def provider_id(c: Container, message_id: int) -> str:
    async with c.uow() as uow:
        message = await uow.session.get(Message, message_id)
    assert message is not None
    assert message.provider_message_id is not None
    return message.provider_message_id


async def test_replies_are_delivered_retried_and_failed_as_the_graph_api_answers(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeGraph,
    platform: Platform,
    clock: Clock,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake, platform)
    assert (
        await post_signed(api, hook(platform, account), fixture(f"{platform.prefix}_text"))
    ).status_code == 200
    worker = channel_container.delivery_worker(policy=RetryPolicy(max_attempts=4), jitter=lambda: 0.5)

    first = await agent_reply(api, agent, "Здравствуйте! Чем помочь?")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, first)
    assert (status, error, item.status) == ("sent", None, "done")
    sent = fake.sent_messages(platform.customer)
    assert [m["text"] for m in sent] == ["Здравствуйте! Чем помочь?"]
    assert await provider_id(channel_container, first) == sent[0]["mid"]
    request = fake.calls("messages")[-1]
    assert request["messaging_type"] == "RESPONSE"
    assert request["recipient"] == {"id": platform.customer}
    assert request["_node"] == "me"

    # An overloaded edge (HTTP 500, no Graph body): retried after the backoff (jitter 0.5 of 2 s).
    fake.fail_next("messages", ("status", 500))
    second = await agent_reply(api, agent, "second")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, second)
    assert status == "queued"
    assert error == f"retrying: {platform.name} HTTP 500: Internal Server Error"
    assert item.due_at == clock.now + timedelta(seconds=1)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, second))[0] == "sent"

    # HTTP 429 with Retry-After: the wait is honoured exactly.
    fake.fail_next("messages", ("retry_after", 7))
    third = await agent_reply(api, agent, "third")
    await worker.run_once()
    _, error, item = await message_state(channel_container, third)
    assert item.due_at == clock.now + timedelta(seconds=7)
    assert error is not None
    assert "429" in error
    clock.now += timedelta(seconds=7)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, third))[0] == "sent"

    # Graph's own rate limit (code 613, HTTP 400): the usage header's minutes are the wait.
    fake.fail_next("messages", ("rate_limit", 613, 2))
    fourth = await agent_reply(api, agent, "fourth")
    await worker.run_once()
    _, error, item = await message_state(channel_container, fourth)
    assert item.due_at == clock.now + timedelta(minutes=2)
    assert (
        error
        == f"retrying: {platform.name} error 613: (#613) Calls to this api have exceeded the rate limit."
    )
    clock.now += timedelta(minutes=2)
    assert await worker.run_once() == 1

    # A timeout is temporary (the fake still accepts the late call, as a real lost answer would).
    fake.fail_next("messages", ("delay", 2.5))
    fifth = await agent_reply(api, agent, "fifth")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, fifth)
    assert status == "queued"
    assert error is not None
    assert "in time" in error
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    assert (await message_state(channel_container, fifth))[0] == "sent"

    # Outside the 24-hour window: permanent, failed at once with Meta's reason.
    window = "(#10) This message is sent outside of allowed window."
    fake.fail_next("messages", ("error", 10, 2018278, window))
    sixth = await agent_reply(api, agent, "sixth")
    await worker.run_once()
    status, error, item = await message_state(channel_container, sixth)
    assert (status, item.status, item.attempts) == ("failed", "failed", 1)
    assert error == f"{platform.name} error 10/2018278: {window}"

    # The person cannot be reached (551): permanent as well.
    fake.fail_next("messages", ("error", 551, 1545041, "This person isn't available right now."))
    seventh = await agent_reply(api, agent, "seventh")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, seventh)
    assert (status, error) == (
        "failed",
        f"{platform.name} error 551/1545041: This person isn't available right now.",
    )

    # A temporary Graph error (code 2) that never ends: failed after the policy's last attempt.
    fake.fail_next(
        "messages",
        *[("error", 2, None, "An unexpected error has occurred. Please retry your request later.")] * 4,
    )
    eighth = await agent_reply(api, agent, "eighth")
    for _ in range(4):
        await worker.run_once()
        clock.now += timedelta(minutes=30)
    status, error, item = await message_state(channel_container, eighth)
    assert (status, item.attempts) == ("failed", 4)
    assert error is not None
    assert "error 2:" in error

    # The send that timed out still reached the Send API, late: the customer reads it twice.
    await until(lambda: len(fake.sent_messages(platform.customer)) == 6)
    texts = [m["text"] for m in fake.sent_messages(platform.customer)]
    assert texts == ["Здравствуйте! Чем помочь?", "second", "third", "fourth", "fifth", "fifth"]
    async with channel_container.uow() as uow:
        errors = list(await uow.session.scalars(select(Message.delivery_error)))
    assert not any(secret in (e or "") for e in errors for secret in (TOKEN, APP_SECRET, fake.base_url))


async def test_a_wrong_page_token_fails_with_metas_reason_and_no_token_in_it(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeGraph,
    platform: Platform,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    wrong = "EAAGwrongwrongwrong"
    account = await setup_account(api, admin, fake, platform, page_access_token=wrong)
    assert (
        await post_signed(api, hook(platform, account), fixture(f"{platform.prefix}_text"))
    ).status_code == 200
    reply = await agent_reply(api, agent, "hello")
    await channel_container.delivery_worker().run_once()
    status, error, item = await message_state(channel_container, reply)
    assert (status, item.status) == ("failed", "failed")
    assert error == f"{platform.name} error 190: Invalid OAuth access token - Cannot parse access token"
    assert fake.sent_messages(platform.customer) == []


async def test_options_become_quick_replies_and_files_are_uploaded(
    fake: FakeGraph, platform: Platform
) -> None:
    spec = MESSENGER_SPEC if platform is MESSENGER else INSTAGRAM_SPEC
    async with httpx.AsyncClient(timeout=5) as http:
        sender = spec.make_sender(http)
        account = config(fake, platform)
        options = (ReplyOption("balance", "Баланс"), ReplyOption("operator", "Оператор"))
        files = (
            OutboundFile("scan.jpg", "image/jpeg", JPEG),
            OutboundFile("Договор.pdf", "application/pdf", PDF),
        )
        outcome = await sender.send(
            account, OutboundMessage(platform.customer, "Выберите:", options=options, files=files)
        )
        assert isinstance(outcome, Delivered)
        sent = fake.sent_messages(platform.customer)
        assert [m.get("attachment", {}).get("type") for m in sent] == ["image", "file", None]
        image, document, text = sent
        assert image["attachment"]["file"] == UploadedFile("scan.jpg", "image/jpeg", JPEG)
        assert document["attachment"]["file"].content == PDF
        assert text["text"] == "Выберите:"
        assert text["quick_replies"] == [
            {"content_type": "text", "title": "Баланс", "payload": "balance"},
            {"content_type": "text", "title": "Оператор", "payload": "operator"},
        ]
        assert outcome.provider_message_id == text["mid"]
        if platform is INSTAGRAM:  # uploaded with the Attachment Upload API first, as documented
            uploads = fake.calls("message_attachments")
            assert [u["platform"] for u in uploads] == ["instagram", "instagram"]
        else:  # uploaded and sent in one multipart call
            assert fake.calls("message_attachments") == []

        # Labels longer than a quick-reply title: the list goes into the text, buttons say 1, 2.
        long_options = (
            ReplyOption("a", "Проверить баланс карты"),
            ReplyOption("b", "Соединить с оператором"),
        )
        await sender.send(account, OutboundMessage(platform.customer, "Чем помочь?", options=long_options))
        last = fake.sent_messages(platform.customer)[-1]
        assert last["text"] == "Чем помочь?\n\n1. Проверить баланс карты\n2. Соединить с оператором"
        assert [(q["title"], q["payload"]) for q in last["quick_replies"]] == [("1", "a"), ("2", "b")]

        # More than 13 options: numbered text only.
        many = tuple(ReplyOption(f"p{n}", f"Пункт {n}") for n in range(1, 15))
        await sender.send(account, OutboundMessage(platform.customer, "Меню", options=many))
        last = fake.sent_messages(platform.customer)[-1]
        assert "quick_replies" not in last
        assert last["text"].endswith("14. Пункт 14")

        # A long text is split to the platform's limit (Instagram counts UTF-8 bytes), words intact.
        before = len(fake.sent_messages(platform.customer))
        long_text = " ".join(["Здравствуйте"] * 400)
        assert isinstance(
            await sender.send(account, OutboundMessage(platform.customer, long_text)), Delivered
        )
        pieces = [m["text"] for m in fake.sent_messages(platform.customer)[before:]]
        assert len(pieces) > 1
        assert " ".join(pieces).split() == long_text.split()

        # Things Meta would refuse are refused here, without a call.
        calls = len(fake.requests)
        assert isinstance(await sender.send(account, OutboundMessage(platform.customer, "  ")), Rejected)
        assert isinstance(await sender.send(account, OutboundMessage("../me", "hi")), Rejected)
        no_token = {k: v for k, v in account.items() if k != "page_access_token"}
        assert isinstance(await sender.send(no_token, OutboundMessage(platform.customer, "hi")), Rejected)
        assert len(fake.requests) == calls


# --- receipts -----------------------------------------------------------------------------------------


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def test_delivery_and_read_receipts_move_the_status_forward(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeGraph,
    platform: Platform,
    clock: Clock,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake, platform)
    url = hook(platform, account)
    assert (await post_signed(api, url, fixture(f"{platform.prefix}_text"))).status_code == 200
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)

    first = await agent_reply(api, agent, "first")
    await worker.run_once()
    clock.now += timedelta(seconds=2)
    second = await agent_reply(api, agent, "second")
    await worker.run_once()
    read_at = clock.now + timedelta(seconds=1)
    clock.now += timedelta(hours=1)
    third = await agent_reply(api, agent, "third")  # sent long after what the customer has read
    await worker.run_once()
    mids = [await provider_id(channel_container, m) for m in (first, second, third)]

    async def statuses() -> list[str]:
        return [(await message_state(channel_container, m))[0] for m in (first, second, third)]

    assert await statuses() == ["sent", "sent", "sent"]
    if platform is MESSENGER:
        delivery = fixture("messenger_delivery")
        event(delivery)["delivery"] = {"mids": [mids[0]], "watermark": millis(clock.now)}
        for _ in range(2):
            assert (await post_signed(api, url, delivery)).status_code == 200
        assert await statuses() == ["delivered", "sent", "sent"]
        # Older clients send only a watermark: everything sent up to it was delivered.
        event(delivery)["delivery"] = {"watermark": millis(read_at)}
        assert (await post_signed(api, url, delivery)).status_code == 200
        assert await statuses() == ["delivered", "delivered", "sent"]
        # Read receipts name no message: everything sent to the customer up to the watermark was read.
        read = fixture("messenger_read")
        event(read)["read"] = {"watermark": millis(read_at)}
        event(read)["timestamp"] = millis(clock.now)
    else:
        # Instagram's messaging_seen names the last message seen; earlier ones were seen too.
        read = fixture("instagram_read")
        event(read)["read"] = {"mid": mids[1]}
    for _ in range(2):
        assert (await post_signed(api, url, read)).status_code == 200
    assert await statuses() == ["read", "read", "sent"]

    # A later receipt for an earlier state never moves a message back.
    if platform is MESSENGER:
        delivery = fixture("messenger_delivery")
        event(delivery)["delivery"] = {"mids": mids[:2], "watermark": millis(read_at)}
        assert (await post_signed(api, url, delivery)).status_code == 200
        assert await statuses() == ["read", "read", "sent"]

    # Another customer's read covers none of this customer's messages.
    stranger = fixture(f"{platform.prefix}_read")
    event(stranger)["sender"]["id"] = "999999999999999"
    if platform is MESSENGER:
        event(stranger)["read"] = {"watermark": millis(clock.now + timedelta(days=1))}
    else:
        event(stranger)["read"] = {"mid": "m_unknown_yet"}
    assert (await post_signed(api, url, stranger)).status_code == 200
    assert await statuses() == ["read", "read", "sent"]
