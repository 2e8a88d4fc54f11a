"""VK end to end against a local fake of the VK API: Callback API in, outbox out, every failure mode.

Runs on SQLite and PostgreSQL through the real route `/webhooks/vk/{account}`. The clock is the
container's and is moved by hand, so waits and backoff are checked exactly rather than by sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpline.bootstrap import Container
from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.vk import SPEC
from helpline.channels.vk.send import random_id
from helpline.domain.delivery import Delivered, Rejected, RetryLater, RetryPolicy
from helpline.domain.users import Role
from helpline.storage.models import Attachment, Contact, ContactIdentity, Message
from tests.fakes.vk_api import FILE_DOWNLOAD, GROUP_ID, FakeVk, running_fake_vk
from tests.integration.channel_kit import agent_reply, count, message_state, until
from tests.integration.conftest import Clock, MakeStaff, Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vk"
TOKEN = "vk1.a.Hf3kT9xQ2mLp7RwZ_community-token-for-tests"
SECRET = "Xq7LmR2vT9pZ"  # the `secret` in the recorded notifications
CONFIRMATION = "4f9a1c2e"
USER = 743784474
#: Where the recorded notifications say VK keeps files; the fake serves them under /files/.
FILE_HOSTS = ("https://sun9-32.userapi.com/", "https://psv4.userapi.com/", "https://vk.com/")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000


@pytest.fixture
def fake() -> Iterator[FakeVk]:
    with running_fake_vk(TOKEN) as server:
        server.add_user(USER, "Мария", "Иванова")
        yield server


def fixture(name: str, fake: FakeVk | None = None) -> dict[str, Any]:
    """A recorded notification; with `fake`, its file URLs point at the fake's file server."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    if fake is not None:
        for host in FILE_HOSTS:
            text = text.replace(host, fake.file_url(""))
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def config(fake: FakeVk) -> dict[str, Any]:
    return {
        "access_token": TOKEN,
        "secret": SECRET,
        "confirmation_code": CONFIRMATION,
        "group_id": GROUP_ID,
        "api_base": fake.api_base,
    }


