"""Group commit for inbound messages: webhooks that arrive together share one transaction.

Under load most of a webhook's cost is not its own work but the transaction around it (pool
check-out, BEGIN, COMMIT and their round trips). Requests that are waiting at the same moment
are stored in one transaction, and every request still answers only after *its* message is
committed, so "stored before acknowledged" holds exactly as before. When nothing else is
waiting a batch is one message and nothing changes: no timer, no added latency.

If a batch fails (a provider retry raced another process, a deadlock between two batches
touching the same conversations) it is rolled back as a whole and its messages are stored one
by one, each in its own transaction, so one bad message never fails its neighbours.
"""

from __future__ import annotations

import asyncio

from helpline.domain.inbound import InboundMessage
from helpline.logs import get_logger
from helpline.services.inbound import IngestResult, do_ingest_inbound, ingest_inbound
from helpline.storage.uow import UnitOfWorkFactory

log = get_logger(__name__)

_Waiting = tuple[InboundMessage, str, "asyncio.Future[IngestResult]"]


class IngestBatcher:
    """Stores messages through at most `lanes` concurrent transactions of up to `max_batch` each."""

    def __init__(self, make_uow: UnitOfWorkFactory, *, lanes: int = 4, max_batch: int = 32) -> None:
        self._make_uow = make_uow
        self._lanes = lanes
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._busy_lanes = 0

    async def ingest(self, msg: InboundMessage, default_region: str = "RU") -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((msg, default_region, future))
        if self._busy_lanes < self._lanes:
            self._busy_lanes += 1
            asyncio.get_running_loop().create_task(self._lane())
        return await future

    async def _lane(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._store(batch)
        finally:
            self._busy_lanes -= 1

    async def _store(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                async with self._make_uow() as uow:
                    results = [await do_ingest_inbound(uow, msg, region) for msg, region, _ in batch]
                    await uow.commit()
            except Exception as exc:  # rolled back as a whole: store each on its own below
                log.info("ingest_batch_split", size=len(batch), error=type(exc).__name__)
            else:
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                return
        for msg, region, future in batch:
            try:
                result = await ingest_inbound(self._make_uow, msg, region)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
