"""WhatsApp Cloud API end to end against a local fake of the Graph API: the real webhook route in,
the outbox out, receipts moving what agents see, and every failure mode on the way.

Runs on SQLite and PostgreSQL. The clock is the container's and is moved by hand, so Retry-After
and backoff are checked exactly rather than by sleeping.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpline.bootstrap import Container
from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.whatsapp.send import WhatsAppSender
from helpline.domain.delivery import Delivered, Rejected, RetryLater, RetryPolicy
from helpline.domain.users import Role
from helpline.storage.models import Attachment, ContactIdentity, Message
from tests.fakes.whatsapp_api import FakeWhatsApp, running_fake_whatsapp
from tests.integration.channel_kit import agent_reply, count, message_state, until
from tests.integration.conftest import Clock, MakeStaff, Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
TOKEN = "EAAGm0PX4ZCpsBAKZBcYwhatsappTestToken1234567890"
APP_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
VERIFY_TOKEN = "helpline-verify-4c1f"
PHONE_NUMBER_ID = "106540352242922"
WA_ID = "16505551234"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"0" * 300


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["entry"][0]["changes"][0]["value"]  # type: ignore[no-any-return]


def first_message(payload: dict[str, Any]) -> dict[str, Any]:
    return value_of(payload)["messages"][0]  # type: ignore[no-any-return]


def status_for(name: str, wamid: str) -> dict[str, Any]:
    payload = fixture(name)
    value_of(payload)["statuses"][0]["id"] = wamid
    return payload


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with running_fake_whatsapp(TOKEN) as server:
        yield server


def account_config(fake: FakeWhatsApp) -> dict[str, str]:
    return {
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "api_base": fake.base_url,
        "api_version": "v25.0",
    }


async def setup_account(api: httpx.AsyncClient, admin: Staff, fake: FakeWhatsApp) -> int:
    created = await api.post(
        "/api/v1/channel-accounts",
        json={"channel": "whatsapp", "name": "Support number", "config": account_config(fake)},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    for secret in (TOKEN, APP_SECRET, VERIFY_TOKEN):  # secrets are never shown back in full
        assert secret not in created.text
    assert body["config"]["phone_number_id"] == PHONE_NUMBER_ID
    assert body["webhook_path"] == f"/webhooks/whatsapp/{body['id']}"
    return int(body["id"])


def hook(account_id: int) -> str:
    return f"/webhooks/whatsapp/{account_id}"


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def notify(api: httpx.AsyncClient, account_id: int, payload: dict[str, Any]) -> httpx.Response:
    """POST a notification as Meta does: the exact bytes, signed with the app secret."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await api.post(hook(account_id), content=body, headers=signed(body))


async def messages(c: Container) -> list[Message]:
    async with c.uow() as uow:
        return list(await uow.session.scalars(select(Message).order_by(Message.id)))


# --- webhook in -------------------------------------------------------------------------------------


