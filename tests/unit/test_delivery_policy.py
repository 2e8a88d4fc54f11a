"""Retry rules for outbound delivery: backoff grows, jitter stays in bounds, Retry-After is a floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from helpline.domain.conversations import DeliveryStatus
from helpline.domain.delivery import (
    Rejected,
    RetryLater,
    RetryPolicy,
    http_outcome,
    next_attempt_at,
    status_after_receipt,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2, cap_seconds=600, max_attempts=8)


@given(
    attempts=st.integers(min_value=1, max_value=7),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
    retry_after=st.none() | st.floats(min_value=0, max_value=3600),
)
def test_next_attempt_is_within_the_backoff_window_and_honours_retry_after(
    attempts: int, jitter: float, retry_after: float | None
) -> None:
    at = next_attempt_at(POLICY, attempts, RetryLater("down", retry_after), NOW, jitter)
    assert at is not None
    delay = (at - NOW).total_seconds()
    ceiling = min(600, 2 * 2 ** (attempts - 1))
    tick = 1e-6  # datetimes keep microseconds
    assert delay >= 0
    if retry_after is None:
        assert delay <= ceiling + tick
    else:
        assert delay >= retry_after - tick
        assert delay <= max(ceiling, retry_after) + tick


def test_gives_up_after_the_last_attempt_or_an_absurd_retry_after() -> None:
    assert next_attempt_at(POLICY, 8, RetryLater("down"), NOW, 0.5) is None
    assert next_attempt_at(POLICY, 1, RetryLater("down", 86_400), NOW, 0.5) is None
    assert next_attempt_at(POLICY, 1, RetryLater("slow", 30), NOW, 0.0) == NOW + timedelta(seconds=30)


def test_http_errors_are_classified_as_providers_mean_them() -> None:
    assert isinstance(http_outcome(500, "x"), RetryLater)
    assert isinstance(http_outcome(503, "x"), RetryLater)
    assert http_outcome(429, "x", 7) == RetryLater("x", 7)
    assert isinstance(http_outcome(408, "x"), RetryLater)
    for permanent in (400, 401, 403, 404):
        assert isinstance(http_outcome(permanent, "x"), Rejected)


_SENT_STATES = [DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
_RECEIPTS = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED]


@given(st.sampled_from(_SENT_STATES), st.lists(st.sampled_from(_RECEIPTS), max_size=8))
def test_receipts_never_move_a_message_backwards(
    start: DeliveryStatus, receipts: list[DeliveryStatus]
) -> None:
    rank = {s: n for n, s in enumerate(_SENT_STATES)}
    status = start
    for receipt in receipts:
        after = status_after_receipt(status, receipt)
        if status in rank and after in rank:
            assert rank[after] >= rank[status]
        if status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
            assert after is not DeliveryStatus.FAILED  # the customer has it: a late failure is stale
        status = after


@given(st.permutations(_SENT_STATES[1:]))
def test_the_order_receipts_arrive_in_does_not_change_the_result(order: list[DeliveryStatus]) -> None:
    status = DeliveryStatus.QUEUED
    for receipt in order:
        status = status_after_receipt(status, receipt)
    assert status is DeliveryStatus.READ


def test_a_failure_report_is_shown_unless_the_message_already_arrived() -> None:
    assert status_after_receipt(DeliveryStatus.SENT, DeliveryStatus.FAILED) is DeliveryStatus.FAILED
    assert status_after_receipt(DeliveryStatus.READ, DeliveryStatus.FAILED) is DeliveryStatus.READ
    assert status_after_receipt(DeliveryStatus.FAILED, DeliveryStatus.DELIVERED) is DeliveryStatus.DELIVERED
