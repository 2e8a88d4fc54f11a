"""The shared attempt limiter on a real Redis: one window for every process, and no lock-out
when Redis is away."""

from __future__ import annotations

from helpline.storage.redis_limiter import RedisAttemptLimiter
from tests.conftest import flush_limits, redis_url
from tests.integration.live_server import free_port


async def test_two_processes_share_one_window_and_a_reset() -> None:
    flush_limits()
    first = RedisAttemptLimiter(redis_url(), "test", limit=3, window_seconds=60)
    second = RedisAttemptLimiter(redis_url(), "test", limit=3, window_seconds=60)
    try:
        await first.hit("ip:203.0.113.9")
        await second.hit("ip:203.0.113.9")
        assert await first.retry_after("ip:203.0.113.9") == 0
        await first.hit("ip:203.0.113.9")
        for limiter in (first, second):
            # Redis's clock moves on meanwhile; a stalled machine must not make this fail.
            assert 50 < await limiter.retry_after("ip:203.0.113.9") <= 60
        assert await second.retry_after("ip:198.51.100.1") == 0  # another key is not affected
        await second.reset("ip:203.0.113.9")
        assert await first.retry_after("ip:203.0.113.9") == 0
    finally:
        await first.close()
        await second.close()


async def test_unreachable_redis_falls_back_to_this_process() -> None:
    limiter = RedisAttemptLimiter(f"redis://127.0.0.1:{free_port()}/0", "test", limit=2, window_seconds=60)
    try:
        assert await limiter.retry_after("account:a@b.c") == 0
        await limiter.hit("account:a@b.c")
        await limiter.hit("account:a@b.c")
        assert await limiter.retry_after("account:a@b.c") > 0  # still limited, per process
    finally:
        await limiter.close()