async def test_handshake_echoes_the_challenge_only_for_our_verify_token(
    api: httpx.AsyncClient, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = await api.get(hook(account), params=good)
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for bad in (
        {**good, "hub.verify_token": "not-ours"},
        {**good, "hub.mode": "unsubscribe"},
        {k: v for k, v in good.items() if k != "hub.verify_token"},
        {k: v for k, v in good.items() if k != "hub.challenge"},
        {},
    ):
        assert (await api.get(hook(account), params=bad)).status_code == 403
    # An unknown account answers the same: nothing to probe.
    assert (await api.get(hook(account + 999), params=good)).status_code == 403


async def test_bad_signatures_store_nothing_and_a_redelivered_text_is_stored_once(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    payload = fixture("text")
    body = json.dumps(payload).encode()
    json_only = {"Content-Type": "application/json"}
    assert (await api.post(hook(account), content=body, headers=json_only)).status_code == 401
    wrong_secret = signed(body, "not-the-app-secret")
    assert (await api.post(hook(account), content=body, headers=wrong_secret)).status_code == 401
    other_body = signed(body + b" ")
    assert (await api.post(hook(account), content=body, headers=other_body)).status_code == 401
    sha1 = {
        **json_only,
        "X-Hub-Signature-256": "sha1=" + hmac.new(APP_SECRET.encode(), body, "sha1").hexdigest(),
    }
    assert (await api.post(hook(account), content=body, headers=sha1)).status_code == 401
    assert (await api.post(hook(account + 999), content=body, headers=signed(body))).status_code == 401
    malformed = copy.deepcopy(payload)
    del first_message(malformed)["id"]
    assert (await notify(api, account, malformed)).status_code == 400
    not_json = b"{not json"
    assert (await api.post(hook(account), content=not_json, headers=signed(not_json))).status_code == 400
    assert await count(channel_container, Message) == 0

    for _ in range(2):  # Meta redelivers a notification it thinks failed: same wamid, stored once
        assert (await notify(api, account, payload)).status_code == 200
    stored = await messages(channel_container)
    assert [(m.text, m.provider_message_id) for m in stored] == [
        ("Does it come in another color?", first_message(payload)["id"])
    ]
    assert stored[0].sent_at is not None
    assert stored[0].sent_at.replace(tzinfo=UTC) == datetime.fromtimestamp(1749416383, UTC)
    async with channel_container.uow() as uow:
        identity = await uow.session.scalar(select(ContactIdentity).where(ContactIdentity.kind == "whatsapp"))
    assert identity is not None
    assert identity.value == WA_ID

    # A change for another business number of the same app is acknowledged, not stored here.
    elsewhere = fixture("interactive_list_reply")
    value_of(elsewhere)["metadata"]["phone_number_id"] = "999000111222333"
    assert (await notify(api, account, elsewhere)).status_code == 200
    assert await count(channel_container, Message) == 1


async def test_one_notification_carries_several_messages_all_committed_before_200(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    payload = fixture("text")
    value = value_of(payload)
    for name in ("interactive_button_reply", "interactive_list_reply", "location", "contacts", "unsupported"):
        value["messages"].append(first_message(fixture(name)))
    value["statuses"] = value_of(fixture("status_read"))["statuses"]  # for a message we never sent
    assert (await notify(api, account, payload)).status_code == 200
    assert [m.text for m in await messages(channel_container)] == [
        "Does it come in another color?",
        "Change",
        "Priority Mail Express",
        "📍 37.483307, -122.148981\nMeta Headquarters\n1 Hacker Way, Menlo Park, CA 94025",
        "👤 Barbara J. Johnson: +1 (650) 555-1234",
        "[unsupported message type: unsupported]",
    ]
    assert (await notify(api, account, payload)).status_code == 200
    assert await count(channel_container, Message) == 6


async def test_an_image_is_downloaded_with_the_token_and_stored(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    payload = fixture("image")
    image = first_message(payload)["image"]
    image["sha256"] = fake.add_media(image["id"], JPEG, "image/jpeg")

    # Meta cannot hand the file over right now: 503, nothing stored, Meta will notify again.
    fake.fail_next("media_info", ("status", 500))
    assert (await notify(api, account, payload)).status_code == 503
    fake.fail_next("media_download", ("status", 502))
    assert (await notify(api, account, payload)).status_code == 503
    assert await count(channel_container, Message) == 0

    assert (await notify(api, account, payload)).status_code == 200
    (message,) = await messages(channel_container)
    assert message.text == "Here is the damaged item"
    async with channel_container.uow() as uow:
        attachment = await uow.session.scalar(select(Attachment))
    assert attachment is not None
    assert attachment.message_id == message.id
    assert (attachment.content_type, attachment.filename) == ("image/jpeg", "image.jpg")
    assert await channel_container.files.get(attachment.storage_key) == JPEG
    # A redelivery does not fetch the file again.
    downloads = len(fake.calls("media_download"))
    assert (await notify(api, account, payload)).status_code == 200
    assert len(fake.calls("media_download")) == downloads
    assert await count(channel_container, Attachment) == 1

    # A file whose bytes do not match the announced SHA-256 is not taken: try again later.
    corrupt = fixture("document")
    document = first_message(corrupt)["document"]
    fake.add_media(document["id"], PDF, "application/pdf")
    document["sha256"] = hashlib.sha256(b"something else").hexdigest()
    assert (await notify(api, account, corrupt)).status_code == 503

    # A media id Meta no longer knows (expired): the message is kept, and says so.
    gone = fixture("audio_voice")
    assert (await notify(api, account, gone)).status_code == 200
    assert (await messages(channel_container))[-1].text.startswith("[audio not available:")


async def test_the_revealed_phone_links_the_customer_to_the_known_contact(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    known = await api.post(
        "/api/v1/contacts",
        json={"name": "Known customer", "identities": [{"kind": "phone", "value": "+1 650-555-1234"}]},
        headers=admin.headers,
    )
    assert known.status_code == 201, known.text
    assert (await notify(api, account, fixture("text"))).status_code == 200
    assert (await notify(api, account, fixture("location"))).status_code == 200
    async with channel_container.uow() as uow:
        owners = set(
            await uow.session.scalars(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.kind.in_(("whatsapp", "phone")),
                    ContactIdentity.value.in_((WA_ID, "+16505551234")),
                )
            )
        )
    assert owners == {known.json()["id"]}


# --- outbox out -------------------------------------------------------------------------------------


async def wamid_of(c: Container, message_id: int) -> str:
    async with c.uow() as uow:
        message = await uow.session.get(Message, message_id)
    assert message is not None
    assert message.provider_message_id is not None
    return message.provider_message_id


async def test_outbound_delivery_retries_and_failures(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeWhatsApp,
    clock: Clock,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await notify(api, account, fixture("text"))).status_code == 200
    worker = channel_container.delivery_worker(policy=RetryPolicy(max_attempts=4), jitter=lambda: 0.5)

    # Delivered at the first attempt; the wamid Meta answered is what receipts will name.
    first = await agent_reply(api, agent, "Здравствуйте! Чем помочь?")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, first)
    assert (status, error, item.status) == ("sent", None, "done")
    (sent,) = fake.sent_messages(WA_ID)
    assert sent["messaging_product"] == "whatsapp"
    assert sent["to"] == WA_ID
    assert (sent["type"], sent["text"]["body"]) == ("text", "Здравствуйте! Чем помочь?")
    assert await wamid_of(channel_container, first) == sent["id"]

    # A 500 from a proxy in front of Graph: retried after the backoff (jitter 0.5 of 2 s).
    fake.fail_next("messages", ("status", 500))
    second = await agent_reply(api, agent, "second")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, second)
    assert status == "queued"
    assert error is not None
    assert "500" in error
    assert item.due_at == clock.now + timedelta(seconds=1)
    assert await worker.run_once() == 0  # not due yet
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, second))[0] == "sent"

    # 429 with Retry-After: the provider's wait is honoured exactly, not shortened.
    fake.fail_next("messages", ("retry_after", 7))
    third = await agent_reply(api, agent, "third")
    await worker.run_once()
    _, error, item = await message_state(channel_container, third)
    assert item.due_at == clock.now + timedelta(seconds=7)
    assert error is not None
    assert "130429" in error
    clock.now += timedelta(seconds=6)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, third))[0] == "sent"

    # Meta's pair rate limit arrives as HTTP 400 with code 131056: still a "later", not a failure.
    fake.fail_next(
        "messages",
        ("error", 400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
    )
    fourth = await agent_reply(api, agent, "fourth")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, fourth)
    assert status == "queued"
    assert error is not None
    assert "131056" in error
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    assert (await message_state(channel_container, fourth))[0] == "sent"

    # A timeout is temporary.
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

    # A permanent error ends as failed at once, with Meta's reason shown to the agent.
    details = "Message failed to send because more than 24 hours have passed since the customer last replied."
    fake.fail_next("messages", ("error", 400, 131047, "(#131047) Re-engagement message", details))
    sixth = await agent_reply(api, agent, "sixth")
    await worker.run_once()
    status, error, item = await message_state(channel_container, sixth)
    assert (status, item.status, item.attempts) == ("failed", "failed", 1)
    assert error == f"WhatsApp 131047: (#131047) Re-engagement message ({details})"
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 0

    # Temporary errors that never end: failed after the policy's last attempt.
    fake.fail_next("messages", *[("error", 503, 2, "Service temporarily unavailable")] * 4)
    seventh = await agent_reply(api, agent, "seventh")
    for _ in range(4):
        await worker.run_once()
        clock.now += timedelta(minutes=30)
    status, error, item = await message_state(channel_container, seventh)
    assert (status, item.attempts) == ("failed", 4)
    assert error == "WhatsApp 2: Service temporarily unavailable"

    # The send that timed out still reached the Cloud API, late: the customer reads it twice.
    await until(lambda: len(fake.sent_messages(WA_ID)) == 6)
    texts = [m["text"]["body"] for m in fake.sent_messages(WA_ID)]
    assert texts == ["Здравствуйте! Чем помочь?", "second", "third", "fourth", "fifth", "fifth"]
    async with channel_container.uow() as uow:  # the token never reaches what agents see
        errors = list(await uow.session.scalars(select(Message.delivery_error)))
    assert not any(TOKEN in (e or "") for e in errors)


