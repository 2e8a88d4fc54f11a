"""Event buses: in-process (the embedded default, one `helpline serve` process) and the
`EventBus` protocol that the Redis fan-out (helpline.realtime.redis_bus) also implements.

Subscribers get their own bounded queue, so one slow websocket cannot hold up the others;
when a queue is full the oldest event is dropped and the subscriber is told to resync.
A subscriber passes the rule for what it wants (`accept`), which is applied while
publishing: with hundreds of agent sockets open, an event wakes only the sockets that
will actually send it, instead of every one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from helpline.domain.events import Event

#: Tells a subscriber it may have missed events: reload what it shows.
RESYNC = Event(type="resync")

Accept = Callable[[Event], bool]


def accept_all(_event: Event) -> bool:
    return True


class EventBus(Protocol):
    """What the app needs from a bus: publish after commit, per-subscriber queues, a lifecycle."""

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, accept: Accept = accept_all) -> AbstractAsyncContextManager[asyncio.Queue[Event]]: ...

    @property
    def subscriber_count(self) -> int: ...

    async def start(self) -> None:
        """Called when the app starts (before it serves requests); must be idempotent."""

    async def close(self) -> None:
        """Called when the app stops; must be idempotent."""


@dataclass(eq=False, slots=True)
class _Subscriber:
    queue: asyncio.Queue[Event]
    accept: Accept


class InProcessBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()

    async def publish(self, events: Sequence[Event]) -> None:
        self.deliver(events)

    def deliver(self, events: Sequence[Event]) -> None:
        """Hand `events` to this process's subscribers (never blocks, never raises)."""
        for subscriber in list(self._subscribers):
            queue = subscriber.queue
            for event in events:
                if event is not RESYNC and not subscriber.accept(event):
                    continue
                if queue.full():
                    queue.get_nowait()
                    queue.put_nowait(RESYNC)
                    break
                queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, accept: Accept = accept_all) -> AsyncIterator[asyncio.Queue[Event]]:
        subscriber = _Subscriber(asyncio.Queue(self._queue_size), accept)
        self._subscribers.add(subscriber)
        try:
            yield subscriber.queue
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Nothing to start: the bus lives in this process."""

    async def close(self) -> None:
        """Nothing to release."""
