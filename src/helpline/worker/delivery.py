"""The outbound delivery worker: claim due outbox items, send them, record each outcome.

It runs inside `helpline serve` by default (one process, the embedded setup) and as any
number of `helpline worker` processes at scale; leases make a killed worker's items come
back to the others. Sending happens outside any database transaction, so a slow provider
never holds a database connection or the SQLite write lock.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from helpline.channels.base import ChannelSender, OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.registry import address_kinds
from helpline.domain.delivery import DeliveryOutcome, Rejected, RetryLater, RetryPolicy
from helpline.logs import get_logger
from helpline.services.enqueue import KIND_BOT_TURN, OutboxStatus
from helpline.services.outbox import (
    DeliveryJob,
    claimed_kinds,
    delivery_job,
    do_claim_due,
    do_record_outcome,
    do_retry_item,
)
from helpline.storage.files import FileStore
from helpline.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from helpline.bot.faq_bot import BotTurnRunner

log = get_logger(__name__)

#: Items claimed (and sent concurrently, one per conversation) per round: also the most a
#: killed worker can leave ambiguous, i.e. possibly re-sent after its lease runs out.
DEFAULT_BATCH = 20

#: A bot turn that fails this often (a bug, the database away) hands the customer to people.
BOT_TURN_ATTEMPTS = 3
#: How often idle bot sessions are looked for and closed as abandoned.
IDLE_SWEEP_SECONDS = 60.0
#: How often the knowledge base's change counter is read (one row), so an edit is learnt
#: before the next customer asks rather than when they do.
KNOWLEDGE_CHECK_SECONDS = 5.0


class _Every:
    """A chore the worker's loop (which turns several times a second) does at most once per
    `seconds`, the first time at once."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._seconds
        return True


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
        bot: BotTurnRunner | None = None,
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
        self._bot = bot
        self._idle_sweep = _Every(IDLE_SWEEP_SECONDS)
        self._knowledge_check = _Every(KNOWLEDGE_CHECK_SECONDS)

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        warm_up = asyncio.create_task(self._bot.warm_up()) if self._bot is not None else None
        try:
            await self._loop(stop)
        finally:
            if warm_up is not None and not warm_up.done():
                warm_up.cancel()

    async def _loop(self, stop: asyncio.Event) -> None:
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
        """One round: claim a batch and work it concurrently; returns how many were handled.

        The claim holds at most one item per conversation (the oldest pending), so items sent
        side by side never belong to the same reader and order is kept without waiting here.
        A bot turn is such an item too: the bot's replies queue behind it, in order.
        """
        await self._sweep_idle_sessions()
        await self._notice_knowledge_changes()
        async with self._make_uow() as uow:
            ids = await do_claim_due(uow, self._batch_size, self._lease)
            await uow.commit()
        if not ids:
            return 0
        async with self._make_uow() as uow:
            kinds = await claimed_kinds(uow, ids)
            jobs = [
                await delivery_job(uow, item_id, self._address_kinds)
                for item_id in ids
                if kinds.get(item_id, (None, 0))[0] != KIND_BOT_TURN
            ]
        turns = [
            (item_id, kinds[item_id][1])
            for item_id in ids
            if kinds.get(item_id, (None, 0))[0] == KIND_BOT_TURN
        ]
        # Every job is waited for, even when one fails: the next round must not start while items
        # of this one are still on the wire, or an item whose lease runs out meanwhile is claimed
        # and sent a second time.
        results = await asyncio.gather(
            *(self._deliver(job) for job in jobs if job is not None),
            *(self._bot_turn(item_id, attempts) for item_id, attempts in turns),
            return_exceptions=True,
        )
        for failure in (r for r in results if isinstance(r, BaseException)):
            if not isinstance(failure, Exception):
                raise failure  # cancelled or interrupted: stop the worker as asked
            log.error("delivery_job_failed", exc_info=failure)
        return len(ids)

    async def _bot_turn(self, item_id: int, attempts: int) -> None:
        if self._bot is None:
            async with self._make_uow() as uow:  # no bot in this process: try again later
                await do_retry_item(uow, item_id, uow.now() + timedelta(seconds=5), "no bot in this worker")
                await uow.commit()
            return
        try:
            await self._bot.run(item_id)
        except Exception as exc:
            log.exception("bot_turn_failed", item_id=item_id, attempt=attempts)
            reason = f"bot error ({type(exc).__name__})"
            if attempts >= BOT_TURN_ATTEMPTS:
                await self._bot.give_up(item_id, reason)
                return
            async with self._make_uow() as uow:
                retry_at = uow.now() + timedelta(seconds=2**attempts * self._jitter_factor())
                await do_retry_item(uow, item_id, retry_at, reason)
                await uow.commit()
        self.wake()  # the turn queued replies: deliver them now

    def _jitter_factor(self) -> float:
        return 0.5 + self._jitter()

    async def _sweep_idle_sessions(self) -> None:
        if self._bot is None or not self._idle_sweep.due():
            return
        ended = await self._bot.end_idle_sessions()
        if ended:
            log.info("bot_sessions_abandoned", count=ended)

    async def _notice_knowledge_changes(self) -> None:
        if self._bot is None or not self._knowledge_check.due():
            return
        await self._bot.notice_knowledge_changes()

    async def _deliver(self, job: DeliveryJob) -> None:
        outcome = await self._attempt(job)
        status = await self._record(job, outcome)
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

    async def _record(self, job: DeliveryJob, outcome: DeliveryOutcome) -> OutboxStatus:
        """Record the outcome; once more without the provider's id if another message of the
        account holds it (the unique index refuses the commit), rather than leave the item
        "sending" to be sent again when its lease runs out. The index is the one check that also
        sees a delivery committing at the same moment, so no query is spent on it beforehand."""
        try:
            async with self._make_uow() as uow:
                status = await do_record_outcome(uow, job.item_id, outcome, self.policy, self._jitter())
                await uow.commit()
            return status
        except IntegrityError:
            log.warning("provider_message_id_taken", message_id=job.message_id)
        async with self._make_uow() as uow:
            status = await do_record_outcome(
                uow, job.item_id, outcome, self.policy, self._jitter(), keep_provider_id=False
            )
            await uow.commit()
        return status

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
                options=tuple(ReplyOption(payload=digit, label=label) for digit, label in job.options),
                phone_request=job.phone_request,
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
