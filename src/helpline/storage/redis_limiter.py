"""Login and visitor throttling shared by every process of a deployment, in Redis.

One sorted set per key holds the times of its hits; a Lua script trims the set to the window,
adds the hit and counts in one step, with Redis's own clock, so processes on different hosts
agree on the window. Keys are hashed (an e-mail address is not written into Redis in clear).

Redis being unreachable must not lock everybody out of the console: the limiter then falls back
to this process's memory (still a limit, per process) and logs the error once per outage.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from helpline.logs import get_logger
from helpline.realtime.redis_bus import safe_url
from helpline.services.ratelimit import MemoryAttemptLimiter

log = get_logger(__name__)

# KEYS[1]: the set; ARGV: window (ms), limit, "hit" or "check", a unique member for a hit.
# Returns the milliseconds to wait before the next attempt (0: may try now).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[3] == 'hit' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, tonumber(oldest[2]) + window - now)
"""


class RedisAttemptLimiter:
    def __init__(self, url: str, name: str, limit: int, window_seconds: float) -> None:
        self._url = url
        self._prefix = f"helpline:limit:{name}:"
        self._limit = limit
        self._window_ms = int(window_seconds * 1000)
        self._client: Redis | None = None
        self._fallback = MemoryAttemptLimiter(limit, window_seconds, time.monotonic)
        self._failing = False

    def _redis(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
        return self._client

    def _key(self, key: str) -> str:
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()

    async def _run(self, key: str, mode: str) -> float:
        member = f"{time.time_ns()}-{secrets.token_hex(4)}"
        waited = await self._redis().eval(
            _SCRIPT, 1, self._key(key), self._window_ms, self._limit, mode, member
        )
        if self._failing:
            self._failing = False
            log.info("limiter.redis_back", redis=safe_url(self._url))
        return int(waited) / 1000

    def _down(self, error: RedisError) -> None:
        if not self._failing:
            self._failing = True
            log.error("limiter.redis_unreachable", redis=safe_url(self._url), error=type(error).__name__)

    async def retry_after(self, key: str) -> float:
        try:
            return await self._run(key, "check")
        except RedisError as error:
            self._down(error)
            return await self._fallback.retry_after(key)

    async def hit(self, key: str) -> None:
        try:
            await self._run(key, "hit")
        except RedisError as error:
            self._down(error)
            await self._fallback.hit(key)

    async def reset(self, key: str) -> None:
        try:
            await self._redis().delete(self._key(key))
        except RedisError as error:
            self._down(error)
        await self._fallback.reset(key)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
