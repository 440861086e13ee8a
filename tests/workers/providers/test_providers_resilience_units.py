"""Backoff, Retry-After parsing, the circuit breaker state machine and the request cache, in isolation."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from prompt_alchemy.schemas.providers import ChatMessage, CircuitState, CompletionReply, CompletionRequest
from prompt_alchemy.workers.providers.cache import CompletionCache, request_digest
from prompt_alchemy.workers.providers.circuit import CircuitBreaker
from prompt_alchemy.workers.providers.policy import backoff_delay, parse_retry_after
from prompt_alchemy.workers.providers.settings import ProviderPolicy

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_backoff_grows_exponentially_with_jitter_within_bounds() -> None:
    policy = ProviderPolicy(backoff_base_s=1.0, backoff_max_s=8.0)
    rng = random.Random(7)
    for retry, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)):
        delays = [backoff_delay(policy, retry, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_seconds_http_date_and_garbage() -> None:
    assert parse_retry_after("3", NOW) == 3.0
    assert parse_retry_after("1.5", NOW) == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:07 GMT", NOW) == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", NOW) == 0.0  # in the past: no wait
    assert parse_retry_after("-4", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("", NOW) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_after_threshold_then_half_opens_for_exactly_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=30.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert breaker.retry_in() == 30.0
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its verdict
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN  # one failed probe re-opens
    clock.now += 30
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0


def test_a_success_resets_the_failure_count_and_an_abandoned_probe_is_released() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown_s=1.0, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def _request(text: str, **fields: object) -> CompletionRequest:
    return CompletionRequest(messages=[ChatMessage(role="user", content=text)], **fields)  # type: ignore[arg-type]


def test_cache_key_ignores_use_cache_but_not_content_or_resolution() -> None:
    base = request_digest(_request("a"), provider="openai", model="m")
    assert base == request_digest(_request("a", use_cache=False), provider="openai", model="m")
    assert base != request_digest(_request("b"), provider="openai", model="m")
    assert base != request_digest(_request("a", temperature=0.1), provider="openai", model="m")
    assert base != request_digest(_request("a"), provider="anthropic", model="m")


def test_cache_is_a_bounded_lru_returning_copies() -> None:
    cache = CompletionCache(2)
    reply = CompletionReply(provider="p", model="m", content="x")
    cache.put("a", reply)
    cache.put("b", reply)
    hit = cache.get("a")  # "a" becomes most recent
    assert hit is not None
    hit.content = "mutated"
    cache.put("c", reply)
    assert cache.get("b") is None
    kept = cache.get("a")
    assert kept is not None
    assert kept.content == "x"
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 1)
    disabled = CompletionCache(0)
    disabled.put("a", reply)
    assert len(disabled) == 0
