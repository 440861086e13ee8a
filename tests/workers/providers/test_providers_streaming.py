"""Streamed completions against the fake vendor server, in each vendor's streaming wire format.

What a listener sees (the deltas) must add up to the reply, usage and cost must be the vendor's,
and a stream that breaks after its first text is a retriable error that is neither retried nor
handed to a fallback provider (the listener already saw text of this one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route
from prompt_alchemy.workers.providers import ProviderRegistry
from prompt_alchemy.workers.providers.http_client import ndjson_payloads, sse_events
from prompt_alchemy.workers.providers.offline.provider import stream_chunks

RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]

TEXT = "You are a careful reviewer.\nList every risk, then rate it."
WORDS = ["You", " are", " a", " careful", " reviewer.", "\nList", " every", " risk,", " then", " rate", " it."]

# provider name -> (route, environment that makes it available)
VENDORS: dict[str, tuple[Route, dict[str, str]]] = {
    "openai": (Route.OPENAI_CHAT, {"OPENAI_API_KEY": "k"}),
    "anthropic": (Route.ANTHROPIC_MESSAGES, {"ANTHROPIC_API_KEY": "k"}),
    "gemini": (Route.GEMINI_GENERATE, {"GEMINI_API_KEY": "k"}),
    "ollama": (Route.OLLAMA_CHAT, {"OLLAMA_MODEL": "qwen2.5"}),
    "openrouter": (Route.OPENAI_CHAT, {"OPENROUTER_API_KEY": "k"}),
    "xai": (Route.OPENAI_CHAT, {"XAI_API_KEY": "k"}),
}


def request(provider: str, **fields: object) -> CompletionRequest:
    values: dict[str, object] = {
        "provider": provider,
        "messages": [
            ChatMessage(role="system", content="Write prompts."),
            ChatMessage(role="user", content="an idea"),
        ],
        "max_tokens": 64,
        "fallback": False,
        "use_cache": False,
    }
    values.update(fields)
    return CompletionRequest.model_validate(values)


class Deltas:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, delta: str) -> None:
        self.seen.append(delta)


@pytest.mark.parametrize("provider", sorted(VENDORS))
async def test_each_vendor_streams_its_text_usage_and_cost(
    provider: str, vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    route, env = VENDORS[provider]
    vendor.script(route, FakeResponse.ok(TEXT, usage=(17, 11)))
    registry = make_registry(env)
    deltas = Deltas()
    reply = await registry.complete(request(provider), on_delta=deltas)
    assert deltas.seen == WORDS  # one vendor event per word, passed on as it came
    assert reply.content == TEXT
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.estimated) == (17, 11, False)
    expected_cost = 0.0 if provider == "ollama" else registry.config.prices.cost(reply.model, reply.usage)
    assert reply.cost_usd == pytest.approx(expected_cost)
    assert reply.attempts == 1


async def test_streaming_requests_are_each_vendors_documented_form(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k"})
    for provider in ("openai", "anthropic", "gemini", "ollama"):
        await registry.complete(request(provider), on_delta=Deltas())
    openai, anthropic, gemini, ollama = vendor.requests
    assert openai.json["stream"] is True
    assert openai.json["stream_options"] == {"include_usage": True}
    assert anthropic.json["stream"] is True
    assert anthropic.headers["anthropic-version"] == "2023-06-01"
    assert gemini.path.endswith(":streamGenerateContent")
    assert gemini.query == {"alt": "sse"}
    assert ollama.path == "/api/chat"
    assert ollama.json["stream"] is True


async def test_without_a_sink_the_reply_is_not_streamed(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k"})
    await registry.complete(request("openai"))
    await registry.complete(request("ollama"))
    openai, ollama = vendor.requests
    assert "stream" not in openai.json
    assert ollama.json["stream"] is False


async def test_missing_stream_usage_is_estimated(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.ok(TEXT, omit_usage=True))
    registry = make_registry({"ANTHROPIC_API_KEY": "k"})
    reply = await registry.complete(request("anthropic"), on_delta=Deltas())
    assert reply.content == TEXT
    assert reply.usage.estimated
    assert reply.usage.output_tokens > 0


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama"])
@pytest.mark.parametrize("clean", [False, True], ids=["connection-dropped", "body-ended-early"])
async def test_a_stream_cut_midway_is_a_retriable_error_and_is_not_retried(
    provider: str, clean: bool, vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    route, env = VENDORS[provider]
    vendor.script(route, FakeResponse.cut(TEXT, after=3, clean=clean), FakeResponse.ok(TEXT))
    registry = make_registry(env)
    deltas = Deltas()
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request(provider), on_delta=deltas)
    error = caught.value
    assert error.retriable
    assert error.details["reason"] == "stream_cut"
    assert error.details["streamed_chars"] == len("".join(WORDS[:3]))
    assert provider in error.message
    assert deltas.seen == WORDS[:3]
    assert len(vendor.requests) == 1  # text went out: a second attempt would show a second text


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini", "ollama"])
async def test_an_error_event_inside_the_stream_is_retriable_and_names_the_vendors_message(
    provider: str, vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    route, env = VENDORS[provider]
    vendor.script(route, FakeResponse.stream_error(TEXT, after=2, message="Overloaded right now"))
    registry = make_registry(env)
    deltas = Deltas()
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request(provider), on_delta=deltas)
    assert caught.value.retriable  # overloaded / server error: the same request may succeed later
    assert caught.value.details["reason"] == "stream_error"
    assert "Overloaded right now" in caught.value.message
    assert deltas.seen == WORDS[:2]
    assert len(vendor.requests) == 1


async def test_anthropic_invalid_request_error_event_is_not_retriable(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(
        Route.ANTHROPIC_MESSAGES,
        FakeResponse.stream_error(TEXT, after=0, message="bad input", error_type="invalid_request_error"),
    )
    registry = make_registry({"ANTHROPIC_API_KEY": "k"})
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request("anthropic"), on_delta=Deltas())
    assert not caught.value.retriable
    assert "invalid_request_error: bad input" in caught.value.message


async def test_failures_before_the_first_token_are_retried_as_before(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(
        Route.OPENAI_CHAT,
        FakeResponse.error(503, "busy"),
        FakeResponse.cut(TEXT, after=0),  # broke before any text: nothing was shown, retry is safe
        FakeResponse.ok(TEXT),
    )
    registry = make_registry({"OPENAI_API_KEY": "k"})
    deltas = Deltas()
    reply = await registry.complete(request("openai"), on_delta=deltas)
    assert reply.attempts == 3
    assert "".join(deltas.seen) == TEXT == reply.content


async def test_fallback_streams_the_next_provider_when_the_first_fails_before_any_text(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(401, "bad key"))
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.ok(TEXT))
    registry = make_registry({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "PROVIDERS_FALLBACK": "anthropic"})
    deltas = Deltas()
    reply = await registry.complete(request("openai", fallback=True), on_delta=deltas)
    assert (reply.provider, reply.fallback_from) == ("anthropic", ["openai"])
    assert "".join(deltas.seen) == TEXT


async def test_no_fallback_once_text_went_out(vendor: FakeVendorServer, make_registry: RegistryFactory) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.cut(TEXT, after=4))
    registry = make_registry({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "PROVIDERS_FALLBACK": "anthropic"})
    deltas = Deltas()
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request("openai", fallback=True), on_delta=deltas)
    assert caught.value.retriable
    assert vendor.requests_to(Route.ANTHROPIC_MESSAGES) == []
    assert deltas.seen == WORDS[:4]


async def test_a_cut_stream_counts_against_the_circuit_breaker(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    registry = make_registry({"OPENAI_API_KEY": "k", "PROVIDERS_BREAKER_THRESHOLD": "2"})
    for _ in range(2):
        vendor.script(Route.OPENAI_CHAT, FakeResponse.cut(TEXT, after=1))
        with pytest.raises(ProviderError):
            await registry.complete(request("openai"), on_delta=Deltas())
    assert registry.circuit("openai").state.value == "open"


async def test_a_cached_reply_reaches_the_sink_as_one_delta(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.ok(TEXT))
    registry = make_registry({"OPENAI_API_KEY": "k"})
    first = await registry.complete(request("openai", use_cache=True, temperature=0.0), on_delta=Deltas())
    deltas = Deltas()
    again = await registry.complete(request("openai", use_cache=True, temperature=0.0), on_delta=deltas)
    assert again.cached
    assert deltas.seen == [first.content]
    assert len(vendor.requests) == 1


async def test_the_offline_provider_streams_its_text_in_chunks(make_registry: RegistryFactory) -> None:
    registry = make_registry({})
    deltas = Deltas()
    reply = await registry.complete(request("offline"), on_delta=deltas)
    assert reply.offline
    assert len(deltas.seen) > 3
    assert "".join(deltas.seen) == reply.content
    assert all(len(delta.split()) <= 6 for delta in deltas.seen)


def test_offline_chunks_give_back_the_text_exactly() -> None:
    for text in ["", "one", "  lead\n\nand   gaps  ", "a b c d e f g h i j k l m"]:
        assert "".join(stream_chunks(text)) == text


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_sse_framing_survives_any_chunk_boundary_crlf_comments_and_multiline_data() -> None:
    body = b': keep-alive\r\nevent: content_block_delta\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\n'
    expected = [("content_block_delta", '{"a":\n1}'), (None, "[DONE]")]
    for cut in range(1, len(body)):
        events = [event async for event in sse_events(_chunks(body[:cut], body[cut:]))]
        assert events == expected, cut


async def test_ndjson_framing_skips_blank_lines_and_keeps_a_last_line_without_newline() -> None:
    body = b'{"n": 1}\n\n{"n": 2}\r\n{"n": 3}'
    lines = [data async for _, data in ndjson_payloads(_chunks(body[:5], body[5:12], body[12:]))]
    assert lines == ['{"n": 1}', '{"n": 2}', '{"n": 3}']


async def test_a_stream_payload_that_is_not_json_is_a_malformed_response(
    vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    vendor.script(Route.OPENAI_CHAT, FakeResponse.raw(b"data: {oops\n\n", content_type="text/event-stream"))
    registry = make_registry({"OPENAI_API_KEY": "k"})
    with pytest.raises(ProviderError) as caught:
        await registry.complete(request("openai"), on_delta=Deltas())
    assert caught.value.details["reason"] == "malformed_response"
    assert not caught.value.retriable


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
async def test_a_streamed_request_does_not_follow_a_redirect_and_the_key_never_leaves(
    provider: str, vendor: FakeVendorServer, make_registry: RegistryFactory
) -> None:
    """As a plain request (issue 13): a followed redirect replays the key headers to the other origin."""
    route, env = VENDORS[provider]
    async with FakeVendorServer() as elsewhere:
        vendor.script(route, FakeResponse.redirect(f"{elsewhere.url}/elsewhere"))
        registry = make_registry({name: "k-secret" for name in env})
        with pytest.raises(ProviderError) as caught:
            await registry.complete(request(provider), on_delta=Deltas())
        assert elsewhere.requests == []  # nothing, and so no key, reached the other origin
    error = caught.value
    assert error.details["reason"] == "redirect"
    assert error.details["vendor_status"] == 307
    assert not error.retriable
    assert f"{elsewhere.url}/elsewhere" in error.message
    assert "k-secret" not in error.message
