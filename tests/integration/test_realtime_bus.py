"""Redis fan-out between instances, against the real Redis server `make test` starts."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from helpline.domain.events import Event
from helpline.realtime.bus import InProcessBus
from helpline.realtime.redis_bus import RedisBus
from tests.conftest import redis_url

_channels = itertools.count()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two instances' buses on one Redis channel of their own (tests do not hear each other)."""
    channel = f"helpline:test:{next(_channels)}:{id(object())}"
    a, b = RedisBus(redis_url(), channel=channel), RedisBus(redis_url(), channel=channel)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


def message(conversation_id: int, team_id: int | None = None) -> Event:
    return Event(
        type="message.created",
        conversation_id=conversation_id,
        team_id=team_id,
        payload={"conversation_id": conversation_id, "text": "Здравствуйте — مرحبا"},
    )


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), timeout=5)


async def test_an_event_reaches_the_other_instance_once_and_its_own_instance_once(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    a, b = pair
    async with b.subscribe() as on_b:
        await a.publish([message(1), message(2)])
        assert [(await next_event(on_b)).conversation_id for _ in range(2)] == [1, 2]
    async with a.subscribe() as on_a, b.subscribe() as on_b:
        await a.publish([message(5)])
        assert (await next_event(on_a)).conversation_id == 5
        assert (await next_event(on_b)).payload["text"] == "Здравствуйте — مرحبا"
        await b.publish([message(6)])
        # A's subscriber gets 6 relayed from B, and not 5 a second time through Redis.
        assert (await next_event(on_a)).conversation_id == 6
        assert (await next_event(on_b)).conversation_id == 6
        await asyncio.sleep(0.2)
        assert on_a.empty()
        assert on_b.empty()


async def test_a_subscriber_only_gets_what_it_accepts(pair: tuple[RedisBus, RedisBus]) -> None:
    a, b = pair
    async with b.subscribe(lambda e: e.team_id == 7) as team_seven:
        await a.publish([message(1, team_id=3), message(2, team_id=7)])
        assert (await next_event(team_seven)).conversation_id == 2
        await asyncio.sleep(0.2)
        assert team_seven.empty()


async def test_garbage_on_the_channel_is_ignored(pair: tuple[RedisBus, RedisBus]) -> None:
    a, b = pair
    channel = a._channel
    client = Redis.from_url(redis_url())
    try:
        async with b.subscribe() as on_b:
            await client.publish(channel, "not an envelope")
            await client.publish(channel, 'someone|{"type": 5}')
            await client.publish(channel, "someone|[1,2]")
            await a.publish([message(9)])
            assert (await next_event(on_b)).conversation_id == 9
    finally:
        await client.aclose()


async def test_a_lost_subscription_comes_back_and_tells_subscribers_to_resync(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    a, b = pair
    admin = Redis.from_url(redis_url())
    try:
        async with b.subscribe() as on_b:
            killed = await admin.client_kill_filter(_type="pubsub", skipme=True)
            assert killed >= 1
            assert (await next_event(on_b)).type == "resync"
            # Let the new subscription settle, then events flow again.
            for _ in range(50):
                if b.subscriptions >= 2 and a.subscriptions >= 2:
                    break
                await asyncio.sleep(0.1)
            await a.publish([message(11)])
            assert (await next_event(on_b)).conversation_id == 11
    finally:
        await admin.aclose()


async def test_an_unreachable_redis_stops_start_with_a_clear_error() -> None:
    bus = RedisBus("redis://127.0.0.1:9/0", max_backoff=0.1, start_timeout=1)
    with pytest.raises(ConnectionError, match=re.escape("127.0.0.1:9")):
        await bus.start()
    await bus.close()


async def test_a_full_queue_drops_the_oldest_and_asks_for_a_resync() -> None:
    local = InProcessBus(queue_size=2)
    async with local.subscribe() as queue:
        await local.publish([message(1), message(2), message(3)])
        assert (await next_event(queue)).conversation_id == 2
        assert (await next_event(queue)).type == "resync"
        assert queue.empty()
