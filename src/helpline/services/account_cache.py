"""Channel account settings as webhooks need them, read from the database at most every few seconds.

Every webhook request needs its account's secret before anything else; at hundreds of webhooks
per second, a transaction per request just to read a row that changes a few times a year is the
single biggest cost of the route. Changes made through this process are seen at once
(`invalidate`); other instances see them within `ttl_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from helpline.storage.models import ChannelAccount
from helpline.storage.uow import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class AccountSettings:
    id: int
    channel: str
    is_active: bool
    config: Mapping[str, Any]


class ChannelAccountCache:
    def __init__(self, ttl_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[int, tuple[float, AccountSettings | None]] = {}

    async def get(self, make_uow: UnitOfWorkFactory, account_id: int) -> AccountSettings | None:
        now = self._clock()
        cached = self._entries.get(account_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        async with make_uow() as uow:
            account = await uow.session.get(ChannelAccount, account_id)
            settings = (
                AccountSettings(account.id, account.channel, account.is_active, dict(account.config or {}))
                if account is not None
                else None
            )
        if len(self._entries) > 10_000:  # unknown ids probed at random must not grow memory
            self._entries.clear()
        self._entries[account_id] = (now, settings)
        return settings

    def invalidate(self, account_id: int | None = None) -> None:
        if account_id is None:
            self._entries.clear()
        else:
            self._entries.pop(account_id, None)
