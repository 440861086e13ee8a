"""``engine.analyze`` with an LLM: the brief is the vendor's structured output, asked for in each
vendor's documented way; anything but a valid brief falls back to the offline analyser, saying so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.brief import BRIEF_JSON_SCHEMA, AnalyzeRequest, Brief, BriefDraft
from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, RecordedRequest, Route, structured_reply
from prompt_alchemy.workers.providers import ProviderRegistry, build_providers_service

TIMEOUT = 10.0
IDEA = "write a limerick about a cat who hates Mondays, for my niece's class, under 60 words"

KEYS = {
    "OPENAI_API_KEY": "k-openai",
    "ANTHROPIC_API_KEY": "k-anthropic",
    "GOOGLE_API_KEY": "k-google",
    "OPENROUTER_API_KEY": "k-openrouter",
    "XAI_API_KEY": "k-xai",
}


@pytest.fixture
async def served(bus: Bus, vendor: FakeVendorServer) -> AsyncIterator[ProviderRegistry]:
    env = {**vendor.env(), **KEYS, "PROVIDERS_DEFAULT": "openai", "PROVIDERS_MAX_RETRIES": "0"}
    registry = ProviderRegistry.from_env(env)
    service = build_providers_service(bus, registry)
    await service.start()
    yield registry
    await service.stop()
    await registry.aclose()


async def analyze(bus: Bus, **fields: Any) -> Brief:
    brief = await bus.request(schemas.ENGINE_ANALYZE, AnalyzeRequest(input=IDEA, **fields), timeout=TIMEOUT)
    assert isinstance(brief, Brief)
    return brief


def asked_schema(recorded: RecordedRequest) -> dict[str, Any]:
    """The schema the request carried, read the way each vendor documents it."""
    body: dict[str, Any] = recorded.json
    if recorded.route is Route.OPENAI_CHAT:
        response_format = body["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["strict"] is True
        assert response_format["json_schema"]["name"] == "idea_brief"
        schema: dict[str, Any] = response_format["json_schema"]["schema"]
        return schema
    if recorded.route is Route.ANTHROPIC_MESSAGES:
        assert body["tool_choice"] == {"type": "tool", "name": "idea_brief"}
        [tool] = body["tools"]
        assert tool["name"] == "idea_brief"
        schema = tool["input_schema"]
        return schema
    if recorded.route is Route.GEMINI_GENERATE:
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert "additionalProperties" not in json.dumps(config["responseSchema"])  # not in Gemini's Schema
        schema = config["responseSchema"]
        return schema
    schema = body["format"]
    return schema


@pytest.mark.parametrize(
    ("provider", "route"),
    [
        ("openai", Route.OPENAI_CHAT),
        ("openrouter", Route.OPENAI_CHAT),
        ("xai", Route.OPENAI_CHAT),
        ("anthropic", Route.ANTHROPIC_MESSAGES),
        ("gemini", Route.GEMINI_GENERATE),
        ("ollama", Route.OLLAMA_CHAT),
    ],
)
async def test_an_llm_writes_the_brief_as_structured_output(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer, provider: str, route: Route
) -> None:
    brief = await analyze(bus, provider=provider)
    [recorded] = vendor.requests
    assert recorded.route is route
    schema = asked_schema(recorded)
    assert set(schema["properties"]) == set(BRIEF_JSON_SCHEMA["properties"])
    assert "stream" not in recorded.json or recorded.json["stream"] is False  # a structured reply comes whole
    # the brief is the vendor's reply (the fake derives each field from the request), not the offline reading
    assert brief.source.startswith(f"{provider}/")
    assert brief.warnings == []
    assert brief.idea == IDEA
    assert brief.task.startswith("task: ")
    assert brief.constraints
    assert brief.constraints[0].text.startswith("constraints[0].text: ")
    assert brief.input is not None
    assert brief.input.placeholder.startswith("{{")
    assert brief.input.placeholder.endswith("}}")


async def test_the_brief_an_llm_returns_is_the_fake_vendors_reading_field_for_field(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer
) -> None:
    brief = await analyze(bus, provider="openai")
    sent = vendor.requests[0].json["messages"][-1]["content"]
    expected = BriefDraft.model_validate(structured_reply(BRIEF_JSON_SCHEMA, sent))
    assert brief.persona is expected.persona
    assert brief.task == expected.task
    assert [item.text for item in brief.constraints] == [item.text for item in expected.constraints]


async def test_a_persona_the_request_names_overrides_the_llms(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer
) -> None:
    for persona in (Persona.CODE, Persona.ANALYSIS):
        brief = await analyze(bus, provider="anthropic", persona=persona)
        assert brief.persona is persona
        assert brief.source.startswith("anthropic/")


@pytest.mark.parametrize(
    ("route", "provider", "scripted", "why"),
    [
        (Route.OPENAI_CHAT, "openai", FakeResponse.ok("Sure! Here is the brief: a limerick."), "no valid structured"),
        (Route.OPENAI_CHAT, "openai", FakeResponse.ok(json.dumps({"task": "only a task"})), "no valid structured"),
        (Route.ANTHROPIC_MESSAGES, "anthropic", FakeResponse.ok("a text block, no tool call"), "no valid structured"),
        (Route.GEMINI_GENERATE, "gemini", FakeResponse.ok('{"task": 3}'), "no valid structured"),
        (Route.OLLAMA_CHAT, "ollama", FakeResponse.error(500, "model crashed"), "could not write the brief"),
    ],
)
async def test_anything_but_a_valid_brief_falls_back_to_the_offline_analyser_and_says_so(
    bus: Bus,
    served: ProviderRegistry,
    vendor: FakeVendorServer,
    route: Route,
    provider: str,
    scripted: FakeResponse,
    why: str,
) -> None:
    vendor.script(route, scripted, structured=True)
    brief = await analyze(bus, provider=provider)
    assert brief.source == "offline"
    [warning] = brief.warnings
    assert "offline analyser" in warning
    assert why in warning
    assert provider in warning
    # the offline reading itself: a limerick's form rules and the stated word limit
    assert brief.form is not None
    assert "limerick" in brief.form.name.lower()
    assert any("60" in item.text for item in brief.constraints)


async def test_the_offline_provider_reads_the_idea_itself_without_any_vendor_call(
    bus: Bus, served: ProviderRegistry, vendor: FakeVendorServer
) -> None:
    brief = await analyze(bus, provider="offline")
    assert (brief.source, brief.warnings, vendor.requests) == ("offline", [], [])


async def test_the_fake_vendor_refuses_schemas_its_vendor_refuses(vendor: FakeVendorServer) -> None:
    """The fake holds requests to each vendor's rules, so a wrong wire format fails here as it would live."""
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    cases = [
        (
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": loose, "strict": True},
                },
            },
            "additionalProperties",
        ),
        (
            "/v1beta/models/g:generateContent",
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {**loose, "additionalProperties": False},
                },
            },
            "additionalProperties",
        ),
        (
            "/v1beta/models/g:generateContent",
            {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"responseSchema": loose}},
            "responseMimeType",
        ),
    ]
    async with aiohttp.ClientSession() as session:
        for path, body, word in cases:
            async with session.post(vendor.url + path, json=body) as response:
                assert response.status == 400
                assert word in json.dumps(await response.json())
        headers = {"anthropic-version": "2023-06-01"}
        anthropic = {
            "model": "c",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "a", "input_schema": loose}],
            "tool_choice": {"type": "tool", "name": "b"},
        }
        async with session.post(vendor.url + "/v1/messages", json=anthropic, headers=headers) as response:
            assert response.status == 400


async def test_a_provider_that_is_not_configured_is_a_clear_not_found(bus: Bus, served: ProviderRegistry) -> None:
    with pytest.raises(NotFound, match="unknown provider 'acme'"):
        await analyze(bus, provider="acme")
