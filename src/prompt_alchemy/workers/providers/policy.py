"""Retries with exponential backoff and jitter, on retriable failures only, honouring Retry-After.

``call_with_retries`` runs one provider operation under that provider's policy: the circuit
breaker decides whether an attempt may go out, a semaphore bounds concurrent calls, each attempt
gets the policy timeout clipped to the caller's deadline, and waits go through an injected
``sleep`` so tests observe the delays without waiting for them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from prompt_alchemy.errors import DeadlineExceeded, ServiceError, Unavailable
from prompt_alchemy.workers.providers.circuit import CircuitBreaker
from prompt_alchemy.workers.providers.settings import ProviderPolicy

__all__ = ["Clock", "Sleep", "backoff_delay", "call_with_retries", "parse_retry_after"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


def backoff_delay(policy: ProviderPolicy, retry: int, rng: random.Random) -> float:
    """Delay before retry number ``retry`` (1-based): exponential ceiling, "equal jitter" below it.

    Half of the ceiling is fixed so delays grow for sure; the other half is random so that many
    clients failing together do not retry in lockstep.
    """
    ceiling: float = min(policy.backoff_max_s, policy.backoff_base_s * 2.0 ** (retry - 1))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no delay at all


def _retry_after(error: ServiceError) -> float | None:
    value = error.details.get("retry_after")
    return float(value) if isinstance(value, int | float) else None


async def call_with_retries(
    operation: Callable[[float], Awaitable[T]],
    *,
    provider: str,
    policy: ProviderPolicy,
    breaker: CircuitBreaker,
    semaphore: asyncio.Semaphore,
    sleep: Sleep,
    clock: Clock,
    rng: random.Random,
    deadline: float | None = None,
    may_retry: Callable[[], bool] | None = None,
) -> tuple[T, int]:
    """``operation(timeout_s)`` until it succeeds or may not be retried; returns (result, attempts).

    ``may_retry`` vetoes a retry the error would allow (a stream that already sent text).
    """
    attempts = 0
    while True:
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"{provider}: the caller's deadline passed", details={"provider": provider})
        if not breaker.allow():
            raise Unavailable(
                f"{provider}: circuit open after {breaker.consecutive_failures} consecutive failures; "
                f"next probe in {breaker.retry_in():.1f}s",
                details={"provider": provider, "reason": "circuit_open", "retry_in": round(breaker.retry_in(), 3)},
            )
        attempts += 1
        timeout_s = policy.timeout_s if remaining is None else min(policy.timeout_s, remaining)
        try:
            async with semaphore:
                result = await operation(timeout_s)
        except ServiceError as error:
            if error.retriable:
                breaker.record_failure()
            else:
                breaker.record_success()  # the provider answered: it is up, the request was wrong
            error.details.setdefault("provider", provider)
            error.details["attempts"] = attempts
            if not error.retriable or attempts > policy.max_retries:
                raise
            if may_retry is not None and not may_retry():
                raise
            retry_after = _retry_after(error)
            if retry_after is not None and retry_after > policy.max_retry_after_s:
                raise  # too long to wait here: let the caller fall back
            delay = retry_after if retry_after is not None else backoff_delay(policy, attempts, rng)
            if deadline is not None and clock() + delay >= deadline:
                raise
            await sleep(delay)
        except BaseException:
            breaker.release_probe()
            raise
        else:
            breaker.record_success()
            return result, attempts
