"""Viber end to end against a local fake of the REST bot API: signed callbacks in, outbox out.

Runs on SQLite and PostgreSQL, through the real route `/webhooks/viber/{account}`. The clock is
the container's and is moved by hand, so backoff is checked exactly rather than by sleeping.
"""

from __future__ import annotations

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
from helpline.channels.registry import SPECS
from helpline.domain.delivery import Delivered, RetryPolicy
from helpline.domain.users import Role
from helpline.storage.models import Attachment, Contact, ContactIdentity, Message
from tests.fakes.viber_api import MEDIA, SEND_MESSAGE, FakeViber, running_fake_viber
from tests.integration.channel_kit import agent_reply, count, message_state
from tests.integration.conftest import Clock, MakeStaff, Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "viber"
TOKEN = "4453b6ac12345678-e02c5f12174805f9-9b4e7f2b1c3d5a7e"
JOHN = "01234567890A="
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def fake() -> Iterator[FakeViber]:
    with running_fake_viber(TOKEN) as server:
        yield server


async def setup_account(api: httpx.AsyncClient, admin: Staff, fake: FakeViber) -> int:
    created = await api.post(
        "/api/v1/channel-accounts",
        json={
            "channel": "viber",
            "name": "Support bot",
            "config": {"auth_token": TOKEN, "api_base": fake.base_url, "sender_name": "Helpline test"},
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert TOKEN not in created.text  # the token is a secret: shown masked, never in full
    assert body["webhook_path"] == f"/webhooks/viber/{body['id']}"
    return int(body["id"])


def hook(account_id: int) -> str:
    return f"/webhooks/viber/{account_id}"


def signed(callback: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    """Request arguments for a callback signed as Viber signs: hex HMAC-SHA256 of the exact body."""
    body = json.dumps(callback).encode()
    signature = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {"content": body, "headers": {"X-Viber-Content-Signature": signature}}


async def test_signed_callbacks_are_stored_once_and_unsigned_ones_store_nothing(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeViber
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    callback = fixture("message_text")
    good = signed(callback)
    assert (await api.post(hook(account), content=good["content"])).status_code == 401
    forged = signed(callback, token="not-the-token")
    assert (await api.post(hook(account), **forged)).status_code == 401
    other_body = json.dumps({**callback, "message": {"type": "text", "text": "changed"}}).encode()
    tampered = await api.post(hook(account), content=other_body, headers=good["headers"])
    assert tampered.status_code == 401
    assert (await api.post(hook(account + 999), **good)).status_code == 401
    assert (await api.get(hook(account))).status_code == 405
    assert (await api.post(hook(account), **signed({"event": "message"}))).status_code == 400
    not_json = b"{not json"
    signature = hmac.new(TOKEN.encode(), not_json, hashlib.sha256).hexdigest()
    bad = await api.post(hook(account), content=not_json, headers={"X-Viber-Content-Signature": signature})
    assert bad.status_code == 400
    assert await count(channel_container, Message) == 0

    # Setting the webhook: Viber checks it with a signed "webhook" callback and wants 200.
    assert (await api.post(hook(account), **signed(fixture("webhook")))).status_code == 200
    for _ in range(2):  # Viber re-sends a callback it thinks failed: same token, stored once
        assert (await api.post(hook(account), **good)).status_code == 200
    assert await count(channel_container, Message) == 1
    async with channel_container.uow() as uow:
        message = await uow.session.scalar(select(Message))
        identity = await uow.session.scalar(select(ContactIdentity).where(ContactIdentity.kind == "viber"))
        contact = await uow.session.get(Contact, identity.contact_id) if identity else None
    assert message is not None
    assert identity is not None
    assert contact is not None
    assert (message.text, message.provider_message_id) == ("a message to the service", "4912661846655238145")
    assert message.sent_at is not None
    assert message.sent_at.replace(tzinfo=UTC) == datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=UTC)
    assert (identity.value, contact.name, contact.language) == (JOHN, "John McClane", "en")

    # Events that carry no message are acknowledged and store nothing.
    for name in ("subscribed", "conversation_started", "unsubscribed"):
        assert (await api.post(hook(account), **signed(fixture(name)))).status_code == 200
    assert await count(channel_container, Message) == 1


async def test_picture_is_downloaded_and_a_failed_download_asks_viber_to_send_again(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeViber
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    callback = fixture("message_picture")
    callback["message"]["media"] = fake.add_media("img.jpg", JPEG, "image/jpeg")

    fake.fail_next(MEDIA, ("status", 500))
    missing = await api.post(hook(account), **signed(callback))
    assert missing.status_code == 503  # Viber re-sends for up to an hour
    assert await count(channel_container, Message) == 0

    ok = await api.post(hook(account), **signed(callback))
    assert ok.status_code == 200, ok.text
    async with channel_container.uow() as uow:
        message = await uow.session.scalar(select(Message))
        attachment = await uow.session.scalar(select(Attachment))
    assert message is not None
    assert attachment is not None
    assert message.text == "Photo description"
    assert (attachment.message_id, attachment.content_type, attachment.size) == (
        message.id,
        "image/jpeg",
        len(JPEG),
    )
    assert await channel_container.files.get(attachment.storage_key) == JPEG
    assert len(fake.calls(MEDIA)) == 2

    # A late redelivery (the hour-long media link may have expired by then) is recognised before
    # any download: answered 200, nothing fetched or stored twice.
    assert (await api.post(hook(account), **signed(callback))).status_code == 200
    assert len(fake.calls(MEDIA)) == 2
    assert (await count(channel_container, Message), await count(channel_container, Attachment)) == (1, 1)

    # A file larger than Helpline keeps would be as large on every retry: the message is kept
    # with a note instead of failing for an hour.
    big = fixture("message_file")
    big["message"]["media"] = fake.add_media("big.doc", b"x" * (10 * 1024 * 1024 + 1))
    assert (await api.post(hook(account), **signed(big))).status_code == 200
    async with channel_container.uow() as uow:
        note = await uow.session.scalar(
            select(Message.text).where(Message.provider_message_id == "4912661846655238147")
        )
    assert note == "[file too large to keep: name_of_file.doc]"
    assert await count(channel_container, Attachment) == 1


async def test_a_shared_contact_is_text_and_never_links_a_known_customer(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeViber
) -> None:
    """Viber says nothing about whose number a contact card holds: anyone can send anyone's.

    Linking on it would hand a known customer's history to whoever types their number into a
    contact card, so the number is shown to the agent and the two customers stay apart.
    """
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    callback = fixture("message_contact")
    phone = callback["message"]["contact"]["phone_number"]
    known = await api.post(
        "/api/v1/contacts",
        json={"name": "Known customer", "identities": [{"kind": "phone", "value": phone}]},
        headers=admin.headers,
    )
    assert known.status_code == 201, known.text
    assert (await api.post(hook(account), **signed(callback))).status_code == 200
    async with channel_container.uow() as uow:
        owner = await uow.session.scalar(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.kind == "viber", ContactIdentity.value == JOHN
            )
        )
        known_identities = list(
            await uow.session.scalars(
                select(ContactIdentity.kind).where(ContactIdentity.contact_id == known.json()["id"])
            )
        )
        text = await uow.session.scalar(select(Message.text))
    assert owner is not None
    assert owner != known.json()["id"]
    assert known_identities == ["phone"]
    assert text == "Contact: Itamar +972511123123"


async def test_outbound_delivery_retries_and_failures(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeViber, clock: Clock
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await api.post(hook(account), **signed(fixture("message_text")))).status_code == 200
    worker = channel_container.delivery_worker(policy=RetryPolicy(max_attempts=4), jitter=lambda: 0.5)

    # Delivered at the first attempt, as the documentation's send_message body.
    first = await agent_reply(api, agent, "Здравствуйте! Чем помочь?")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, first)
    assert (status, error, item.status) == ("sent", None, "done")
    (sent,) = fake.sent_messages(JOHN)
    assert {k: v for k, v in sent.items() if k != "message_token"} == {
        "receiver": JOHN,
        "min_api_version": 1,
        "sender": {"name": "Helpline test"},
        "type": "text",
        "text": "Здравствуйте! Чем помочь?",
    }
    async with channel_container.uow() as uow:
        stored = await uow.session.get(Message, first)
    assert stored is not None
    assert stored.provider_message_id == str(sent["message_token"])

    # HTTP 500, then fine: retried after the backoff (jitter 0.5 of 2 s), then delivered.
    fake.fail_next(SEND_MESSAGE, ("status", 500))
    second = await agent_reply(api, agent, "second")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, second)
    assert (status, error) == ("queued", "retrying: Viber HTTP 500")
    assert item.due_at == clock.now + timedelta(seconds=1)
    assert await worker.run_once() == 0  # not due yet
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, second))[0] == "sent"

    # Viber's rate limit arrives as HTTP 200 with status 12: temporary, retried with backoff.
    fake.fail_next(SEND_MESSAGE, ("viber", 12))
    third = await agent_reply(api, agent, "third")
    await worker.run_once()
    status, error, item = await message_state(channel_container, third)
    assert (status, error) == ("queued", "retrying: Viber 12: Too many requests")
    assert item.due_at == clock.now + timedelta(seconds=1)
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, third))[0] == "sent"

    # A timeout is temporary.
    fake.fail_next(SEND_MESSAGE, ("delay", 2.5))
    fourth = await agent_reply(api, agent, "fourth")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, fourth)
    assert status == "queued"
    assert error == "retrying: Viber did not answer in time (ReadTimeout)"
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    assert (await message_state(channel_container, fourth))[0] == "sent"

    # A permanent error ends as failed at once, with Viber's own status message shown to the agent.
    fake.fail_next(SEND_MESSAGE, ("viber", 6))
    fifth = await agent_reply(api, agent, "fifth")
    await worker.run_once()
    status, error, item = await message_state(channel_container, fifth)
    assert (status, item.status, item.attempts) == ("failed", "failed", 1)
    assert error == "Viber 6: notSubscribed"
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 0

    # Temporary errors that never end: failed after the policy's last attempt.
    fake.fail_next(SEND_MESSAGE, *[("status", 502)] * 4)
    sixth = await agent_reply(api, agent, "sixth")
    for _ in range(4):
        await worker.run_once()
        clock.now += timedelta(minutes=30)
    status, error, item = await message_state(channel_container, sixth)
    assert (status, item.attempts, error) == ("failed", 4, "Viber HTTP 502")
    # The delayed "fourth" took effect on Viber's side although its answer was lost, as a real
    # request would: it went twice. Every message after it went once.
    texts = [m["text"] for m in fake.sent_messages(JOHN)]
    assert texts == ["Здравствуйте! Чем помочь?", "second", "third", "fourth", "fourth"]
    assert all(c.get("sender") == {"name": "Helpline test"} for c in fake.calls(SEND_MESSAGE))
    async with channel_container.uow() as uow:
        errors = list(await uow.session.scalars(select(Message.delivery_error)))
    assert not any(TOKEN in (e or "") for e in errors)