async def setup_account(api: httpx.AsyncClient, admin: Staff, fake: FakeVk) -> int:
    created = await api.post(
        "/api/v1/channel-accounts",
        json={"channel": "vk", "name": "Support community", "config": config(fake)},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    for secret in (TOKEN, SECRET, CONFIRMATION):
        assert secret not in created.text
    assert body["webhook_path"] == f"/webhooks/vk/{body['id']}"
    return int(body["id"])


def hook(account_id: int) -> str:
    return f"/webhooks/vk/{account_id}"


async def test_confirmation_answers_the_code_of_our_community_only(
    api: httpx.AsyncClient, make_staff: MakeStaff, fake: FakeVk
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    confirmation = fixture("confirmation")
    answer = await api.post(hook(account), json=confirmation)
    assert (answer.status_code, answer.text) == (200, CONFIRMATION)
    assert answer.headers["content-type"].startswith("text/plain")
    other = await api.post(hook(account), json={**confirmation, "group_id": GROUP_ID + 1})
    assert other.status_code == 403
    assert CONFIRMATION not in other.text
    wrong_secret = await api.post(hook(account), json={**confirmation, "secret": "guess"})
    assert wrong_secret.status_code == 403
    assert (await api.post(hook(account + 999), json=confirmation)).status_code == 401


async def test_text_is_stored_once_and_bad_secrets_store_nothing(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeVk
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    event = fixture("message_new_text")
    missing = {k: v for k, v in event.items() if k != "secret"}
    assert (await api.post(hook(account), json=missing)).status_code == 403
    assert (await api.post(hook(account), json={**event, "secret": "nope"})).status_code == 403
    assert (await api.post(hook(account), json={**event, "group_id": 1})).status_code == 403
    malformed = {**event, "object": {"message": {"text": "no id"}}}
    assert (await api.post(hook(account), json=malformed)).status_code == 400
    assert (await api.post(hook(account), content=b"not json")).status_code == 400
    assert await count(channel_container, Message) == 0

    for _ in range(2):  # VK sends an event again when it did not get "ok": stored once
        ok = await api.post(hook(account), json=event)
        assert (ok.status_code, ok.text) == (200, "ok")
    assert await count(channel_container, Message) == 1
    async with channel_container.uow() as uow:
        message = await uow.session.scalar(select(Message))
        identity = await uow.session.scalar(select(ContactIdentity).where(ContactIdentity.kind == "vk"))
        contact = await uow.session.scalar(select(Contact))
    assert message is not None
    assert identity is not None
    assert contact is not None
    assert message.text == event["object"]["message"]["text"]
    assert message.provider_message_id == "1024"
    assert identity.value == str(USER)
    assert (contact.name, contact.language) == ("Мария Иванова", "ru")

    # Our own replies echoed back, and events of no interest, are acknowledged and ignored.
    for ignored in (fixture("message_reply"), {**event, "type": "group_join", "object": {"user_id": USER}}):
        answer = await api.post(hook(account), json=ignored)
        assert (answer.status_code, answer.text) == (200, "ok")
    assert await count(channel_container, Message) == 1


async def test_photo_doc_voice_and_location_are_kept(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeVk
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    fake.add_file("impg/c2/shot_w.jpg", JPEG)  # the largest size of the photo
    fake.add_file("impg/c2/shot_x.jpg", b"\xff\xd8\xff\xe0small")

    # VK's file server cannot hand the photo over: 503, nothing stored, VK will send it again.
    fake.fail_next(FILE_DOWNLOAD, ("status", 500))
    photo = fixture("message_new_photo", fake)
    assert (await api.post(hook(account), json=photo)).status_code == 503
    assert await count(channel_container, Message) == 0
    assert (await api.post(hook(account), json=photo)).status_code == 200
    async with channel_container.uow() as uow:
        attachment = await uow.session.scalar(select(Attachment))
    assert attachment is not None
    assert attachment.content_type == "image/jpeg"
    assert await channel_container.files.get(attachment.storage_key) == JPEG

    # A file VK no longer has, or one too large to keep, does not hold its message back.
    gone = fixture("message_new_photo", fake)
    gone["object"]["message"].update(id=1101, text="expired link")
    for size in gone["object"]["message"]["attachments"][0]["photo"]["sizes"]:
        size["url"] = size["url"].replace("/impg/", "/expired/")
    large = fixture("message_new_doc", fake)
    large["object"]["message"].update(id=1102, text="big")
    large["object"]["message"]["attachments"][0]["doc"]["size"] = 50 * 1024 * 1024
    # VK has sent this one three times already: the text is kept even though the file is not.
    stubborn = fixture("message_new_photo", fake)
    stubborn["object"]["message"].update(id=1103, text="third retry")
    fake.fail_next(FILE_DOWNLOAD, ("status", 502), ("status", 502))
    assert (await api.post(hook(account), json=stubborn, headers={"X-Retry-Counter": "2"})).status_code == 503
    retried = await api.post(hook(account), json=stubborn, headers={"X-Retry-Counter": "3"})
    assert retried.status_code == 200
    for notification in (gone, large):
        assert (await api.post(hook(account), json=notification)).status_code == 200
    async with channel_container.uow() as uow:
        notes = list(
            await uow.session.scalars(
                select(Message.text)
                .where(Message.text != photo["object"]["message"]["text"])
                .order_by(Message.id)
            )
        )
    assert notes == [
        "third retry\n[file VK could not hand over: photo.jpg]",
        "expired link\n[file no longer available at VK: photo.jpg]",
        "big\n[file too large to keep: Договор.pdf]",
    ]
    assert await count(channel_container, Attachment) == 1

    pdf = b"%PDF-1.7\n" + b"0" * 500
    fake.add_file("doc743784474_669012345", pdf)
    ogg = b"OggS" + b"\x00" * 300
    fake.add_file("c237231//u743784474/audiomsg/d1/2a3b4c5d6e.ogg", ogg)
    for name in ("message_new_doc", "message_new_audio_message", "message_new_geo", "message_new_sticker"):
        answer = await api.post(hook(account), json=fixture(name, fake))
        assert answer.status_code == 200, (name, answer.text)
    async with channel_container.uow() as uow:
        kept = {
            a.content_type: await channel_container.files.get(a.storage_key)
            for a in await uow.session.scalars(select(Attachment))
        }
        texts = list(await uow.session.scalars(select(Message.text).order_by(Message.id)))
    assert kept["application/pdf"] == pdf
    assert kept["audio/ogg"] == ogg
    assert "Я здесь\n📍 59.939095, 30.315868 (Санкт-Петербург, Дворцовая площадь)" in texts
    assert "[unsupported message type: sticker]" in texts


async def test_button_presses_are_stored_by_their_label_and_answered(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeVk
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    assert (await api.post(hook(account), json=fixture("message_new_button"))).status_code == 200
    event = fixture("message_event")
    for _ in range(2):
        assert (await api.post(hook(account), json=event)).status_code == 200
    async with channel_container.uow() as uow:
        stored = list(await uow.session.execute(select(Message.text, Message.provider_message_id)))
    assert [tuple(row) for row in stored] == [
        ("Оплата и счета", "1030"),  # the label: buttons of earlier menus stay pressable
        ('{"command": "operator"}', "event:3159dc190b1f"),
    ]
    answers = fake.calls("messages.sendMessageEventAnswer")
    assert answers
    assert answers[0]["event_id"] == "3159dc190b1f"
    assert answers[0]["user_id"] == str(USER)


async def test_outbound_delivery_retries_and_failures(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeVk, clock: Clock
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await api.post(hook(account), json=fixture("message_new_text"))).status_code == 200
    worker = channel_container.delivery_worker(policy=RetryPolicy(max_attempts=4), jitter=lambda: 0.5)

    first = await agent_reply(api, agent, "Здравствуйте! Чем помочь?")
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, first))[:2] == ("sent", None)
    sent = fake.sent_messages(USER)
    assert [m["text"] for m in sent] == ["Здравствуйте! Чем помочь?"]
    async with channel_container.uow() as uow:
        message = await uow.session.get(Message, first)
    assert message is not None
    assert message.provider_message_id == str(sent[0]["id"])

    # Error 6 (too many requests per second) and 9 (flood control) are temporary.
    fake.fail_next("messages.send", ("error", 6), ("error", 9))
    second = await agent_reply(api, agent, "second")
    await worker.run_once()
    status, error, item = await message_state(channel_container, second)
    assert status == "queued"
    assert error is not None
    assert error.endswith("VK 6: Too many requests per second")
    assert item.due_at == clock.now + timedelta(seconds=1)
    clock.now += timedelta(seconds=1)
    await worker.run_once()
    status, error, item = await message_state(channel_container, second)
    assert status == "queued"
    assert error is not None
    assert error.endswith("VK 9: Flood control")
    clock.now += timedelta(seconds=2)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, second))[0] == "sent"

    # HTTP 5xx from VK's front end: backoff (jitter 0.5 of 2 s), then delivered.
    fake.fail_next("messages.send", ("status", 502))
    third = await agent_reply(api, agent, "third")
    await worker.run_once()
    status, error, item = await message_state(channel_container, third)
    assert status == "queued"
    assert error is not None
    assert error.endswith("VK answered HTTP 502")
    assert item.due_at == clock.now + timedelta(seconds=1)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, third))[0] == "sent"

    # A timeout is temporary; VK did get the message, and the retry's random_id (from the
    # message id the worker passes as idempotency key) keeps the customer from seeing it twice.
    fake.fail_next("messages.send", ("delay", 2.5))
    fourth = await agent_reply(api, agent, "fourth")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, fourth)
    assert status == "queued"
    assert error is not None
    assert "in time" in error
    await until(lambda: any(m["text"] == "fourth" for m in fake.sent_messages(USER)))
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    assert (await message_state(channel_container, fourth))[0] == "sent"
    assert [m["text"] for m in fake.sent_messages(USER)].count("fourth") == 1

    # A permanent error ends as failed at once, with VK's reason shown to the agent.
    fake.fail_next("messages.send", ("error", 901))
    fifth = await agent_reply(api, agent, "fifth")
    await worker.run_once()
    status, error, item = await message_state(channel_container, fifth)
    assert (status, item.status, item.attempts) == ("failed", "failed", 1)
    assert error == "VK 901: Can't send messages for users without permission"
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 0
    assert "fifth" not in [m["text"] for m in fake.sent_messages(USER)]
    async with channel_container.uow() as uow:
        errors = list(await uow.session.scalars(select(Message.delivery_error)))
    assert not any(TOKEN in (e or "") for e in errors)


