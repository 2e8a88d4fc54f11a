"""What can come of one attempt to hand a message to a provider, and when to try again.

Pure rules: the worker passes in the attempt count, the clock and a random number, so the
backoff is exact in tests and still spread out (jittered) in production, where hundreds of
queued messages must not all hit a recovering provider in the same second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline.domain.conversations import DeliveryStatus


@dataclass(frozen=True, slots=True)
class Delivered:
    """The provider accepted the message; its id lets receipts find it later."""

    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A temporary failure: provider down (5xx), rate limit (429), timeout, network."""

    reason: str
    retry_after: float | None = None  # seconds the provider asked us to wait


@dataclass(frozen=True, slots=True)
class Rejected:
    """A permanent failure (blocked by the user, chat not found, bad token): retrying cannot help."""

    reason: str


DeliveryOutcome = Delivered | RetryLater | Rejected


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    #: Attempts in all, the first included; after the last a temporary failure ends as failed.
    max_attempts: int = 8
    #: A provider's Retry-After beyond this is treated as "down for long": we give up on it.
    max_retry_after_seconds: float = 3600.0


def next_attempt_at(
    policy: RetryPolicy, attempts_made: int, outcome: RetryLater, now: datetime, jitter: float
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None to give up.

    Exponential backoff with "full jitter" (AWS architecture blog): a random delay between
    0 and base·2^(n-1), capped. A provider's Retry-After is a floor, never shortened.
    `jitter` is a number in [0, 1).
    """
    if attempts_made >= policy.max_attempts:
        return None
    if outcome.retry_after is not None and outcome.retry_after > policy.max_retry_after_seconds:
        return None
    ceiling = min(policy.cap_seconds, policy.base_seconds * 2 ** (attempts_made - 1))
    delay = jitter * ceiling
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return now + timedelta(seconds=delay)


def http_outcome(status: int, reason: str, retry_after: float | None = None) -> RetryLater | Rejected:
    """Classify a provider's HTTP error the way most messaging APIs mean it.

    429 and 5xx are temporary; 408 (timeout) too; other 4xx say the request itself is wrong
    (unknown chat, blocked bot, bad token) and will be wrong next time as well.
    """
    if status == 429 or status == 408 or status >= 500:
        return RetryLater(reason, retry_after)
    return Rejected(reason)


_PROGRESS = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}


def status_after_receipt(current: DeliveryStatus, receipt: DeliveryStatus) -> DeliveryStatus:
    """The message's status once a provider receipt arrives.

    Receipts come out of order (WhatsApp may post `read` before `delivered`, a retry may repeat
    an old one), so status only moves forward: queued < sent < delivered < read. A provider's
    `failed` counts unless the customer has already been shown the message (delivered or read).
    """
    if receipt is DeliveryStatus.FAILED:
        return current if current in (DeliveryStatus.DELIVERED, DeliveryStatus.READ) else receipt
    if current is DeliveryStatus.FAILED:
        # The provider delivered after all (WhatsApp retries on its own side): progress wins.
        return receipt if receipt in (DeliveryStatus.DELIVERED, DeliveryStatus.READ) else current
    if current in _PROGRESS and receipt in _PROGRESS and _PROGRESS[receipt] > _PROGRESS[current]:
        return receipt
    return current
