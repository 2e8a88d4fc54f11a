"""Channel accounts: each connected bot, number or site that messages arrive through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from helpline.domain.conversations import Channel
from helpline.storage.models import ChannelAccount
from helpline.storage.uow import UnitOfWork


async def do_ensure_channel_account(
    uow: UnitOfWork,
    channel: Channel,
    name: str,
    config: dict[str, Any] | None = None,
    team_id: int | None = None,
) -> ChannelAccount:
    """The account (channel, name), created on first use; idempotent so start-up can call it.

    `team_id` only applies when the account is created: an existing account keeps the inbox
    team an admin chose for it.
    """
    account = await uow.session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel.value, ChannelAccount.name == name)
    )
    if account is None:
        account = ChannelAccount(
            channel=channel.value,
            name=name,
            config=config or {},
            is_active=True,
            created_at=uow.now(),
            team_id=team_id,
        )
        uow.session.add(account)
        await uow.session.flush()
    return account


async def list_channel_accounts(uow: UnitOfWork) -> list[ChannelAccount]:
    return list(await uow.session.scalars(select(ChannelAccount).order_by(ChannelAccount.id)))
