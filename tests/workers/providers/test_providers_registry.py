"""The registry's catalogue, defaults, minimal test calls, request cache, cost accounting and health."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from prompt_alchemy.errors import NotFound, Unprocessable
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, EmbedRequest, ProviderTestRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route
from prompt_alchemy.workers.providers import OFFLINE_EMBEDDING_MODEL, OFFLINE_MODEL, ProviderRegistry

RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]
NO_LOCAL_SERVERS = {"OLLAMA_HOST": "", "OPENAI_COMPATIBLE_BASE_URL": ""}


def ask(provider: str | None = None, text: str = "hello", **fields: object) -> CompletionRequest:
    return CompletionRequest.model_validate(
        {"provider": provider, "messages": [ChatMessage(role="user", content=text)], **fields}
    )


def test_list_shows_every_provider_with_availability_reason_capabilities_and_models(
    make_registry: RegistryFactory,
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", **NO_LOCAL_SERVERS})
    listing = registry.list()
    by_name = {info.name: info for info in listing.providers}
    assert list(by_name) == [
        "openai",
        "anthropic",
        "gemini",
        "ollama",
        "openrouter",
        "xai",
        "openai-compatible",
        "offline",
    ]
    assert by_name["openai"].available
    assert by_name["openai"].capabilities.embeddings
    assert by_name["openai"].models == ["gpt-4o-mini", "text-embedding-3-small"]
    assert (by_name["anthropic"].available, by_name["anthropic"].reason) == (False, "no API key: set ANTHROPIC_API_KEY")
    assert not by_name["anthropic"].capabilities.embeddings
    assert by_name["gemini"].reason == "no API key: set GOOGLE_API_KEY or GEMINI_API_KEY"
    assert by_name["ollama"].reason == "not configured: set OLLAMA_HOST"
    offline = by_name["offline"]
    assert (offline.available, offline.offline, offline.kind) == (True, True, "offline")
    assert offline.models == [OFFLINE_MODEL, OFFLINE_EMBEDDING_MODEL]
    assert (listing.default, listing.fallback_order) == ("openai", ["offline"])


def test_base_urls_are_listed_without_credentials(make_registry: RegistryFactory) -> None:
    registry = make_registry({"OPENAI_COMPATIBLE_BASE_URL": "http://user:pa55@127.0.0.1:8000/v1?key=abc"})
    assert registry.info("openai-compatible").base_url == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("env", "default"),
    [
        ({}, "offline"),
        ({"OPENAI_API_KEY": "k"}, "openai"),
        ({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}, "anthropic"),
        ({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "PROVIDERS_DEFAULT": "openai"}, "openai"),
        ({"OLLAMA_HOST": "127.0.0.1:1"}, "ollama"),
    ],
)
def test_default_is_configured_or_the_first_with_a_key(
    make_registry: RegistryFactory, env: dict[str, str], default: str
) -> None:
    assert make_registry({**NO_LOCAL_SERVERS, **env}).default_name() == default


async def test_with_no_key_the_offline_provider_answers(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry(NO_LOCAL_SERVERS)
    reply = await registry.complete(ask(text="write a haiku about rain"))
    assert (reply.provider, reply.model, reply.offline) == ("offline", OFFLINE_MODEL, True)
    assert reply.cost_usd == 0.0
    assert reply.usage.estimated
    assert "haiku" in reply.content
    assert vendor.requests == []


def test_keys_are_read_at_call_time(make_registry: RegistryFactory) -> None:
    env: dict[str, str] = {**NO_LOCAL_SERVERS}
    registry = ProviderRegistry.from_env(env)
    assert not registry.info("xai").available
    env["XAI_API_KEY"] = "xai-rotated"
    assert registry.info("xai").available
    assert registry.default_name() == "xai"


def test_get_unknown_provider_is_not_found(make_registry: RegistryFactory) -> None:
    with pytest.raises(NotFound, match="unknown provider 'acme'"):
        make_registry({}).info("acme")


async def test_test_makes_a_real_minimal_call(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("pong"))
    ok = await registry.test(ProviderTestRequest(name="openai"))
    assert ok.ok
    assert ok.message == "answered: 'pong'"
    [sent] = vendor.requests
    assert sent.json["messages"] == [{"role": "user", "content": "Reply with the single word: pong"}]
    assert sent.json["max_completion_tokens"] == 16
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.error(500, "overloaded"))
    failed = await registry.test(ProviderTestRequest(name="anthropic"))
    assert not failed.ok
    assert "overloaded" in failed.message
    assert len(vendor.requests_to(Route.ANTHROPIC_MESSAGES)) == 1  # one attempt, no retries
    missing = await registry.test(ProviderTestRequest(name="gemini"))
    assert (missing.ok, missing.message) == (False, "no API key: set GOOGLE_API_KEY or GEMINI_API_KEY")
    assert (await registry.test(ProviderTestRequest(name="offline"))).ok
    with pytest.raises(NotFound):
        await registry.test(ProviderTestRequest(name="acme"))


async def test_identical_requests_are_served_from_the_cache(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "PROVIDERS_DEFAULT": "openai"})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("first", usage=(1000, 1000)), FakeResponse.ok("second"))
    first = await registry.complete(ask())
    again = await registry.complete(ask())
    assert (first.cached, again.cached) == (False, True)
    assert again.content == "first"
    assert first.cost_usd > 0
    assert again.cost_usd == 0.0  # nothing was spent the second time
    assert len(vendor.requests) == 1
    fresh = await registry.complete(ask(use_cache=False))
    assert (fresh.content, fresh.cached) == ("second", False)
    other = await registry.complete(ask(text="something else"))
    assert not other.cached


async def test_errors_and_fallback_answers_are_never_cached(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry(
        {"OPENAI_API_KEY": "k", "PROVIDERS_DEFAULT": "openai", "PROVIDERS_MAX_RETRIES": "0", **NO_LOCAL_SERVERS}
    )
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(400, "no"), FakeResponse.ok("yes"))
    with pytest.raises(Exception, match="no"):
        await registry.complete(ask(fallback=False))
    assert (await registry.complete(ask(fallback=False))).content == "yes"
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500), FakeResponse.ok("recovered"))
    fallback = await registry.complete(ask(text="other"))
    assert (fallback.provider, fallback.fallback_from) == ("offline", ["openai"])
    recovered = await registry.complete(ask(text="other"))
    assert (recovered.provider, recovered.content, recovered.cached) == ("openai", "recovered", False)


async def test_cost_comes_from_the_price_table(
    vendor: FakeVendorServer, make_registry: RegistryFactory, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"house-model": {"input": 2.0, "output": 8.0}}))
    registry = make_registry({"OPENAI_API_KEY": "k", "PROVIDERS_PRICES_FILE": str(prices)})
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("a", usage=(500_000, 250_000), model="house-model"))
    priced = await registry.complete(ask("openai", use_cache=False))
    assert priced.cost_usd == pytest.approx(1.0 + 2.0)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("b", usage=(500_000, 250_000), model="unheard-of-model"))
    unpriced = await registry.complete(ask("openai", use_cache=False))
    assert unpriced.cost_usd == 0.0


async def test_embeddings_default_and_providers_without_embeddings(make_registry: RegistryFactory) -> None:
    registry = make_registry({"ANTHROPIC_API_KEY": "k", **NO_LOCAL_SERVERS})
    assert registry.embed_default_name() == "offline"
    reply = await registry.embed(EmbedRequest(texts=["hello world"]))
    assert (reply.provider, reply.model, reply.dimension) == ("offline", OFFLINE_EMBEDDING_MODEL, 256)
    with pytest.raises(Unprocessable, match="offers no embeddings"):
        await registry.embed(EmbedRequest(provider="anthropic", texts=["x"]))


async def test_health_reports_usable_providers_and_open_circuits(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "PROVIDERS_BREAKER_THRESHOLD": "1", "PROVIDERS_MAX_RETRIES": "0"})
    checks = await registry.health()
    assert checks["provider:openai"].ok
    assert "provider:anthropic" not in checks
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500))
    with pytest.raises(Exception, match="500"):
        await registry.complete(ask("openai", fallback=False))
    checks = await registry.health()
    assert not checks["provider:openai"].ok
    assert checks["provider:offline"].ok
