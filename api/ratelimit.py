"""Per-key rate limits: a token bucket per API key, in process or in Redis.

Each key may burst `burst` requests and then `per_second` more each second. In one process the
buckets live in memory; with `AISLE_REDIS_URL` set they live in Redis, updated atomically by one
Lua script, so every API worker (and every machine) spends from the same bucket. When Redis cannot
be reached the process falls back to its own buckets for that request rather than refusing
service, and says so in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from retail.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimit:
    burst: int = 120
    per_second: float = 30.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_second > 0")


class RateLimiter(Protocol):
    def acquire(self, key: str) -> float | None:
        """Spend one token of `key`'s bucket: None when allowed, else seconds until one."""
        ...


class LocalRateLimiter:
    """Token buckets in this process's memory."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.limit.per_second


# Refill from the time elapsed (Redis's own clock, so workers' clocks never disagree), spend
# one token if there is one, and expire an idle bucket once it would be full again anyway.
_TOKEN_BUCKET = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every worker that uses the same Redis and prefix."""

    def __init__(self, url: str, limit: RateLimit, *, prefix: str = "aisle:ratelimit:") -> None:
        import redis

        self.limit = limit
        self.prefix = prefix
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._script = self._client.register_script(_TOKEN_BUCKET)
        self._fallback = LocalRateLimiter(limit)

    def acquire(self, key: str) -> float | None:
        import redis

        try:
            wait = float(
                self._script(
                    keys=[self.prefix + key], args=[self.limit.burst, self.limit.per_second]
                )
            )
        except redis.RedisError as exc:
            log.warning("rate limits fall back to this process: Redis failed (%s)", exc)
            return self._fallback.acquire(key)
        return wait if wait > 0 else None

    def close(self) -> None:
        self._client.close()


def make_rate_limiter(settings: Settings, limit: RateLimit) -> LocalRateLimiter | RedisRateLimiter:
    """Redis buckets when `settings.redis_url` is set, else this process's."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, limit)
    return LocalRateLimiter(limit)
