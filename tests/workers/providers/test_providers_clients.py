"""Every vendor client against the fake vendor server: the exact request it sends and what it parses."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from prompt_alchemy.errors import NotFound, ProviderError
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, EmbedRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route, Vendor
from prompt_alchemy.workers.providers import ProviderRegistry

RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]

SYSTEM = ChatMessage(role="system", content="You are a careful prompt engineer.")
USER = ChatMessage(role="user", content="Turn this idea into a prompt.")


def request(provider: str, **fields: object) -> CompletionRequest:
    values: dict[str, object] = {
        "provider": provider,
        "messages": [SYSTEM, USER],
        "temperature": 0.2,
        "max_tokens": 50,
        "fallback": False,
        "use_cache": False,
    }
    values.update(fields)
    return CompletionRequest.model_validate(values)


async def test_openai_sends_bearer_auth_system_message_and_parses_usage(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.api_keys[Vendor.OPENAI] = "k-openai"
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("hello", usage=(11, 7), model="gpt-4o-mini-2024-07-18"))
    registry = make_registry({"OPENAI_API_KEY": "k-openai"})
    reply = await registry.complete(request("openai"))
    [sent] = vendor.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer k-openai"
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == [
        {"role": "system", "content": SYSTEM.content},
        {"role": "user", "content": USER.content},
    ]
    assert sent.json["max_completion_tokens"] == 50
    assert sent.json["temperature"] == 0.2
    assert (reply.provider, reply.model, reply.content) == ("openai", "gpt-4o-mini-2024-07-18", "hello")
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.estimated) == (11, 7, False)
    assert reply.cost_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1_000_000)
    assert reply.attempts == 1
    assert not reply.offline
    assert reply.latency_ms >= 0


async def test_anthropic_sends_version_key_top_level_system_and_clamps_temperature(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.api_keys[Vendor.ANTHROPIC] = "k-anthropic"
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.ok("bonjour", usage=(21, 3)))
    registry = make_registry({"ANTHROPIC_API_KEY": "k-anthropic", "ANTHROPIC_MODEL": "claude-3-5-haiku-latest"})
    reply = await registry.complete(request("anthropic", temperature=1.7))
    [sent] = vendor.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "k-anthropic"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json["system"] == SYSTEM.content
    assert sent.json["messages"] == [{"role": "user", "content": USER.content}]
    assert sent.json["max_tokens"] == 50
    assert sent.json["temperature"] == 1.0
    assert sent.json["model"] == "claude-3-5-haiku-latest"
    assert reply.content == "bonjour"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (21, 3)
    assert reply.cost_usd == pytest.approx((21 * 0.8 + 3 * 4.0) / 1_000_000)


async def test_gemini_sends_key_header_system_instruction_and_parses_usage_metadata(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.api_keys[Vendor.GEMINI] = "k-gemini"
    vendor.script(Route.GEMINI_GENERATE, FakeResponse.ok("hola", usage=(8, 2)))
    registry = make_registry({"GEMINI_API_KEY": "k-gemini"})
    reply = await registry.complete(request("gemini", model="gemini-2.0-flash"))
    [sent] = vendor.requests
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "k-gemini"
    assert "key" not in sent.query  # never in the URL, where proxies log it
    assert sent.json["systemInstruction"] == {"parts": [{"text": SYSTEM.content}]}
    assert sent.json["contents"] == [{"role": "user", "parts": [{"text": USER.content}]}]
    assert sent.json["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert reply.content == "hola"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (8, 2)


async def test_ollama_keeps_system_message_options_no_auth_and_costs_nothing(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OLLAMA_CHAT, FakeResponse.ok("local", usage=(30, 5)))
    registry = make_registry({"OLLAMA_MODEL": "qwen2.5"})
    reply = await registry.complete(request("ollama"))
    [sent] = vendor.requests
    assert sent.path == "/api/chat"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "qwen2.5",
        "messages": [{"role": "system", "content": SYSTEM.content}, {"role": "user", "content": USER.content}],
        "stream": False,
        "options": {"temperature": 0.2, "num_predict": 50},
    }
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (30, 5)
    assert reply.cost_usd == 0.0


async def test_openrouter_adds_referer_and_title_headers(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENROUTER_API_KEY": "k-or", "OPENROUTER_TITLE": "alchemy-tests"})
    reply = await registry.complete(request("openrouter"))
    [sent] = vendor.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer k-or"
    assert sent.headers["x-title"] == "alchemy-tests"
    assert sent.headers["http-referer"].startswith("https://")
    assert sent.json["model"] == "openai/gpt-4o-mini"
    assert sent.json["max_tokens"] == 50
    assert reply.provider == "openrouter"


async def test_xai_speaks_openai_format_with_its_own_key(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"XAI_API_KEY": "xai-key-1"})
    await registry.complete(request("xai"))
    [sent] = vendor.requests
    assert sent.headers["authorization"] == "Bearer xai-key-1"
    assert sent.json["model"] == "grok-3-mini"


async def test_openai_compatible_server_needs_no_key(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    registry = make_registry({"OPENAI_COMPATIBLE_MODEL": "qwen2.5-7b-instruct"})
    reply = await registry.complete(request("openai-compatible"))
    [sent] = vendor.requests
    assert "authorization" not in sent.headers
    assert sent.json["model"] == "qwen2.5-7b-instruct"
    assert reply.cost_usd == 0.0


async def test_missing_usage_is_estimated_and_flagged(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok("a reply of some forty characters length", omit_usage=True))
    registry = make_registry({"OPENAI_API_KEY": "k"})
    reply = await registry.complete(request("openai"))
    assert reply.usage.estimated
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens == 10


async def test_embeddings_from_openai_gemini_and_ollama(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "GEMINI_API_KEY": "g"})
    vendor.script(Route.OPENAI_EMBEDDINGS, FakeResponse.embeddings([[1.0, 0.0], [0.0, 1.0]], usage=6))
    openai = await registry.embed(EmbedRequest(provider="openai", texts=["one", "two"]))
    assert vendor.requests[-1].json == {"model": "text-embedding-3-small", "input": ["one", "two"]}
    assert (openai.dimension, openai.vectors, openai.usage.input_tokens) == (2, [[1.0, 0.0], [0.0, 1.0]], 6)
    single = await registry.embed(EmbedRequest(provider="gemini", texts=["alpha"]))
    assert vendor.requests[-1].path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert vendor.requests[-1].headers["x-goog-api-key"] == "g"
    assert single.dimension == 8
    batch = await registry.embed(EmbedRequest(provider="gemini", texts=["alpha", "beta", "gamma"]))
    assert vendor.requests[-1].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert len(batch.vectors) == 3
    assert batch.vectors[0] == single.vectors[0]
    assert batch.usage.estimated  # Gemini reports no token count for embeddings
    local = await registry.embed(EmbedRequest(provider="ollama", texts=["x", "y"]))
    assert vendor.requests[-1].path == "/api/embed"
    assert vendor.requests[-1].json == {"model": "nomic-embed-text", "input": ["x", "y"]}
    assert local.provider == "ollama"
    assert len(local.vectors) == 2


async def test_malformed_json_is_a_clear_non_retriable_provider_error(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.raw(b'{"choices": [oops'))
    registry = make_registry({"OPENAI_API_KEY": "k"})
    with pytest.raises(ProviderError, match="malformed OpenAI response: not JSON") as caught:
        await registry.complete(request("openai"))
    assert not caught.value.retriable
    assert len(vendor.requests) == 1


async def test_valid_json_of_the_wrong_shape_is_a_provider_error(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.raw(b'{"content": "not blocks"}'))
    registry = make_registry({"ANTHROPIC_API_KEY": "k"})
    with pytest.raises(ProviderError, match="anthropic: malformed Anthropic response"):
        await registry.complete(request("anthropic"))


async def test_401_is_provider_error_502_with_vendor_status_and_is_not_retried(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.api_keys[Vendor.ANTHROPIC] = "right-key"
    registry = make_registry({"ANTHROPIC_API_KEY": "wrong-key"})
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request("anthropic"))
    error = caught.value
    assert error.code == 502
    assert error.details["vendor_status"] == 401
    assert not error.retriable
    assert "authentication_error: invalid x-api-key" in error.message
    assert len(vendor.requests) == 1


async def test_vendor_400_carries_the_vendor_message(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    vendor.script(Route.GEMINI_GENERATE, FakeResponse.error(400, "maxOutputTokens is too large"))
    registry = make_registry({"GEMINI_API_KEY": "k"})
    with pytest.raises(ProviderError, match="INVALID_ARGUMENT: maxOutputTokens is too large") as caught:
        await registry.complete(request("gemini"))
    assert caught.value.details["vendor_status"] == 400
    assert not caught.value.retriable


async def test_gemini_bad_key_answers_400_as_google_does(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.api_keys[Vendor.GEMINI] = "right"
    registry = make_registry({"GOOGLE_API_KEY": "wrong"})
    with pytest.raises(ProviderError, match="API key not valid"):
        await registry.complete(request("gemini"))


async def test_unknown_model_named_by_the_caller_is_not_found(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OLLAMA_CHAT, FakeResponse.error(404, "model 'lama9' not found, try pulling it first"))
    registry = make_registry({})
    with pytest.raises(NotFound, match="model 'lama9' not found at provider 'ollama'") as caught:
        await registry.complete(request("ollama", model="lama9", fallback=True))
    assert caught.value.details["model"] == "lama9"
    assert len(vendor.requests) == 1  # a named model is not silently swapped for another provider's


async def test_unknown_provider_is_not_found(make_registry: RegistryFactory) -> None:
    registry = make_registry({})
    with pytest.raises(NotFound, match="unknown provider 'nope'"):
        await registry.complete(request("nope"))
    with pytest.raises(NotFound, match="unknown provider 'nope'"):
        await registry.embed(EmbedRequest(provider="nope", texts=["x"]))


@pytest.mark.parametrize(
    ("provider", "route", "key_env", "key_header", "path"),
    [
        ("anthropic", Route.ANTHROPIC_MESSAGES, "ANTHROPIC_API_KEY", "x-api-key", "/v1/messages"),
        (
            "gemini",
            Route.GEMINI_GENERATE,
            "GEMINI_API_KEY",
            "x-goog-api-key",
            "/v1beta/models/gemini-2.0-flash:generateContent",
        ),
        ("openai", Route.OPENAI_CHAT, "OPENAI_API_KEY", "authorization", "/v1/chat/completions"),
    ],
)
async def test_a_cross_origin_redirect_is_a_provider_error_and_the_key_never_follows(
    vendor: FakeVendorServer,
    make_registry: RegistryFactory,
    provider: str,
    route: Route,
    key_env: str,
    key_header: str,
    path: str,
) -> None:
    """Issue 13: a cross-origin 307 received ``x-api-key`` (Anthropic) and ``x-goog-api-key`` (Gemini)."""
    async with FakeVendorServer() as elsewhere:
        # the same vendor route on another origin: a followed redirect would be recorded there
        vendor.script(route, FakeResponse.redirect(f"{elsewhere.url}{path}?from=redirect"))
        registry = make_registry({key_env: "k-secret"})
        model = {"model": "gemini-2.0-flash"} if provider == "gemini" else {}
        with pytest.raises(ProviderError) as caught:
            await registry.complete(request(provider, **model))
        assert elsewhere.requests == []  # nothing, and so no key, reached the other origin
    [sent] = vendor.requests
    assert key_header in sent.headers  # the key went to the configured vendor only
    error = caught.value
    assert error.details["reason"] == "redirect"
    assert error.details["vendor_status"] == 307
    assert not error.retriable
    assert f"{elsewhere.url}{path}" in error.message
    assert "k-secret" not in error.message
