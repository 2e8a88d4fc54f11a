"""In-process event bus: the embedded default, one `helpline serve` process.

Subscribers get their own bounded queue, so one slow websocket cannot hold up the others;
when a queue is full the oldest event is dropped and the subscriber is told to resync.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from helpline.domain.events import Event

RESYNC = Event(type="resync")


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
