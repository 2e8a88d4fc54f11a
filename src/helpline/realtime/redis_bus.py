"""Fan-out between `helpline serve` instances through Redis pub/sub.

Each instance hands its own events to its own subscribers at once (an agent on the same
instance does not wait for a Redis round trip, and keeps working if Redis is briefly
down) and publishes them to one Redis channel; every instance relays what the *others*
published to its subscribers. Pub/sub is fire-and-forget: an instance that loses its
subscription may miss events, so after every (re)subscription its subscribers get
`resync` and reload what they show from the database, which is the source of truth.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from helpline.domain.events import Event, from_json, to_json
from helpline.logs import get_logger
from helpline.realtime.bus import RESYNC, Accept, InProcessBus, accept_all

log = get_logger(__name__)

CHANNEL = "helpline:events"
_SEPARATOR = "|"


def safe_url(url: str) -> str:
    """The URL without its password, fit for an error message or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        queue_size: int = 1000,
        max_backoff: float = 5.0,
        start_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._channel = channel
        self._max_backoff = max_backoff
        self._start_timeout = start_timeout
        self._local = InProcessBus(queue_size)
        #: Tells our own messages apart when Redis echoes them back.
        self.origin = secrets.token_hex(8)
        self._client: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        #: How many times the subscription was (re)established: 1 after a clean start.
        self.subscriptions = 0

    async def start(self) -> None:
        if self._listener is not None:
            return
        self._client = Redis.from_url(self._url, health_check_interval=30)
        self._listener = asyncio.create_task(self._listen(), name="helpline-redis-bus")
        # Serve only once subscribed: an event published before that would be lost to us.
        waiter = asyncio.ensure_future(self._subscribed.wait())
        done, _ = await asyncio.wait(
            {waiter, self._listener}, timeout=self._start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return
        waiter.cancel()
        if self._listener in done:
            self._listener.result()  # re-raises why the listener stopped
        raise ConnectionError(f"cannot subscribe to Redis at {safe_url(self._url)}")

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self._local.deliver(events)
        if self._client is None:
            raise RuntimeError("RedisBus.publish before start()")
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self._channel, f"{self.origin}{_SEPARATOR}{to_json(event)}")
                await pipe.execute()
        except (RedisError, OSError) as error:
            # The change is committed and this instance's consoles have it; other instances'
            # consoles catch up on their next resync or reload.
            log.warning("redis_publish_failed", error=type(error).__name__, events=len(events))

    @asynccontextmanager
    async def subscribe(self, accept: Accept = accept_all) -> AsyncIterator[asyncio.Queue[Event]]:
        async with self._local.subscribe(accept) as queue:
            yield queue

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    async def _listen(self) -> None:
        assert self._client is not None
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    self._on_message(message)
                    backoff = 0.1
            except (RedisError, OSError) as error:
                log.warning("redis_subscription_lost", error=type(error).__name__, retry_in=backoff)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # Also sent when redis-py silently reconnects and resubscribes: events may be missing.
            self.subscriptions += 1
            if self.subscriptions > 1:
                log.info("redis_resubscribed", subscriptions=self.subscriptions)
                self._local.deliver([RESYNC])
            self._subscribed.set()
            return
        if kind != "message":
            return
        raw = message["data"]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        origin, _, body = text.partition(_SEPARATOR)
        if origin == self.origin:
            return
        try:
            event = from_json(body)
        except ValueError:
            log.warning("redis_event_malformed", length=len(text))
            return
        self._local.deliver([event])
