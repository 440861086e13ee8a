"""Streamed tokens end to end, on both buses: fake vendor -> providers -> bus -> SSE / MCP.

The workers and the gateway sit on separate bus connections (on NATS: separate clients, as
separate processes would be). The fake vendor streams OpenAI ``chat.completion.chunk`` events;
the SSE client must see each candidate's text as ``token`` events of the fixed shape, before
that candidate's ``progress`` event, adding up to the candidate's content.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from mcp import Client

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.gateway.mcp import create_server
from prompt_alchemy.runtime.components import engine_worker, providers_worker, storage_worker
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.registry import STORAGE_STATS
from prompt_alchemy.schemas.storage import StorageStatsRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

BusFactory = Callable[[], Awaitable[Bus]]
SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]
SSE = {"Accept": "text/event-stream"}
TOKEN_KEYS = {"request_id", "phase", "chain", "delta"}


async def _no_feedback(_event: FeedbackEvent) -> FeedbackAccepted:
    raise AssertionError("this test records no feedback")


@dataclass
class Stack:
    http: aiohttp.ClientSession
    gateway_bus: Bus
    vendor: FakeVendorServer


@pytest.fixture
async def stack(bus_factory: BusFactory, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "data"})
    workers_bus = await bus_factory()
    gateway_bus = await bus_factory()
    async with FakeVendorServer() as vendor:
        environ = {**vendor.env(), "OPENAI_API_KEY": "k", "PROVIDERS_FALLBACK": "none"}
        app = create_app(gateway_bus, _no_feedback, HttpSettings(port=0))
        async with (
            providers_worker(workers_bus, settings, environ=environ),
            storage_worker(workers_bus, settings),
            engine_worker(workers_bus, settings),
            HttpServer(app, "127.0.0.1", 0) as server,
            aiohttp.ClientSession(base_url=server.url) as http,
        ):
            yield Stack(http, gateway_bus, vendor)


def split_stream(events: list[dict[str, str]]) -> tuple[list[GenerationProgress], list[tuple[int, dict[str, object]]]]:
    """(progress events, (position, token data) pairs) of an SSE stream, checking the token shape."""
    progress: list[GenerationProgress] = []
    tokens: list[tuple[int, dict[str, object]]] = []
    for position, event in enumerate(events):
        if event["event"] == "progress":
            progress.append(GenerationProgress.model_validate_json(event["data"]))
        elif event["event"] == "token":
            data = json.loads(event["data"])
            assert set(data) == TOKEN_KEYS
            assert "id" not in event
            tokens.append((position, data))
    return progress, tokens


async def test_sse_carries_each_candidates_tokens_before_its_progress_event(stack: Stack, read_sse: SseReader) -> None:
    body = {"input": "a checklist for reviewing pull requests", "count": 2, "request_id": "tok-1"}
    async with stack.http.post("/api/v1/prompts/generate", json=body, headers=SSE) as response:
        assert response.status == 200
        events = await read_sse(response)
    assert events[-1]["event"] == "result"
    assert {event["event"] for event in events[:-1]} == {"progress", "token"}
    progress, tokens = split_stream(events[:-1])
    assert [event.seq for event in progress] == list(range(len(progress)))
    assert {data["request_id"] for _, data in tokens} == {"tok-1"}
    assert {data["phase"] for _, data in tokens} == {phase.value for phase in Phase}
    candidate_at = {
        (str(json.loads(event["data"])["phase"]), int(json.loads(event["data"])["chain"])): position
        for position, event in enumerate(events)
        if event["event"] == "progress" and json.loads(event["data"])["kind"] == ProgressKind.CANDIDATE.value
    }
    candidates = [event for event in progress if event.kind is ProgressKind.CANDIDATE]
    assert len(candidates) == 6
    for candidate in candidates:
        assert candidate.phase is not None
        assert candidate.chain is not None
        key = (candidate.phase.value, candidate.chain)
        mine = [(position, data) for position, data in tokens if (data["phase"], data["chain"]) == key]
        assert mine, f"no tokens for {key}"
        assert all(position < candidate_at[key] for position, _ in mine)  # text first, then the candidate
        assert "".join(str(data["delta"]) for _, data in mine).strip() == candidate.data["content"]
    reply = GenerateReply.model_validate_json(events[-1]["data"])
    assert {prompt.content for prompt in reply.prompts} == {str(event.data["content"]) for event in candidates}


async def test_a_stream_cut_midway_stops_that_chain_and_stores_only_whole_prompts(
    stack: Stack, read_sse: SseReader
) -> None:
    text = "Act as a meticulous reviewer and list every risk you find in the change"
    stack.vendor.script(Route.OPENAI_CHAT, FakeResponse.cut(text, after=4), FakeResponse.ok(text))
    body = {"input": "review a change", "count": 2, "phases": ["prima-materia"], "request_id": "tok-cut"}
    async with stack.http.post("/api/v1/prompts/generate", json=body, headers=SSE) as response:
        events = await read_sse(response)
    assert events[-1]["event"] == "result"
    reply = GenerateReply.model_validate_json(events[-1]["data"])
    progress, tokens = split_stream(events[:-1])
    [survivor] = reply.prompts
    assert survivor.content == text
    cut_chain = 1 - survivor.chain
    cut_text = "".join(str(data["delta"]) for _, data in tokens if data["chain"] == cut_chain)
    assert cut_text == "Act as a meticulous"  # the listener saw the partial text as it came...
    assert any("stream" in warning and f"chain {cut_chain}" in warning for warning in reply.warnings)
    assert not [e for e in progress if e.kind is ProgressKind.CANDIDATE and e.chain == cut_chain]
    stats = await stack.gateway_bus.request(STORAGE_STATS, StorageStatsRequest(), timeout=30)
    assert stats.prompts == 1  # ...but only the whole prompt was stored


async def test_mcp_generate_sends_tokens_as_progress_notifications(stack: Stack) -> None:
    notes: list[tuple[float, str]] = []

    async def on_progress(value: float, _total: float | None, message: str | None) -> None:
        notes.append((value, message or ""))

    server = create_server(stack.gateway_bus, _no_feedback)
    arguments = {"input": "a haiku about tides", "count": 1, "phases": ["prima-materia"], "detail": True}
    async with Client(server) as client:
        result = await client.call_tool("generate_prompts", arguments, progress_callback=on_progress)
    assert not result.is_error
    assert result.structured_content is not None
    reply = GenerateReply.model_validate(result.structured_content["reply"])
    assert [value for value, _ in notes] == list(range(1, len(notes) + 1))
    prefix = "token prima-materia chain 0: "
    streamed = "".join(message.removeprefix(prefix) for _, message in notes if message.startswith(prefix))
    assert streamed.strip() == reply.prompts[0].content
    first_token = next(i for i, (_, message) in enumerate(notes) if message.startswith("token"))
    candidate = next(i for i, (_, message) in enumerate(notes) if message.startswith("candidate"))
    assert first_token < candidate
