"""One customer, many channels: the agent answers on another channel than the customer wrote from,
sends files, and provider receipts that outrun the send's own answer are not lost.

The provider side is the local fake Telegram Bot API; storage runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from helpline.bootstrap import Container, build_container
from helpline.channels.base import OutboundMessage, ReplyOption, StatusReceipt
from helpline.channels.telegram.send import TelegramSender
from helpline.domain.access import Viewer
from helpline.domain.conversations import Channel, DeliveryStatus
from helpline.domain.delivery import Delivered, RetryPolicy
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.attachments import store_upload
from helpline.services.channel_accounts import do_create_channel_account
from helpline.services.contacts import do_add_identity
from helpline.services.conversations import do_agent_reply
from helpline.services.inbound import ingest_inbound
from helpline.services.outbox import do_claim_due, do_record_outcome
from helpline.services.receipts import record_receipts
from helpline.storage.migrate import downgrade, upgrade
from helpline.storage.models import Message, PendingReceipt
from helpline.web.app import create_app
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegram, running_fake_telegram
from tests.integration.conftest import MakeStaff

TOKEN = "424242:reply-channels-token"
TELEGRAM_USER = 987654321
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with running_fake_telegram(TOKEN) as server:
        yield server


@pytest.fixture
async def app_container(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    c = build_container(dataclasses.replace(make_settings(database_url), data_dir=str(tmp_path)))
    yield c
    await c.close()


async def webchat_customer_with_telegram(c: Container, fake: FakeTelegram) -> tuple[int, int, int]:
    """A conversation that came in by web chat from a customer who also has a Telegram identity."""
    async with c.uow() as uow:
        site = await do_create_channel_account(uow, Channel.WEBCHAT, "site", {}, None)
        bot = await do_create_channel_account(
            uow, Channel.TELEGRAM, "bot", {"bot_token": TOKEN, "api_base": fake.base_url}, None
        )
        await uow.commit()
    result = await ingest_inbound(
        c.uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=site.id,
            identity_kind=IdentityKind.WEBCHAT,
            identity_value="visitor-1",
            text="Пишу с сайта, ответьте в Телеграм",
            provider_message_id=None,
            sent_at=datetime.now(UTC),
        ),
    )
    async with c.uow() as uow:
        await do_add_identity(
            uow, result.contact_id, IdentityKind.TELEGRAM, str(TELEGRAM_USER), verified=True
        )
        await uow.commit()
    return result.conversation_id, site.id, bot.id


async def test_agent_answers_through_another_reachable_channel(
    app_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    conversation_id, site_id, bot_id = await webchat_customer_with_telegram(app_container, fake)
    agent = await make_staff(Role.SUPERVISOR)
    transport = httpx.ASGITransport(app=create_app(app_container, own_container=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        reachable = await api.get(
            f"/api/v1/conversations/{conversation_id}/reachable-channels", headers=agent.headers
        )
        assert reachable.status_code == 200, reachable.text
        assert [(r["account_id"], r["channel"], r["address"]) for r in reachable.json()] == [
            (site_id, "webchat", None),  # the widget itself: no provider address
            (bot_id, "telegram", str(TELEGRAM_USER)),
        ]
        reply = await api.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "Отвечаю в Телеграм", "channel_account_id": bot_id},
            headers=agent.headers,
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["channel_account_id"] == bot_id
        assert reply.json()["conversation_id"] == conversation_id  # one timeline

        # An account where the customer has no address is refused, and nothing is stored.
        async with app_container.uow() as uow:
            other = await do_create_channel_account(
                uow, Channel.VIBER, "viber", {"auth_token": "x" * 20}, None
            )
            await uow.commit()
        before = len(
            (await api.get(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers)).json()
        )
        refused = await api.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "nope", "channel_account_id": other.id},
            headers=agent.headers,
        )
        assert refused.status_code == 422
        assert "channel_account_id" in refused.text
        after = len(
            (await api.get(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers)).json()
        )
        assert after == before

    worker = app_container.delivery_worker(policy=RetryPolicy(max_attempts=3))
    assert await worker.run_once() == 1
    assert [m["text"] for m in fake.sent_messages(TELEGRAM_USER)] == ["Отвечаю в Телеграм"]


async def test_files_go_out_through_the_provider_media_api(
    app_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    conversation_id, _, bot_id = await webchat_customer_with_telegram(app_container, fake)
    agent = await make_staff(Role.SUPERVISOR)
    upload = await store_upload(app_container.files, PNG, "схема проезда.png")
    async with app_container.uow() as uow:
        await do_agent_reply(
            uow,
            Viewer(agent.id, Role.SUPERVISOR, frozenset()),
            conversation_id,
            "Схема проезда",
            via_account_id=bot_id,
            address_kinds={"telegram": "telegram"},
            attachments=[upload],
        )
        await uow.commit()
    assert await app_container.delivery_worker().run_once() == 1
    photo = fake.calls("sendPhoto")
    assert len(photo) == 1
    assert photo[0]["caption"] == "Схема проезда"
    assert [m.get("caption") for m in fake.sent_messages(TELEGRAM_USER)] == ["Схема проезда"]


async def test_options_render_as_an_inline_keyboard(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient() as http:
        outcome = await TelegramSender(http).send(
            {"bot_token": TOKEN, "api_base": fake.base_url},
            OutboundMessage(
                recipient=str(TELEGRAM_USER),
                text="Чем помочь?",
                options=(ReplyOption("draw", "Когда тираж?"), ReplyOption("operator", "Оператор")),
            ),
        )
    assert isinstance(outcome, Delivered)
    markup = fake.calls("sendMessage")[0]["reply_markup"]
    assert markup == {
        "inline_keyboard": [
            [{"text": "Когда тираж?", "callback_data": "draw"}],
            [{"text": "Оператор", "callback_data": "operator"}],
        ]
    }


async def test_a_receipt_that_outruns_the_send_answer_is_applied_when_the_id_is_recorded(
    app_container: Container, make_staff: MakeStaff, fake: FakeTelegram
) -> None:
    conversation_id, _, bot_id = await webchat_customer_with_telegram(app_container, fake)
    agent = await make_staff(Role.SUPERVISOR)
    async with app_container.uow() as uow:
        message = await do_agent_reply(
            uow,
            Viewer(agent.id, Role.SUPERVISOR, frozenset()),
            conversation_id,
            "hello",
            via_account_id=bot_id,
            address_kinds={"telegram": "telegram"},
        )
        await uow.commit()
    async with app_container.uow() as uow:
        [item_id] = await do_claim_due(uow, 10, lease=timedelta(seconds=30))
        await uow.commit()
    # The provider's "delivered" arrives while our send is still waiting for its answer.
    now = datetime.now(UTC)
    await record_receipts(app_container.uow, bot_id, [StatusReceipt("p-1", DeliveryStatus.DELIVERED, now)])
    async with app_container.uow() as uow:
        assert len(list(await uow.session.scalars(select(PendingReceipt)))) == 1
        await do_record_outcome(uow, item_id, Delivered("p-1"), RetryPolicy(), 0.5)
        await uow.commit()
    async with app_container.uow() as uow:
        stored = await uow.session.get(Message, message.id)
        assert stored is not None
        assert stored.delivery_status == "delivered"
        assert list(await uow.session.scalars(select(PendingReceipt))) == []
    # Later receipts move it on; an older one never moves it back.
    await record_receipts(app_container.uow, bot_id, [StatusReceipt("p-1", DeliveryStatus.READ, now)])
    await record_receipts(app_container.uow, bot_id, [StatusReceipt("p-1", DeliveryStatus.DELIVERED, now)])
    async with app_container.uow() as uow:
        stored = await uow.session.get(Message, message.id)
        assert stored is not None
        assert stored.delivery_status == "read"


async def test_a_web_chat_reply_is_sent_once_stored_and_old_ones_are_marked_on_upgrade(
    app_container: Container, make_staff: MakeStaff, fake: FakeTelegram, database_url: str
) -> None:
    """The widget reads replies from storage: there is no provider to wait for. Replies stored
    before this was so stayed "queued" for ever; the migration marks them sent."""
    conversation_id, _, _ = await webchat_customer_with_telegram(app_container, fake)
    agent = await make_staff(Role.SUPERVISOR)
    viewer = Viewer(agent.id, Role.SUPERVISOR, frozenset())
    async with app_container.uow() as uow:
        reply = await do_agent_reply(uow, viewer, conversation_id, "Здравствуйте!")
        await uow.commit()
    async with app_container.uow() as uow:
        stored = await uow.session.get(Message, reply.id)
        assert stored is not None
        assert (stored.delivery_status, stored.sent_at is not None) == (DeliveryStatus.SENT.value, True)
        stored.delivery_status, stored.sent_at = DeliveryStatus.QUEUED.value, None  # as it was stored
        await uow.commit()
    assert await app_container.delivery_worker().run_once() == 0  # nothing was queued for a worker

    try:
        await asyncio.to_thread(downgrade, database_url, "0008")
    finally:
        await asyncio.to_thread(upgrade, database_url)
    async with app_container.uow() as uow:
        marked = await uow.session.get(Message, reply.id)
        assert marked is not None
        assert marked.delivery_status == DeliveryStatus.SENT.value
        assert marked.sent_at == marked.created_at