async def test_status_callbacks_move_the_delivery_status_forward_only(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeWhatsApp
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await notify(api, account, fixture("text"))).status_code == 200
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)
    replies = [await agent_reply(api, agent, text) for text in ("one", "two", "three")]
    for _ in replies:
        assert await worker.run_once() == 1
    one, two, three = [await wamid_of(channel_container, m) for m in replies]

    async def status_of(message_id: int) -> tuple[str, str | None]:
        status, error, _ = await message_state(channel_container, message_id)
        return status, error

    # sent, delivered, read: in order, each moves it on; a late "delivered" does not go back.
    for name, expected in (
        ("status_sent", "sent"),
        ("status_delivered", "delivered"),
        ("status_read", "read"),
    ):
        assert (await notify(api, account, status_for(name, one))).status_code == 200
        assert await status_of(replies[0]) == (expected, None)
    assert (await notify(api, account, status_for("status_delivered", one))).status_code == 200
    assert await status_of(replies[0]) == ("read", None)

    # WhatsApp may post "read" before "delivered": read stays.
    assert (await notify(api, account, status_for("status_read", two))).status_code == 200
    assert (await notify(api, account, status_for("status_delivered", two))).status_code == 200
    assert await status_of(replies[1]) == ("read", None)

    # A failed status shows Meta's reason to the agent.
    assert (await notify(api, account, status_for("status_failed", three))).status_code == 200
    status, error = await status_of(replies[2])
    assert status == "failed"
    assert error == (
        "WhatsApp 131047: Re-engagement message (Message failed to send because more than 24 hours "
        "have passed since the customer last replied to this number.)"
    )

    # Receipts are signed like everything else: a forged one changes nothing.
    forged = json.dumps(status_for("status_read", three)).encode()
    bad = signed(forged, "forged")
    assert (await api.post(hook(account), content=forged, headers=bad)).status_code == 401
    assert (await status_of(replies[2]))[0] == "failed"


