"""Event buses: in-process (the embedded default, one `helpline serve` process) and the
`EventBus` protocol that the Redis fan-out (helpline.realtime.redis_bus) also implements.

Subscribers get their own bounded queue, so one slow websocket cannot hold up the others;
when a queue is full the oldest event is dropped and the subscriber is told to resync.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from helpline.domain.events import Event

#: Tells a subscriber it may have missed events: reload what it shows.
RESYNC = Event(type="resync")


class EventBus(Protocol):
    """What the app needs from a bus: publish after commit, per-subscriber queues, a lifecycle."""

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]: ...

    @property
    def subscriber_count(self) -> int: ...

    async def start(self) -> None:
        """Called when the app starts (before it serves requests)."""

    async def close(self) -> None:
        """Called when the app stops; must be idempotent."""


class InProcessBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()

    async def publish(self, events: Sequence[Event]) -> None:
        for queue in list(self._subscribers):
            for event in events:
                if queue.full():
                    queue.get_nowait()
                    queue.put_nowait(RESYNC)
                    break
                queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Nothing to start: the bus lives in this process."""

    async def close(self) -> None:
        """Nothing to release."""
