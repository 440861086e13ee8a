"""Retries, backoff, Retry-After, timeouts, circuit breaking and fallback, against the fake vendor server.

Waits go through a recording fake sleep that moves a fake clock, so no test waits real seconds
for a backoff or a Retry-After; only the timeout test lets a real (0.2 s) client timeout fire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest

from prompt_alchemy.errors import DeadlineExceeded, ProviderError, Unavailable
from prompt_alchemy.schemas.providers import ChatMessage, CircuitState, CompletionRequest
from prompt_alchemy.testing.servers import free_port
from prompt_alchemy.testing.vendors import FakeClock, FakeResponse, FakeVendorServer, RecordingSleep, Route
from prompt_alchemy.workers.providers import ProviderRegistry

RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]
KEYS = {"OPENAI_API_KEY": "k-openai", "ANTHROPIC_API_KEY": "k-anthropic"}
NO_LOCAL_SERVERS = {"OLLAMA_HOST": "", "OPENAI_COMPATIBLE_BASE_URL": ""}  # keyless providers stay unconfigured


def ask(
    provider: str | None = "openai", *, fallback: bool = False, text: str = "hello", **fields: object
) -> CompletionRequest:
    return CompletionRequest.model_validate(
        {
            "provider": provider,
            "messages": [ChatMessage(role="user", content=text)],
            "fallback": fallback,
            "use_cache": False,
            **fields,
        }
    )


async def test_a_500_is_retried_with_backoff_and_the_reply_counts_attempts(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500, "boom"), FakeResponse.error(503), FakeResponse.ok("fine"))
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "2"})
    reply = await registry.complete(ask())
    assert reply.content == "fine"
    assert reply.attempts == 3
    assert len(vendor.requests) == 3
    first, second = fake_sleep.calls
    assert 0.5 <= first <= 1.0  # base 1 s, equal jitter
    assert 1.0 <= second <= 2.0  # doubled


async def test_retries_stop_at_the_limit_and_the_error_is_retriable(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    vendor.script(Route.ANTHROPIC_MESSAGES, *[FakeResponse.error(529, "Overloaded")] * 3)
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "1"})
    with pytest.raises(ProviderError, match="overloaded_error: Overloaded") as caught:
        await registry.complete(ask("anthropic"))
    assert caught.value.retriable
    assert caught.value.details["attempts"] == 2
    assert caught.value.details["vendor_status"] == 529
    assert len(vendor.requests) == 2
    assert len(fake_sleep.calls) == 1


async def test_429_honours_retry_after_seconds(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    vendor.script(Route.GEMINI_GENERATE, FakeResponse.error(429, "quota", retry_after="7"), FakeResponse.ok("now"))
    registry = make_registry({"GEMINI_API_KEY": "g"})
    reply = await registry.complete(ask("gemini"))
    assert reply.content == "now"
    assert fake_sleep.calls == [7.0]


async def test_429_honours_retry_after_as_an_http_date(
    vendor: FakeVendorServer, clock: FakeClock, fake_sleep: RecordingSleep
) -> None:
    vendor.script(
        Route.OPENAI_CHAT,
        FakeResponse.error(429, "slow down", retry_after="Wed, 01 Jan 2025 12:00:12 GMT"),
        FakeResponse.ok("ok"),
    )
    registry = ProviderRegistry.from_env(
        {**vendor.env(), **KEYS},
        sleep=fake_sleep,
        clock=clock,
        wall_clock=lambda: datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC),
    )
    try:
        await registry.complete(ask())
    finally:
        await registry.aclose()
    assert fake_sleep.calls == [12.0]


async def test_non_retriable_4xx_is_not_retried(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(400, "max_tokens is too large"))
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "3"})
    with pytest.raises(ProviderError, match="max_tokens is too large") as caught:
        await registry.complete(ask())
    assert not caught.value.retriable
    assert len(vendor.requests) == 1
    assert fake_sleep.calls == []


async def test_a_slow_vendor_times_out_and_is_retried(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.hang(), FakeResponse.hang())
    registry = make_registry({**KEYS, "OPENAI_TIMEOUT_S": "0.2", "OPENAI_MAX_RETRIES": "1"})
    with pytest.raises(ProviderError, match=r"no answer from OpenAI within 0\.2s") as caught:
        await registry.complete(ask())
    assert caught.value.code == 504
    assert caught.value.retriable
    assert len(vendor.requests) == 2


async def test_a_dropped_connection_is_a_retriable_connection_error(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.drop(), FakeResponse.ok("after the drop"))
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "1"})
    reply = await registry.complete(ask())
    assert reply.content == "after the drop"
    assert reply.attempts == 2


async def test_nothing_listening_is_a_retriable_connection_error(make_registry: RegistryFactory) -> None:
    registry = make_registry(
        {**KEYS, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "PROVIDERS_MAX_RETRIES": "2"}
    )
    with pytest.raises(ProviderError, match="cannot reach OpenAI") as caught:
        await registry.complete(ask())
    assert caught.value.retriable
    assert caught.value.details["reason"] == "connection"
    assert caught.value.details["attempts"] == 3


async def test_circuit_opens_fails_fast_then_half_opens_for_one_probe(
    vendor: FakeVendorServer, make_registry: RegistryFactory, clock: FakeClock
) -> None:
    env = {
        **KEYS,
        "PROVIDERS_MAX_RETRIES": "0",
        "PROVIDERS_BREAKER_THRESHOLD": "3",
        "PROVIDERS_BREAKER_COOLDOWN_S": "30",
    }
    registry = make_registry(env)
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.error(500)] * 3)
    for _ in range(3):
        with pytest.raises(ProviderError):
            await registry.complete(ask())
    assert registry.circuit("openai").state is CircuitState.OPEN
    with pytest.raises(Unavailable, match="circuit open after 3 consecutive failures"):
        await registry.complete(ask())
    assert len(vendor.requests) == 3  # failed fast: the vendor saw nothing
    info = registry.info("openai")
    assert (info.available, info.circuit) == (False, CircuitState.OPEN)
    assert info.reason is not None
    assert "circuit open" in info.reason

    clock.advance(30)
    assert registry.info("openai").circuit is CircuitState.HALF_OPEN
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(502))
    with pytest.raises(ProviderError):
        await registry.complete(ask())  # the probe fails: open again
    assert registry.circuit("openai").state is CircuitState.OPEN
    assert len(vendor.requests) == 4

    clock.advance(30)
    reply = await registry.complete(ask())  # the probe succeeds: closed
    assert reply.provider == "openai"
    assert registry.circuit("openai").state is CircuitState.CLOSED
    assert registry.info("openai").available


async def test_a_4xx_does_not_count_against_the_circuit(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_BREAKER_THRESHOLD": "2"})
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.error(400)] * 3)
    for _ in range(3):
        with pytest.raises(ProviderError):
            await registry.complete(ask())
    assert registry.circuit("openai").state is CircuitState.CLOSED


async def test_a_failing_provider_falls_over_to_the_next(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_DEFAULT": "openai", "PROVIDERS_MAX_RETRIES": "1"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500), FakeResponse.error(500))
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.ok("from claude", usage=(3, 2)))
    reply = await registry.complete(ask(None, fallback=True, model="gpt-4o"))
    assert (reply.provider, reply.content) == ("anthropic", "from claude")
    assert reply.model == "claude-sonnet-4-20250514"  # the fallback's own default model
    assert reply.fallback_from == ["openai"]
    assert [request.route for request in vendor.requests] == [Route.OPENAI_CHAT] * 2 + [Route.ANTHROPIC_MESSAGES]
    assert vendor.requests[0].json["model"] == "gpt-4o"


async def test_an_open_circuit_is_skipped_without_calling_it(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry(
        {**KEYS, "PROVIDERS_DEFAULT": "openai", "PROVIDERS_MAX_RETRIES": "0", "PROVIDERS_BREAKER_THRESHOLD": "1"}
    )
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500))
    first = await registry.complete(ask(None, fallback=True))
    assert first.provider == "anthropic"
    second = await registry.complete(ask(None, fallback=True))
    assert second.provider == "anthropic"
    assert second.fallback_from == ["openai"]
    assert len(vendor.requests_to(Route.OPENAI_CHAT)) == 1


async def test_retry_after_beyond_the_limit_falls_back_at_once(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_DEFAULT": "openai", "PROVIDERS_MAX_RETRY_AFTER_S": "10"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(429, "quota", retry_after="3600"))
    reply = await registry.complete(ask(None, fallback=True))
    assert reply.provider == "anthropic"
    assert fake_sleep.calls == []


async def test_a_named_provider_without_fallback_fails_alone(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "0"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500))
    with pytest.raises(ProviderError):
        await registry.complete(ask("openai", fallback=False))
    assert vendor.requests_to(Route.ANTHROPIC_MESSAGES) == []


async def test_a_named_provider_may_fall_back_when_asked(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "0"})
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.error(500))
    reply = await registry.complete(ask("anthropic", fallback=True))
    assert reply.provider == "openai"
    assert reply.fallback_from == ["anthropic"]


async def test_the_offline_provider_is_the_last_resort(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "PROVIDERS_MAX_RETRIES": "0", **NO_LOCAL_SERVERS})
    assert registry.fallback_order() == ["offline"]
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(503))
    reply = await registry.complete(ask(None, fallback=True))
    assert (reply.provider, reply.offline) == ("offline", True)
    assert reply.fallback_from == ["openai"]


async def test_every_provider_failing_is_one_error_listing_each(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry(
        {**KEYS, "PROVIDERS_DEFAULT": "openai", "PROVIDERS_FALLBACK": "anthropic", "PROVIDERS_MAX_RETRIES": "0"}
    )
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500, "openai down"))
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.error(401, "bad key"))
    with pytest.raises(ProviderError, match="every provider failed") as caught:
        await registry.complete(ask(None, fallback=True))
    failures = caught.value.details["failures"]
    assert [failure["provider"] for failure in failures] == ["openai", "anthropic"]
    assert caught.value.retriable  # the 500 may pass


async def test_a_configured_default_without_key_is_reported_as_failed_over(make_registry: RegistryFactory) -> None:
    registry = make_registry({"PROVIDERS_DEFAULT": "openai", **NO_LOCAL_SERVERS})
    reply = await registry.complete(ask(None, fallback=True))
    assert reply.provider == "offline"
    assert reply.fallback_from == ["openai"]
    with pytest.raises(Unavailable, match="no API key: set OPENAI_API_KEY"):
        await registry.complete(ask("openai", fallback=False))


async def test_backoff_never_waits_past_the_callers_deadline(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "3"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(429, "wait", retry_after="5"))
    with pytest.raises(ProviderError, match="wait"):
        await registry.complete(ask(), timeout_s=2.0)
    assert fake_sleep.calls == []
    with pytest.raises(DeadlineExceeded):
        await registry.complete(ask(), timeout_s=0.0)


async def test_concurrent_calls_to_one_provider_are_bounded(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({**KEYS, "OPENAI_CONCURRENCY": "2"})
    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok(f"r{i}").delayed(0.05) for i in range(6)])
    replies = await asyncio.gather(*(registry.complete(ask(text=f"q{i}")) for i in range(6)))
    assert sorted(reply.content for reply in replies) == [f"r{i}" for i in range(6)]
    assert vendor.max_in_flight == 2


async def test_an_exhausted_quota_is_not_retried_even_on_429(
    vendor: FakeVendorServer, make_registry: RegistryFactory, fake_sleep: RecordingSleep
) -> None:
    registry = make_registry({**KEYS, "PROVIDERS_MAX_RETRIES": "3"})
    vendor.script(
        Route.OPENAI_CHAT,
        FakeResponse.error(429, "You exceeded your current quota", error_type="insufficient_quota", retry_after="1"),
    )
    with pytest.raises(ProviderError, match="exceeded your current quota") as caught:
        await registry.complete(ask())
    assert not caught.value.retriable
    assert caught.value.details["reason"] == "quota_exhausted"
    assert fake_sleep.calls == []
    assert len(vendor.requests) == 1
