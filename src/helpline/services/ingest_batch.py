"""Group commit for inbound messages: webhooks that arrive together share one transaction.

Under load most of a webhook's cost is not its own work but the transaction around it (pool
check-out, BEGIN, COMMIT and their round trips). Requests that are waiting at the same moment
are stored in one transaction, and every request still answers only after *its* message is
committed, so "stored before acknowledged" holds exactly as before. When nothing else is
waiting a batch is one message and nothing changes: no timer, no added latency.

Two batches in flight at once never hold messages of the same sender: a provider's retry of a
message, or a customer's next message, waits for the batch that holds the first to commit. Had
they run side by side, each transaction would miss the other's uncommitted rows (the message,
a new contact, its conversation) and one would fail on a unique constraint; the benchmark saw
~100 such failed batches per 30,000 webhooks, each rolled back and redone message by message.

If a batch fails all the same (a retry raced another process, a deadlock between two batches
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
_Sender = tuple[int, str, str]


def _sender(msg: InboundMessage) -> _Sender:
    return (msg.channel_account_id, msg.identity_kind.value, msg.identity_value)


class IngestBatcher:
    """Stores messages through at most `lanes` concurrent transactions of up to `max_batch` each."""

    def __init__(self, make_uow: UnitOfWorkFactory, *, lanes: int = 4, max_batch: int = 32) -> None:
        self._make_uow = make_uow
        self._lanes = lanes
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._busy_lanes = 0
        #: Senders with a message in a batch being stored now (see the module docstring).
        self._in_flight: set[_Sender] = set()

    async def ingest(self, msg: InboundMessage, default_region: str = "RU") -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((msg, default_region, future))
        if self._busy_lanes < self._lanes:
            self._busy_lanes += 1
            asyncio.get_running_loop().create_task(self._lane())
        return await future

    async def _lane(self) -> None:
        try:
            while batch := self._take():
                senders = {_sender(msg) for msg, _, _ in batch}
                self._in_flight |= senders
                try:
                    await self._store(batch)
                finally:
                    self._in_flight -= senders
        finally:
            self._busy_lanes -= 1

    def _take(self) -> list[_Waiting]:
        """The next batch: waiting messages in arrival order, skipping senders another lane holds.

        A skipped message stays first in line; the lane that holds its sender takes it after
        committing (it loops while anything waits), so nothing is left behind.
        """
        batch: list[_Waiting] = []
        kept: list[_Waiting] = []
        for waiting in self._waiting:
            if len(batch) < self._max_batch and _sender(waiting[0]) not in self._in_flight:
                batch.append(waiting)
            else:
                kept.append(waiting)
        self._waiting = kept
        return batch

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
