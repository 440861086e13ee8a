"""A token bucket per caller: ``per_minute`` requests (or feedback events) a minute, refilled continuously.

A caller may burst up to the whole minute's allowance, then gets one request every
``60 / per_minute`` seconds. The clock is injectable so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]

MAX_TRACKED_CALLERS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, caller: str) -> float | None:
        """Take one token: None when allowed, else the seconds until the next token."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            self._forget_full_buckets(now)
            bucket = self._buckets[caller] = _Bucket(tokens=self.capacity, updated=now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.refill_per_s)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.refill_per_s

    def _forget_full_buckets(self, now: float) -> None:
        """Keep memory bounded when callers are client addresses: a refilled bucket is a new one."""
        if len(self._buckets) < MAX_TRACKED_CALLERS:
            return
        for caller, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.refill_per_s >= self.capacity:
                del self._buckets[caller]