async def test_options_go_as_a_keyboard_and_files_by_name(
    channel_container: Container, fake: FakeViber
) -> None:
    sender = SPECS["viber"].make_sender(channel_container.http)
    config = {"auth_token": TOKEN, "api_base": fake.base_url}
    options = (ReplyOption("menu:balance", "Баланс"), ReplyOption("menu:agent", "Оператор"))
    outcome = await sender.send(config, OutboundMessage(JOHN, "Выберите, пожалуйста:", options=options))
    assert isinstance(outcome, Delivered)
    (sent,) = fake.sent_messages(JOHN)
    assert outcome.provider_message_id == str(sent["message_token"])
    assert sent["text"] == "Выберите, пожалуйста:"
    assert sent["keyboard"] == {
        "Type": "keyboard",
        "Buttons": [
            {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": "menu:balance", "Text": "Баланс"},
            {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": "menu:agent", "Text": "Оператор"},
        ],
    }
    assert sent["sender"] == {"name": "Support"}

    # More options than the keyboard's 12 rows: numbered text, no keyboard.
    many = tuple(ReplyOption(f"o{n}", f"Option {n}") for n in range(1, 14))
    assert isinstance(await sender.send(config, OutboundMessage(JOHN, "Pick one", options=many)), Delivered)
    numbered = fake.sent_messages(JOHN)[-1]
    assert "keyboard" not in numbered
    assert numbered["text"].startswith("Pick one\n\n1. Option 1\n2. Option 2\n")
    assert numbered["text"].endswith("13. Option 13")

    # Viber takes files only by public URL; Helpline's are private: the name goes as text.
    pdf = OutboundFile("договор.pdf", "application/pdf", b"%PDF-1.4")
    assert isinstance(await sender.send(config, OutboundMessage(JOHN, "Договор", files=(pdf,))), Delivered)
    assert fake.sent_messages(JOHN)[-1]["text"] == "Договор\n\n📎 договор.pdf"

    # A text longer than 7,000 characters goes in pieces; the keyboard rides on the last one.
    long_text = ("слово " * 2000).strip()
    assert isinstance(
        await sender.send(config, OutboundMessage(JOHN, long_text, options=options[:1])), Delivered
    )
    first, last = fake.sent_messages(JOHN)[-2:]
    assert "keyboard" not in first
    assert last["keyboard"]["Buttons"][0]["ActionBody"] == "menu:balance"
    assert len(first["text"]) <= 7000

    # A wrong token never goes out in a reason.
    wrong = await sender.send({**config, "auth_token": "wrong"}, OutboundMessage(JOHN, "x"))
    assert wrong.__class__.__name__ == "Rejected"
    assert "wrong" not in str(wrong)


async def test_receipts_move_the_delivery_status(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeViber
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await api.post(hook(account), **signed(fixture("message_text")))).status_code == 200
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)
    first = await agent_reply(api, agent, "one")
    second = await agent_reply(api, agent, "two")
    assert await worker.run_once() == 1
    assert await worker.run_once() == 1
    one, two = fake.sent_messages(JOHN)

    async def receipt(name: str, token: int) -> None:
        callback = {**fixture(name), "message_token": token}
        assert (await api.post(hook(account), **signed(callback))).status_code == 200

    await receipt("delivered", one["message_token"])
    assert (await message_state(channel_container, first))[:2] == ("delivered", None)
    await receipt("seen", one["message_token"])
    assert (await message_state(channel_container, first))[:2] == ("read", None)
    await receipt("delivered", one["message_token"])  # late and repeated: status only moves forward
    assert (await message_state(channel_container, first))[0] == "read"

    await receipt("failed", two["message_token"])
    assert (await message_state(channel_container, second))[:2] == ("failed", "Viber: failure description")
    assert await count(channel_container, Message) == 3  # receipts are not messages
