"""Telegram end to end against a local fake of the Bot API: webhook in, outbox out, every failure mode.

Runs on SQLite and PostgreSQL. The clock is the container's and is moved by hand, so
Retry-After and backoff are checked exactly rather than by sleeping.
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
from helpline.domain.delivery import RetryPolicy
from helpline.domain.users import Role
from helpline.storage.models import Attachment, ContactIdentity, Message, OutboxItem
from tests.fakes.telegram_api import FakeTelegram, running_fake_telegram
from tests.integration.channel_kit import agent_reply, count, message_state, until
from tests.integration.conftest import Clock, MakeStaff, Staff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = "s3cret_Token-for-webhooks"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with running_fake_telegram(TOKEN) as server:
        yield server


async def setup_account(api: httpx.AsyncClient, admin: Staff, fake: FakeTelegram) -> int:
    created = await api.post(
        "/api/v1/channel-accounts",
        json={
            "channel": "telegram",
            "name": "Support bot",
            "config": {"bot_token": TOKEN, "webhook_secret": SECRET, "api_base": fake.base_url},
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    # Secrets are never shown back in full.
    assert TOKEN not in created.text
    assert SECRET not in created.text
    assert body["config"]["bot_token"].endswith(TOKEN[-4:])
    assert body["webhook_path"] == f"/webhooks/telegram/{body['id']}"
    return int(body["id"])


def hook(account_id: int) -> str:
    return f"/webhooks/telegram/{account_id}"


SECRET_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


async def test_inbound_is_stored_once_and_bad_secrets_store_nothing(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    update = fixture("text")
    assert (await api.post(hook(account), json=update)).status_code == 401
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
    assert (await api.post(hook(account), json=update, headers=wrong)).status_code == 401
    assert (await api.post(hook(account + 999), json=update, headers=SECRET_HEADERS)).status_code == 401
    malformed = await api.post(
        hook(account), json={"message": {"text": "no update_id"}}, headers=SECRET_HEADERS
    )
    assert malformed.status_code == 400
    assert await count(channel_container, Message) == 0

    for _ in range(2):  # Telegram retries a webhook it thinks failed: same update, stored once
        ok = await api.post(hook(account), json=update, headers=SECRET_HEADERS)
        assert ok.status_code == 200
    assert await count(channel_container, Message) == 1
    async with channel_container.uow() as uow:
        message = await uow.session.scalar(select(Message))
        identity = await uow.session.scalar(select(ContactIdentity).where(ContactIdentity.kind == "telegram"))
    assert message is not None
    assert identity is not None
    assert message.text == update["message"]["text"]
    assert identity.value == str(update["message"]["from"]["id"])
    # Updates that carry no customer message are acknowledged and ignored.
    edited = await api.post(hook(account), json=fixture("edited_message"), headers=SECRET_HEADERS)
    assert edited.status_code == 200
    assert await count(channel_container, Message) == 1


async def test_outbound_delivery_retries_and_failures(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeTelegram,
    clock: Clock,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    update = fixture("text")
    chat_id = update["message"]["chat"]["id"]
    assert (await api.post(hook(account), json=update, headers=SECRET_HEADERS)).status_code == 200
    worker = channel_container.delivery_worker(policy=RetryPolicy(max_attempts=4), jitter=lambda: 0.5)

    # Delivered at the first attempt.
    first = await agent_reply(api, agent, "Здравствуйте! Чем помочь?")
    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, first)
    assert (status, error, item.status) == ("sent", None, "done")
    assert [m["text"] for m in fake.sent_messages(chat_id)] == ["Здравствуйте! Чем помочь?"]

    # 500, then fine: retried after the backoff (jitter 0.5 of 2 s), then delivered.
    fake.fail_next("sendMessage", ("status", 500))
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

    # 429 with retry_after: the provider's wait is honoured exactly, not shortened.
    fake.fail_next("sendMessage", ("retry_after", 7))
    third = await agent_reply(api, agent, "third")
    await worker.run_once()
    _, error, item = await message_state(channel_container, third)
    assert item.due_at == clock.now + timedelta(seconds=7)
    assert error is not None
    assert "429" in error
    clock.now += timedelta(seconds=6)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert (await message_state(channel_container, third))[0] == "sent"

    # A timeout is temporary.
    fake.fail_next("sendMessage", ("delay", 2.5))
    fourth = await agent_reply(api, agent, "fourth")
    await worker.run_once()
    status, error, _ = await message_state(channel_container, fourth)
    assert status == "queued"
    assert error is not None
    assert "in time" in error
    clock.now += timedelta(minutes=5)
    await worker.run_once()
    assert (await message_state(channel_container, fourth))[0] == "sent"

    # A permanent error ends as failed at once, with Telegram's reason shown to the agent.
    fake.fail_next("sendMessage", ("error", 403, "Forbidden: bot was blocked by the user"))
    fifth = await agent_reply(api, agent, "fifth")
    await worker.run_once()
    status, error, item = await message_state(channel_container, fifth)
    assert (status, item.status, item.attempts) == ("failed", "failed", 1)
    assert error == "Telegram 403: Forbidden: bot was blocked by the user"
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 0

    # Temporary errors that never end: failed after the policy's last attempt.
    fake.fail_next("sendMessage", *[("status", 502)] * 4)
    sixth = await agent_reply(api, agent, "sixth")
    for _ in range(4):
        await worker.run_once()
        clock.now += timedelta(minutes=30)
    status, error, item = await message_state(channel_container, sixth)
    assert (status, item.attempts) == ("failed", 4)
    assert error is not None
    assert "502" in error
    # The send that timed out still reached Telegram (it has no idempotency key), late: twice.
    await until(lambda: len(fake.sent_messages(chat_id)) == 5)
    sent_texts = [m["text"] for m in fake.sent_messages(chat_id)]
    assert sent_texts == ["Здравствуйте! Чем помочь?", "second", "third", "fourth", "fourth"]
    # The token never reaches what agents see.
    async with channel_container.uow() as uow:
        errors = list(await uow.session.scalars(select(Message.delivery_error)))
    assert not any(TOKEN in (e or "") for e in errors)


async def test_photo_is_fetched_and_stored_and_a_shared_phone_links_the_contact(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    photo = fixture("photo")
    largest = max(photo["message"]["photo"], key=lambda p: p.get("file_size", 0) or p["width"])
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
    fake.add_file(largest["file_id"], jpeg, "photos/file_1.jpg")
    ok = await api.post(hook(account), json=photo, headers=SECRET_HEADERS)
    assert ok.status_code == 200, ok.text
    async with channel_container.uow() as uow:
        attachment = await uow.session.scalar(select(Attachment))
    assert attachment is not None
    assert attachment.content_type == "image/jpeg"
    assert await channel_container.files.get(attachment.storage_key) == jpeg

    # Telegram cannot hand over a file right now: 503, nothing stored, the update comes again.
    document = fixture("document")
    fake.fail_next("getFile", ("status", 500))
    before = await count(channel_container, Message)
    missing = await api.post(hook(account), json=document, headers=SECRET_HEADERS)
    assert missing.status_code == 503
    assert await count(channel_container, Message) == before

    # ...but a file it never will hand over (an id getFile refuses) does not hold the message back.
    gone = await api.post(hook(account), json=document, headers=SECRET_HEADERS)
    assert gone.status_code == 200, gone.text
    async with channel_container.uow() as uow:
        stored = await uow.session.scalar(select(Message.text).order_by(Message.id.desc()).limit(1))
    assert stored == (
        "Договор во вложении\n[document not available: getFile answered 400 (Bad Request: invalid file_id)]"
    )
    assert await count(channel_container, Attachment) == 1


async def test_a_file_over_the_bots_limit_keeps_its_caption_and_says_what_is_missing(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    """A 21 MB video was answered 503 at every retry (getFile refuses bots files over 20 MB):
    the customer's words with it were never stored."""
    admin = await make_staff(Role.ADMIN)
    account = await setup_account(api, admin, fake)
    update = fixture("document")
    update["message"]["document"]["file_size"] = 21 * 1024 * 1024
    update["message"]["caption"] = "Приложение падает при выводе выигрыша, видео приложила"
    answered = await api.post(hook(account), json=update, headers=SECRET_HEADERS)
    assert answered.status_code == 200, answered.text
    async with channel_container.uow() as uow:
        stored = await uow.session.scalar(select(Message.text))
    assert stored == (
        "Приложение падает при выводе выигрыша, видео приложила\n"
        "[document not available: 21 MB is more than bots may download]"
    )
    assert fake.calls("getFile") == []  # known from file_size, not asked

    # A known customer (by phone) shares their own Telegram contact: one customer, one history.
    contact = fixture("contact")
    phone = contact["message"]["contact"]["phone_number"]
    known = await api.post(
        "/api/v1/contacts",
        json={"name": "Known customer", "identities": [{"kind": "phone", "value": phone}]},
        headers=admin.headers,
    )
    assert known.status_code == 201, known.text
    assert (await api.post(hook(account), json=contact, headers=SECRET_HEADERS)).status_code == 200
    async with channel_container.uow() as uow:
        owner = await uow.session.scalar(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.kind == "telegram",
                ContactIdentity.value == str(contact["message"]["from"]["id"]),
            )
        )
    assert owner == known.json()["id"]


