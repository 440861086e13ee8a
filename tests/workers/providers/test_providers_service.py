"""The providers worker on both buses (InMemoryBus and NatsBus with a real nats-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import NotFound, ProviderError, Unprocessable
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.schemas.providers import (
    ChatMessage,
    CompletionBatchRequest,
    CompletionRequest,
    EmbedRequest,
    GenerationHints,
    ProviderGetRequest,
    ProvidersListRequest,
    ProviderTestRequest,
)
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route, Vendor
from prompt_alchemy.workers.providers import ProviderRegistry, build_providers_service

TIMEOUT = 10.0


@pytest.fixture
async def served(bus: Bus, vendor: FakeVendorServer) -> AsyncIterator[ProviderRegistry]:
    env = {**vendor.env(), "OLLAMA_HOST": "", "OPENAI_COMPATIBLE_BASE_URL": "", "OPENAI_API_KEY": "k-openai"}
    env |= {"PROVIDERS_DEFAULT": "offline", "PROVIDERS_MAX_RETRIES": "0"}
    registry = ProviderRegistry.from_env(env)
    service = build_providers_service(bus, registry)
    await service.start()
    yield registry
    await service.stop()
    await registry.aclose()


async def test_list_get_and_health_over_the_bus(bus: Bus, served: ProviderRegistry) -> None:
    listing = await bus.request(schemas.PROVIDERS_LIST, ProvidersListRequest(), timeout=TIMEOUT)
    assert listing.default == "offline"
    assert {info.name: info.available for info in listing.providers}["openai"]
    info = await bus.request(schemas.PROVIDERS_GET, ProviderGetRequest(name="anthropic"), timeout=TIMEOUT)
    assert (info.available, info.reason) == (False, "no API key: set ANTHROPIC_API_KEY")
    with pytest.raises(NotFound, match="unknown provider 'acme'"):
        await bus.request(schemas.PROVIDERS_GET, ProviderGetRequest(name="acme"), timeout=TIMEOUT)
    health = await bus.request(schemas.PROVIDERS_HEALTH, HealthRequest(), timeout=TIMEOUT)
    assert health.service == "providers"
    assert health.checks["provider:openai"].ok


async def test_offline_completion_over_the_bus(bus: Bus, served: ProviderRegistry) -> None:
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="Raw idea:\nwrite a limerick about a cat")],
        hints=GenerationHints(idea="write a limerick about a cat"),
    )
    reply = await bus.request(schemas.PROVIDERS_COMPLETE, request, timeout=TIMEOUT)
    assert (reply.provider, reply.offline) == ("offline", True)
    assert "limerick" in reply.content


async def test_vendor_completion_and_its_errors_over_the_bus(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("from the vendor", usage=(4, 2)))
    ask = CompletionRequest(provider="openai", messages=[ChatMessage(role="user", content="hi")], fallback=False)
    reply = await bus.request(schemas.PROVIDERS_COMPLETE, ask, timeout=TIMEOUT)
    assert (reply.content, reply.usage.input_tokens, reply.usage.output_tokens) == ("from the vendor", 4, 2)
    assert vendor.requests[-1].headers["authorization"] == "Bearer k-openai"

    vendor.api_keys[Vendor.OPENAI] = "another-key"
    other = ask.model_copy(update={"use_cache": False})
    with pytest.raises(ProviderError) as caught:
        await bus.request(schemas.PROVIDERS_COMPLETE, other, timeout=TIMEOUT)
    assert caught.value.code == 502
    assert caught.value.details["vendor_status"] == 401
    assert not caught.value.retriable
    assert "k-openai" not in caught.value.message

    with pytest.raises(NotFound):
        await bus.request(schemas.PROVIDERS_COMPLETE, ask.model_copy(update={"provider": "acme"}), timeout=TIMEOUT)


async def test_a_batch_answers_each_completion_as_complete_would_one_failure_failing_only_itself(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("first"), FakeResponse.ok("third"))
    ask = CompletionRequest(provider="openai", messages=[ChatMessage(role="user", content="hi")], fallback=False)
    items = [ask, ask.model_copy(update={"provider": "acme"}), ask.model_copy(update={"temperature": 0.9})]
    reply = await bus.request(schemas.PROVIDERS_COMPLETE_BATCH, CompletionBatchRequest(items=items), timeout=TIMEOUT)

    first, unknown, third = reply.results
    assert first.reply is not None
    assert third.reply is not None
    assert {first.reply.content, third.reply.content} == {"first", "third"}  # both asked at once: either order
    assert len(vendor.requests) == 2
    assert unknown.reply is None
    assert unknown.error is not None
    assert isinstance(unknown.error.to_error(), NotFound)  # what providers.complete raises for it
    assert "acme" in unknown.error.message


async def test_embed_and_test_over_the_bus(bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer) -> None:
    embedded = await bus.request(
        schemas.PROVIDERS_EMBED, EmbedRequest(provider="openai", texts=["a", "b"]), timeout=TIMEOUT
    )
    assert (embedded.provider, len(embedded.vectors), embedded.dimension) == ("openai", 2, 8)
    with pytest.raises(Unprocessable):
        await bus.request(schemas.PROVIDERS_EMBED, EmbedRequest(provider="anthropic", texts=["a"]), timeout=TIMEOUT)
    probe = await bus.request(schemas.PROVIDERS_TEST, ProviderTestRequest(name="openai"), timeout=TIMEOUT)
    assert probe.ok
    assert vendor.requests[-1].json["messages"][0]["content"] == "Reply with the single word: pong"
