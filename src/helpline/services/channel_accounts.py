"""Channel accounts: each connected bot, number or site that messages arrive through."""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import select

from helpline.domain.conversations import Channel
from helpline.domain.errors import Conflict, DomainError, NotFound
from helpline.storage.models import ChannelAccount, Team
from helpline.storage.uow import UnitOfWork


class Unset(Enum):
    """Marks "leave as it is" where None ("no team") is a meaningful value."""

    UNSET = "unset"


UNSET = Unset.UNSET


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


def mask_secret(value: object) -> str:
    """What an admin sees of a stored secret: enough to recognise it, not to use it."""
    text = str(value)
    return "•" * 8 + text[-4:] if len(text) > 8 else "•" * 8


def masked_config(config: dict[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    return {k: (mask_secret(v) if k in secret_keys and v else v) for k, v in config.items()}


def _check_config(config: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(value, str | int | bool) or (isinstance(value, str) and len(value) > 2000):
            raise DomainError("setting {key} must be a short text, number or flag", field="config", key=key)
        cleaned[key] = value.strip() if isinstance(value, str) else value
    return cleaned


def _check_required(config: dict[str, Any], required: frozenset[str]) -> None:
    missing = sorted(k for k in required if config.get(k) in (None, ""))
    if missing:
        raise DomainError("missing settings: {keys}", field="config", keys=missing)


async def do_create_channel_account(
    uow: UnitOfWork,
    channel: Channel,
    name: str,
    config: dict[str, Any],
    team_id: int | None,
    required: frozenset[str] = frozenset(),
) -> ChannelAccount:
    """A new connected bot, number or site; `required` are the settings its provider cannot work without."""
    name = name.strip()
    if not name:
        raise DomainError("name is empty", field="name")
    config = _check_config(config)
    _check_required(config, required)
    if team_id is not None and await uow.session.get(Team, team_id) is None:
        raise NotFound("no such team", field="team_id")
    exists = await uow.session.scalar(
        select(ChannelAccount.id).where(ChannelAccount.channel == channel.value, ChannelAccount.name == name)
    )
    if exists is not None:
        raise Conflict(
            "a {channel} account named {name} exists", field="name", channel=channel.value, name=repr(name)
        )
    account = ChannelAccount(
        channel=channel.value,
        name=name,
        config=config,
        is_active=True,
        created_at=uow.now(),
        team_id=team_id,
    )
    uow.session.add(account)
    await uow.session.flush()
    return account


async def do_update_channel_account(
    uow: UnitOfWork,
    account_id: int,
    config: dict[str, Any] | None,
    is_active: bool | None,
    secret_keys: frozenset[str],
    required: frozenset[str] = frozenset(),
    team_id: int | Unset | None = UNSET,
) -> ChannelAccount:
    """Change settings; a secret sent back masked (as the admin saw it) or empty keeps its value."""
    account = await uow.session.get(ChannelAccount, account_id, with_for_update=True)
    if account is None:
        raise NotFound("no such channel account", field="account_id")
    if config is not None:
        merged = dict(account.config or {})
        for key, value in _check_config(config).items():
            if key in secret_keys and (value == "" or str(value).startswith("•")):
                continue
            merged[key] = value
        _check_required(merged, required)
        account.config = merged
    if not isinstance(team_id, Unset):
        if team_id is not None and await uow.session.get(Team, team_id) is None:
            raise NotFound("no such team", field="team_id")
        account.team_id = team_id
    if is_active is not None:
        account.is_active = is_active
    await uow.session.flush()
    return account
