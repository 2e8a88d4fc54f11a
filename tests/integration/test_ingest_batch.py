"""Group commit: concurrent webhooks share transactions, yet each is stored exactly once and
committed before its caller hears back; a failing batch falls back to one message at a time."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from helpline.bootstrap import Container
from helpline.services.ingest_batch import IngestBatcher
from helpline.storage.models import Conversation, Message
from tests.integration.channel_kit import telegram_account, telegram_message


async def counts(container: Container) -> tuple[int, int]:
    async with container.uow() as uow:
        messages = await uow.session.scalar(select(func.count()).select_from(Message))
        conversations = await uow.session.scalar(select(func.count()).select_from(Conversation))
    return int(messages or 0), int(conversations or 0)


async def test_concurrent_messages_and_retries_are_each_stored_once(container: Container) -> None:
    account_id = await telegram_account(container)
    batcher = IngestBatcher(container.uow, lanes=2, max_batch=16)
    # 5 customers x 20 messages, and every message delivered twice (a provider retry), all at once.
    deliveries = [telegram_message(account_id, 1000 + c, n) for c in range(5) for n in range(20)] * 2
    results = await asyncio.gather(*(batcher.ingest(m) for m in deliveries))
    assert sum(r.duplicate for r in results) == 100
    assert await counts(container) == (100, 5)
    # Each caller got the id of the stored message for its provider id.
    by_provider: dict[str | None, set[int]] = {}
    for delivered, result in zip(deliveries, results, strict=True):
        by_provider.setdefault(delivered.provider_message_id, set()).add(result.message_id)
    assert all(len(ids) == 1 for ids in by_provider.values())


async def test_a_bad_message_fails_alone_and_its_batch_neighbours_are_stored(container: Container) -> None:
    account_id = await telegram_account(container)
    batcher = IngestBatcher(container.uow, lanes=1, max_batch=16)
    good = [telegram_message(account_id, 2000 + n, 0) for n in range(6)]
    bad = telegram_message(987_654, 2999, 0)  # no such channel account
    outcomes = await asyncio.gather(
        *(batcher.ingest(m) for m in [*good[:3], bad, *good[3:]]), return_exceptions=True
    )
    assert isinstance(outcomes[3], Exception)
    assert all(not isinstance(o, BaseException) for n, o in enumerate(outcomes) if n != 3)
    assert await counts(container) == (6, 6)


async def test_a_retry_waits_for_the_batch_holding_its_sender_instead_of_failing_it(
    container: Container,
) -> None:
    from structlog.testing import capture_logs

    account_id = await telegram_account(container)
    batcher = IngestBatcher(container.uow, lanes=2, max_batch=4)
    first = [telegram_message(account_id, 3000 + c, 0) for c in range(4)]
    # The retry of the first message arrives with other customers' messages: without care the
    # second lane would store it beside the first lane's uncommitted original and fail.
    second = [first[0], *(telegram_message(account_id, 3100 + c, 0) for c in range(3))]
    with capture_logs() as logs:
        results = await asyncio.gather(*(batcher.ingest(m) for m in [*first, *second]))
    assert [e for e in logs if e["event"] == "ingest_batch_split"] == []
    assert results[4].duplicate
    assert results[4].message_id == results[0].message_id
    assert await counts(container) == (7, 7)


async def test_one_senders_messages_are_stored_in_arrival_order(container: Container) -> None:
    account_id = await telegram_account(container)
    batcher = IngestBatcher(container.uow, lanes=3, max_batch=2)
    burst = [telegram_message(account_id, 4000, n) for n in range(9)]
    results = await asyncio.gather(*(batcher.ingest(m) for m in burst))
    ids = [r.message_id for r in results]
    assert ids == sorted(ids)
