"""The outbound delivery worker: claim due outbox items, send them, record each outcome.

It runs inside `helpline serve` by default (one process, the embedded setup) and as any
number of `helpline worker` processes at scale; leases make a killed worker's items come
back to the others. Sending happens outside any database transaction, so a slow provider
never holds a database connection or the SQLite write lock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from datetime import timedelta

from helpline.channels.base import ChannelSender, OutboundFile, OutboundMessage
from helpline.channels.registry import address_kinds
from helpline.domain.delivery import DeliveryOutcome, Rejected, RetryLater, RetryPolicy
from helpline.logs import get_logger
from helpline.services.enqueue import OutboxStatus
from helpline.services.outbox import DeliveryJob, delivery_job, do_claim_due, do_record_outcome
from helpline.storage.files import FileStore
from helpline.storage.uow import UnitOfWork

log = get_logger(__name__)

#: Items claimed (and sent concurrently, one per conversation) per round: also the most a
#: killed worker can leave ambiguous, i.e. possibly re-sent after its lease runs out.
DEFAULT_BATCH = 20


class DeliveryWorker:
    def __init__(
        self,
        make_uow: Callable[[], UnitOfWork],
        senders: Mapping[str, ChannelSender],
        files: FileStore,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 0.25,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._make_uow = make_uow
        self._senders = senders
        self._files = files
        self.policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._lease = lease
        self._poll_seconds = poll_seconds
        self._jitter = jitter
        self._wake = asyncio.Event()
        self._address_kinds = address_kinds()

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # a bad item or a database hiccup must not stop delivery for good
                log.exception("delivery_round_failed")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()

    async def run_once(self) -> int:
        """One round: claim a batch and deliver it concurrently; returns how many were handled.

        The claim holds at most one item per conversation (the oldest pending), so items sent
        side by side never belong to the same reader and order is kept without waiting here.
        """
        async with self._make_uow() as uow:
            ids = await do_claim_due(uow, self._batch_size, self._lease)
            await uow.commit()
        if not ids:
            return 0
        async with self._make_uow() as uow:
            jobs = [await delivery_job(uow, item_id, self._address_kinds) for item_id in ids]
        await asyncio.gather(*(self._deliver(job) for job in jobs if job is not None))
        return len(ids)

    async def _deliver(self, job: DeliveryJob) -> None:
        outcome = await self._attempt(job)
        async with self._make_uow() as uow:
            status = await do_record_outcome(uow, job.item_id, outcome, self.policy, self._jitter())
            await uow.commit()
        log.info(
            "delivery_attempt",
            message_id=job.message_id,
            channel=job.channel,
            attempt=job.attempts,
            outcome=type(outcome).__name__,
            status=status.value,
        )
        if status is OutboxStatus.QUEUED:
            self.wake()  # maybe due again soon; the poll would find it anyway

    async def _attempt(self, job: DeliveryJob) -> DeliveryOutcome:
        sender = self._senders.get(job.channel)
        if sender is None:
            return Rejected(f"no adapter sends {job.channel} messages yet")
        if not job.recipient:
            return Rejected("the customer has no address on this channel")
        try:
            attached = [
                OutboundFile(filename, content_type, await self._files.get(key))
                for filename, content_type, key in job.files
            ]
            message = OutboundMessage(
                recipient=job.recipient,
                text=job.text,
                files=tuple(attached),
                # The same key on every attempt: providers that deduplicate (VK's random_id)
                # turn a re-send after a crash into a no-op.
                idempotency_key=f"helpline-message-{job.message_id}",
            )
            return await sender.send(job.config, message)
        except FileNotFoundError:
            return Rejected("an attached file is missing from the file store")
        except Exception as exc:  # an adapter bug is a failed attempt, not a dead worker
            log.exception("sender_crashed", channel=job.channel)
            return RetryLater(f"adapter error ({type(exc).__name__})")