# --- rendering ------------------------------------------------------------------------------------


def options(*labels: str) -> tuple[ReplyOption, ...]:
    return tuple(ReplyOption(f"opt-{n}", label) for n, label in enumerate(labels, start=1))


async def test_options_render_as_buttons_or_a_list_and_files_go_through_the_media_api(
    fake: FakeWhatsApp,
) -> None:
    config = account_config(fake)
    async with httpx.AsyncClient(timeout=5) as http:
        sender = WhatsAppSender(http)

        three = await sender.send(
            config, OutboundMessage(WA_ID, "Choose:", options("Billing", "Delivery", "Other"))
        )
        assert isinstance(three, Delivered)
        seven = await sender.send(
            config,
            OutboundMessage(WA_ID, "Which department?", options(*[f"Department {n}" for n in range(7)])),
        )
        long_labels = await sender.send(
            config, OutboundMessage(WA_ID, "Pick one", options("Return an item (refund)", "Track my parcel"))
        )
        twelve = await sender.send(
            config, OutboundMessage(WA_ID, "Pick", options(*[f"Item {n}" for n in range(12)]))
        )
        assert all(isinstance(o, Delivered) for o in (seven, long_labels, twelve))

        buttons, listed, listed_long, numbered = fake.sent_messages(WA_ID)
        assert buttons["id"] == three.provider_message_id
        assert buttons["type"] == "interactive"
        assert buttons["interactive"]["type"] == "button"
        assert buttons["interactive"]["body"] == {"text": "Choose:"}
        assert [b["reply"] for b in buttons["interactive"]["action"]["buttons"]] == [
            {"id": "opt-1", "title": "Billing"},
            {"id": "opt-2", "title": "Delivery"},
            {"id": "opt-3", "title": "Other"},
        ]
        assert listed["interactive"]["type"] == "list"
        (section,) = listed["interactive"]["action"]["sections"]
        assert [r["title"] for r in section["rows"]] == [f"Department {n}" for n in range(7)]
        # 23 characters is too long for a button title (20) but fits a list row (24): never cut.
        assert listed_long["interactive"]["type"] == "list"
        assert numbered["type"] == "text"
        assert numbered["text"]["body"].splitlines()[:3] == ["Pick", "", "1. Item 0"]
        assert listed["interactive"]["action"]["button"] == "☰"
        labelled = {**config, "list_button": "Выбрать"}
        assert isinstance(
            await sender.send(labelled, OutboundMessage(WA_ID, "?", options(*"abcd"))), Delivered
        )
        assert fake.sent_messages(WA_ID)[-1]["interactive"]["action"]["button"] == "Выбрать"

        # Files: uploaded to /{phone-number-id}/media, then sent by the id Meta gave.
        files = (
            OutboundFile("screenshot.png", "image/png", PNG),
            OutboundFile("contract.pdf", "application/pdf", PDF),
        )
        sent = await sender.send(config, OutboundMessage(WA_ID, "Your documents", files=files))
        assert isinstance(sent, Delivered)
        image, document = fake.sent_messages(WA_ID)[-2:]
        assert image["type"] == "image"
        assert image["image"]["caption"] == "Your documents"
        assert document["type"] == "document"
        assert document["document"]["filename"] == "contract.pdf"
        assert "caption" not in document["document"]
        stored_image, stored_pdf = fake.media(image["image"]["id"]), fake.media(document["document"]["id"])
        assert stored_image is not None
        assert stored_pdf is not None
        assert (stored_image.content, stored_image.mime_type) == (PNG, "image/png")
        assert (stored_pdf.content, stored_pdf.filename) == (PDF, "contract.pdf")
        assert [c["messaging_product"] for c in fake.calls("media_upload")] == ["whatsapp", "whatsapp"]

        # A failed upload is the send's outcome.
        fake.fail_next("media_upload", ("error", 400, 131053, "(#131053) Media upload error"))
        failed = await sender.send(config, OutboundMessage(WA_ID, "x", files=files[:1]))
        assert failed == Rejected("WhatsApp 131053: (#131053) Media upload error")

        # A wrong token is a permanent failure, and the token is nowhere in the reason.
        wrong = await sender.send({**config, "access_token": "EAA-wrong"}, OutboundMessage(WA_ID, "hi"))
        assert isinstance(wrong, Rejected)
        assert "190" in wrong.reason
        assert "EAA-wrong" not in wrong.reason
        assert TOKEN not in wrong.reason

        # Nothing listens: temporary.
        down = await sender.send({**config, "api_base": "http://127.0.0.1:9"}, OutboundMessage(WA_ID, "hi"))
        assert isinstance(down, RetryLater)
        assert "127.0.0.1" not in down.reason