async def test_a_reply_waiting_for_a_retry_holds_back_the_later_replies_of_its_conversation(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeTelegram,
    clock: Clock,
) -> None:
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    update = fixture("text")
    chat_id = update["message"]["chat"]["id"]
    assert (await api.post(hook(account), json=update, headers=SECRET_HEADERS)).status_code == 200
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)

    fake.fail_next("sendMessage", ("retry_after", 30))
    first = await agent_reply(api, agent, "one")
    second = await agent_reply(api, agent, "two")
    third = await agent_reply(api, agent, "three")
    assert await worker.run_once() == 1  # only the head of the line is taken
    clock.now += timedelta(seconds=10)
    assert await worker.run_once() == 0  # "two" and "three" wait behind "one"
    assert fake.sent_messages(chat_id) == []
    assert [(await message_state(channel_container, m))[0] for m in (second, third)] == ["queued", "queued"]
    clock.now += timedelta(seconds=20)
    for _ in range(3):
        assert await worker.run_once() == 1
    assert [m["text"] for m in fake.sent_messages(chat_id)] == ["one", "two", "three"]
    assert (await message_state(channel_container, first))[0] == "sent"


async def test_a_provider_id_already_held_by_another_message_does_not_send_twice(
    api: httpx.AsyncClient, channel_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    """The unique index refuses the id, and the delivery is recorded again without it, instead
    of being left "sending" to be sent again when its lease runs out (the same happens when
    another delivery commits the id at the same moment)."""
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    update = fixture("text")
    chat_id = update["message"]["chat"]["id"]
    assert (await api.post(hook(account), json=update, headers=SECRET_HEADERS)).status_code == 200
    # The reply comes back with the id of the customer's own message (unique per account).
    fake.number_messages_from(update["message"]["message_id"])
    reply = await agent_reply(api, agent, "Добрый день!")
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)

    assert await worker.run_once() == 1
    status, error, item = await message_state(channel_container, reply)
    assert (status, error, item.status) == ("sent", None, "done")
    assert await worker.run_once() == 0
    assert [m["text"] for m in fake.sent_messages(chat_id)] == ["Добрый день!"]


