"""API keys never appear in logs, error messages, replies or the provider catalogue.

Every vendor here is made to fail in ways that echo the key back (a 401 quoting it, a 500 and a
malformed body containing it, a 429 that makes the registry log and fall back); then every
captured output is searched for the key.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping

import pytest

from prompt_alchemy.errors import ServiceError
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, EmbedRequest, ProviderTestRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route, Vendor
from prompt_alchemy.workers.providers import ProviderRegistry

RegistryFactory = Callable[[Mapping[str, str]], ProviderRegistry]
SECRET = "sk-test-SECRET-123"
KEYED = {
    "OPENAI_API_KEY": SECRET,
    "ANTHROPIC_API_KEY": SECRET,
    "GEMINI_API_KEY": SECRET,
    "XAI_API_KEY": SECRET,
    "OPENROUTER_API_KEY": SECRET,
    "PROVIDERS_MAX_RETRIES": "1",
}


def ask(provider: str | None, *, fallback: bool = False) -> CompletionRequest:
    return CompletionRequest(
        provider=provider,
        messages=[ChatMessage(role="user", content="hi")],
        fallback=fallback,
        use_cache=False,
    )


def everything_about(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, ServiceError):
        parts += [error.message, json.dumps(error.details, default=str)]
    return "\n".join(parts)


async def test_keys_never_leak_even_when_vendors_echo_them(
    vendor: FakeVendorServer, make_registry: RegistryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for kind in (Vendor.OPENAI, Vendor.ANTHROPIC, Vendor.GEMINI):
        vendor.api_keys[kind] = "the-right-key"
    registry = make_registry(KEYED)
    vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.error(401, "invalid x-api-key {api_key}"))
    vendor.script(Route.GEMINI_GENERATE, FakeResponse.error(400, "API key not valid: {api_key}"))
    captured: list[str] = []

    for provider in ("openai", "anthropic", "gemini"):  # 401/400 whose messages quote the key
        with pytest.raises(ServiceError) as caught:
            await registry.complete(ask(provider))
        captured.append(everything_about(caught.value))

    del vendor.api_keys[Vendor.OPENAI]
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500, "upstream failed for key {api_key}"))
    vendor.script(Route.OPENAI_CHAT, FakeResponse.error(500, "upstream failed for key {api_key}"))
    with pytest.raises(ServiceError) as caught:
        await registry.complete(ask("openai"))
    captured.append(everything_about(caught.value))

    vendor.script(Route.OPENAI_CHAT, FakeResponse.raw(f"<html>proxy error for {SECRET}</html>".encode()))
    with pytest.raises(ServiceError) as caught:
        await registry.complete(ask("openai"))
    captured.append(everything_about(caught.value))

    vendor.script(Route.OPENAI_CHAT, FakeResponse.raw(f'{{"choices": "{SECRET}"}}'.encode()))
    with pytest.raises(ServiceError) as caught:
        await registry.complete(ask("openai"))
    captured.append(everything_about(caught.value))

    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.error(429, "rate limited: {api_key}", retry_after="1")] * 2)
    reply = await registry.complete(ask("openai", fallback=True))  # logs the failure, falls back
    captured.append(reply.model_dump_json())

    probe = await registry.test(ProviderTestRequest(name="anthropic"))
    assert not probe.ok
    captured.append(probe.model_dump_json())
    vendor.script(Route.GEMINI_EMBED, FakeResponse.error(403, "key {api_key} lacks permission"))
    with pytest.raises(ServiceError) as caught:
        await registry.embed(EmbedRequest(provider="gemini", texts=["x"]))
    captured.append(everything_about(caught.value))
    captured.append(registry.list().model_dump_json())
    captured.append(repr(registry.config))
    captured += [record.getMessage() for record in caplog.records]
    captured.append(caplog.text)

    assert any(request.headers.get("x-api-key") == SECRET for request in vendor.requests)  # the key was used
    assert any("[redacted]" in text for text in captured)  # and the echoes were scrubbed
    leaks = [text for text in captured if SECRET in text or "SECRET-123" in text]
    assert leaks == []
