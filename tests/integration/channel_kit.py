"""What every provider's channel tests do the same way: count rows, reply as an agent through the
API, read back a reply's delivery state with its outbox item, and make a Telegram account and
its customers' messages for the ingest tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from helpline.bootstrap import Container
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.services.channel_accounts import do_create_channel_account
from helpline.storage.models import Message, OutboxItem
from tests.integration.conftest import Staff


async def count(c: Container, model: Any) -> int:
    async with c.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def agent_reply(api: httpx.AsyncClient, agent: Staff, text: str) -> int:
    conversations = (await api.get("/api/v1/conversations", headers=agent.headers)).json()
    reply = await api.post(
        f"/api/v1/conversations/{conversations[0]['id']}/messages", json={"text": text}, headers=agent.headers
    )
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


async def message_state(c: Container, message_id: int) -> tuple[str, str | None, OutboxItem]:
    async with c.uow() as uow:
        message = await uow.session.get(Message, message_id)
        item = await uow.session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    assert message is not None
    assert item is not None
    return message.delivery_status, message.delivery_error, item


async def telegram_account(c: Container) -> int:
    async with c.uow() as uow:
        created = await do_create_channel_account(uow, Channel.TELEGRAM, "bot", {}, None)
        await uow.commit()
    return created.id


def telegram_message(account_id: int, customer: int, n: int) -> InboundMessage:
    """Customer `customer`'s n-th message; its provider id is "customer:n"."""
    return InboundMessage(
        channel=Channel.TELEGRAM,
        channel_account_id=account_id,
        identity_kind=IdentityKind.TELEGRAM,
        identity_value=str(customer),
        text=f"message {n}",
        provider_message_id=f"{customer}:{n}",
        sent_at=datetime.now(UTC),
    )


async def until(condition: Callable[[], bool]) -> None:
    """Wait (up to 5 s) for a fake to finish a request whose answer the client gave up on: the
    provider still acts on it, as a real one whose answer was lost would."""
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the fake never finished that request")
