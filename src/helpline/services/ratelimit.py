"""Login throttling: a sliding window of failures per key (client address and account).

Kept in memory of one process; a multi-instance deployment gets it per instance, which
still bounds guessing to attempts × instances per window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
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
        self._recent(key).append(self._clock())

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)
