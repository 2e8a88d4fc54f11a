"""Throttling of failed logins and new web chat visitors: a sliding window of hits per key.

Two stores behind one interface (:class:`AttemptLimiter`): this process's memory
(:class:`MemoryAttemptLimiter`, the one-process default) and Redis
(``helpline.storage.redis_limiter``), which every ``helpline serve`` process of a deployment
shares, so N processes do not allow N times the attempts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol


class AttemptLimiter(Protocol):
    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        ...

    async def hit(self, key: str) -> None:
        """Count one attempt of ``key``."""
        ...

    async def reset(self, key: str) -> None:
        """Forget ``key``'s attempts (e.g. after a successful login)."""
        ...

    async def close(self) -> None: ...


class SlidingWindowLimiter:
    """At most ``limit`` hits per key in any ``window_seconds``, in memory.

    Keys are forgotten once their hits leave the window; past ``max_keys`` keys the stale ones
    are dropped at once, so a flood of distinct keys (addresses, e-mails) cannot grow memory
    without bound.
    """

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float], *, max_keys: int = 100_000
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        cutoff = self._clock() - self._window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        hits = self._recent(key)
        if len(hits) < self._limit:
            if not hits:
                self._hits.pop(key, None)
            return 0.0
        return max(0.0, hits[0] + self._window - self._clock())

    def hit(self, key: str) -> None:
        if len(self._hits) >= self._max_keys and key not in self._hits:
            self._drop_stale()
        self._recent(key).append(self._clock())

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)

    def _drop_stale(self) -> None:
        cutoff = self._clock() - self._window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]


class MemoryAttemptLimiter:
    """:class:`SlidingWindowLimiter` behind the async :class:`AttemptLimiter` interface."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float]) -> None:
        self.window = SlidingWindowLimiter(limit, window_seconds, clock)

    async def retry_after(self, key: str) -> float:
        return self.window.retry_after(key)

    async def hit(self, key: str) -> None:
        self.window.hit(key)

    async def reset(self, key: str) -> None:
        self.window.reset(key)

    async def close(self) -> None:
        return None