async def test_read_receipts_mark_our_messages_read_up_to_the_mark(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeVk
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    assert (await api.post(hook(account), json=fixture("message_new_text"))).status_code == 200
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)
    first = await agent_reply(api, agent, "one")
    await worker.run_once()
    second = await agent_reply(api, agent, "two")
    await worker.run_once()
    one, _two = (m["id"] for m in fake.sent_messages(USER))

    read = fixture("message_read")
    read["object"]["read_message_id"] = one
    assert (await api.post(hook(account), json={**read, "secret": "nope"})).status_code == 403
    assert (await message_state(channel_container, first))[0] == "sent"
    answer = await api.post(hook(account), json=read)
    assert (answer.status_code, answer.text) == (200, "ok")
    assert [(await message_state(channel_container, m))[0] for m in (first, second)] == ["read", "sent"]
    read["object"]["read_message_id"] = one + 50  # a later message, sent from VK itself
    assert (await api.post(hook(account), json=read)).status_code == 200
    assert [(await message_state(channel_container, m))[0] for m in (first, second)] == ["read", "read"]


async def test_sender_keyboard_files_and_idempotent_resend(fake: FakeVk) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as http:
        sender = SPEC.make_sender(http)
        settings = config(fake)
        options = (ReplyOption("billing", "Оплата и счета"), ReplyOption("operator", "Позвать оператора"))
        message = OutboundMessage(str(USER), "Выберите тему", options=options, idempotency_key="message-41")

        first = await sender.send(settings, message)
        again = await sender.send(settings, message)  # the worker crashed before recording `first`
        assert isinstance(first, Delivered)
        assert again == first
        (sent,) = fake.sent_messages(USER)
        assert sent["random_id"] == random_id("message-41", "0")
        assert sent["keyboard"]["inline"] is True
        buttons = [row[0]["action"] for row in sent["keyboard"]["buttons"]]
        assert [(b["label"], json.loads(b["payload"])) for b in buttons] == [
            ("Оплата и счета", {"helpline_option": "billing"}),
            ("Позвать оператора", {"helpline_option": "operator"}),
        ]

        # The answer was lost to a timeout; the re-send finds the message VK already has.
        fake.fail_next("messages.send", ("delay", 2.5))
        lost = OutboundMessage(str(USER), "lost answer", idempotency_key="message-42")
        assert isinstance(await sender.send(settings, lost), RetryLater)
        await until(lambda: any(m["text"] == "lost answer" for m in fake.sent_messages(USER)))
        assert isinstance(await sender.send(settings, lost), Delivered)
        assert [m["text"] for m in fake.sent_messages(USER)].count("lost answer") == 1

        # Too many options for an inline keyboard: numbered text instead.
        many = tuple(ReplyOption(f"o{n}", f"Вариант {n}") for n in range(1, 8))
        assert isinstance(
            await sender.send(settings, OutboundMessage(str(USER), "Меню", options=many)), Delivered
        )
        numbered = fake.sent_messages(USER)[-1]
        assert numbered["keyboard"] is None
        assert numbered["text"].startswith("Меню\n\n1. Вариант 1\n2. Вариант 2")

        # Bot capabilities switched off (912): the same message goes as numbered text.
        fake.fail_next("messages.send", ("error", 912))
        fallback = OutboundMessage(str(USER), "Тема?", options=options[:1], idempotency_key="message-43")
        assert isinstance(await sender.send(settings, fallback), Delivered)
        assert fake.sent_messages(USER)[-1]["text"] == "Тема?\n\n1. Оплата и счета"

        # A long text goes in pieces VK accepts; files through VK's upload servers.
        files = (
            OutboundFile("screen.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
            OutboundFile("invoice.pdf", "application/pdf", b"%PDF-1.7\n"),
        )
        long_text = "Счёт во вложении. " * 300
        result = await sender.send(settings, OutboundMessage(str(USER), long_text, files=files))
        assert isinstance(result, Delivered)
        pieces = fake.sent_messages(USER)[-2:]
        assert all(len(p["text"]) <= 4096 for p in pieces)
        assert "".join(p["text"] for p in pieces).replace(" ", "") == long_text.replace(" ", "")
        assert result.provider_message_id == str(pieces[-1]["id"])
        photo, doc = pieces[0]["attachments"]
        assert photo.startswith(f"photo-{GROUP_ID}_")
        assert doc.startswith(f"doc-{GROUP_ID}_")
        assert fake.calls("docs.save")[0]["title"] == "invoice.pdf"

        # Permanent errors keep VK's words; a bad token never shows itself.
        fake.fail_next("messages.send", ("error", 902))
        refused = await sender.send(settings, OutboundMessage(str(USER), "hi"))
        assert refused == Rejected("VK 902: Can't send messages to this user due to their privacy settings")
        wrong = await sender.send(
            {**settings, "access_token": "vk1.a.wrong"}, OutboundMessage(str(USER), "hi")
        )
        assert isinstance(wrong, Rejected)
        assert wrong.reason.startswith("VK 5: User authorization failed")
        assert "vk1.a" not in wrong.reason
        assert isinstance(await sender.send(settings, OutboundMessage("2000000001", "chat")), Rejected)