async def test_a_round_waits_for_all_its_sends_when_one_of_them_fails(
    api: httpx.AsyncClient,
    channel_container: Container,
    make_staff: MakeStaff,
    fake: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the round to end at the first failure, the next one could claim an item whose send is
    still on the wire once its lease ran out, and send it again."""
    admin = await make_staff(Role.ADMIN)
    agent = await make_staff(Role.SUPERVISOR)
    account = await setup_account(api, admin, fake)
    replies = {}
    for n, chat in enumerate((1001, 1002)):
        update = fixture("text")
        update["update_id"] += n
        update["message"]["message_id"] += n
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = chat
        assert (await api.post(hook(account), json=update, headers=SECRET_HEADERS)).status_code == 200
    for conversation in (await api.get("/api/v1/conversations", headers=agent.headers)).json():
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        posted = await api.post(path, json={"text": "hello"}, headers=agent.headers)
        assert posted.status_code == 201, posted.text
        replies[conversation["id"]] = int(posted.json()["id"])
    failing, slow = sorted(replies.values())
    fake.fail_next("sendMessage", ("delay", 0.0), ("delay", 0.5))

    from helpline.worker import delivery

    real_record = delivery.do_record_outcome

    async def record_or_fail(uow: Any, item_id: int, *args: Any) -> Any:
        item = await uow.session.get(OutboxItem, item_id)
        if item is not None and item.message_id == failing:
            raise RuntimeError("the database went away")
        return await real_record(uow, item_id, *args)

    monkeypatch.setattr(delivery, "do_record_outcome", record_or_fail)
    worker = channel_container.delivery_worker(jitter=lambda: 0.5)
    assert await worker.run_once() == 2
    # The slow send was recorded before the round ended; the failed one waits for its lease.
    assert (await message_state(channel_container, slow))[0] == "sent"
    status, _, item = await message_state(channel_container, failing)
    assert (status, item.status) == ("queued", "sending")
