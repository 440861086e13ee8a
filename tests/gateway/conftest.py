"""Gateway fixtures: a real bus, a real durable feedback log, real workers, real servers.

Tests here are a composition root of their own: they start the worker services that exist on
an ``InMemoryBus`` (or NATS), the gateway on a random 127.0.0.1 port, and talk to it over
HTTP. ``openapi_check`` validates an answer against the document the server itself serves.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from prompt_alchemy.bus import Bus, InMemoryBus, ServiceRunner
from prompt_alchemy.bus.streams import DurableStream, open_stream, publish_event
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.gateway.mcp import TOOL_NAMES
from prompt_alchemy.gateway.reply_summary import GenerateSummary
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.brief import Brief
from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.schemas.engine import BatchReply, OptimizeReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent, LearningStats, RecommendationsReply
from prompt_alchemy.schemas.providers import ProvidersListReply
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK
from prompt_alchemy.schemas.storage import GetReply, SearchReply
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.service import build_storage_service
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

GatewayFactory = Callable[..., Awaitable[aiohttp.ClientSession]]
OpenApiCheck = Callable[[aiohttp.ClientResponse, Any], Awaitable[None]]


@pytest.fixture
async def gateway_bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    yield bus
    await bus.drain()


@pytest.fixture
async def feedback_stream(gateway_bus: Bus, tmp_path: Path) -> AsyncIterator[DurableStream]:
    stream = await open_stream(gateway_bus, FEEDBACK_STREAM, data_dir=tmp_path / "feedback")
    yield stream
    await stream.close()


@pytest.fixture
def feedback_sink(feedback_stream: DurableStream) -> FeedbackSink:
    """The runtime's durable publisher, as the runtime builds it: the embedded SQLite log."""

    async def sink(event: FeedbackEvent) -> FeedbackAccepted:
        return await publish_event(feedback_stream, LEARNING_FEEDBACK, event)

    return sink


@pytest.fixture
async def storage_service(gateway_bus: Bus, tmp_path: Path) -> AsyncIterator[ServiceRunner]:
    """The real storage worker: SQLite + numpy index, WordLlama embeddings."""
    store = SqlitePromptStore(tmp_path / "storage")
    runner = build_storage_service(gateway_bus, store, WordLlamaEmbedder())
    await runner.start()
    yield runner
    await runner.stop()
    await store.close()


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmbeddedRuntime]:
    """All four workers in-process, offline: no vendor key reaches the providers worker."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")):
            monkeypatch.delenv(name)
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "data"})
    async with EmbeddedRuntime(settings) as embedded:
        yield embedded


@pytest.fixture
async def start_gateway(gateway_bus: Bus, feedback_sink: FeedbackSink) -> AsyncIterator[GatewayFactory]:
    """Starts the HTTP gateway on a random port with the given settings; returns a client session on it."""
    servers: list[HttpServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(
        settings: HttpSettings | None = None, *, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientSession:
        app = create_app(gateway_bus, feedback_sink, settings or HttpSettings(port=0))
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        servers.append(server)
        session = aiohttp.ClientSession(base_url=server.url, headers=headers)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        await session.close()
    for server in servers:
        await server.stop()


@pytest.fixture
async def http(start_gateway: GatewayFactory) -> aiohttp.ClientSession:
    """The gateway with default settings (no auth, no rate limit, metrics on)."""
    return await start_gateway()


def _template_of(path: str, document: dict[str, Any]) -> str:
    """The OpenAPI path template a concrete path matches (``/api/v1/prompts/abc`` -> ``.../{id}``)."""
    if path in document["paths"]:
        return path
    parts = path.split("/")
    for template in document["paths"]:
        pieces = template.split("/")
        if len(pieces) == len(parts) and all(
            piece == part or piece.startswith("{") for piece, part in zip(pieces, parts, strict=True)
        ):
            return str(template)
    raise AssertionError(f"{path} matches no path of the OpenAPI document")


@pytest.fixture
async def openapi_check(http: aiohttp.ClientSession) -> OpenApiCheck:
    """Validates a JSON answer against the schema its operation documents for its status."""
    async with http.get("/openapi.json") as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()

    async def check(response: aiohttp.ClientResponse, body: Any) -> None:
        template = _template_of(response.url.path, document)
        operation = document["paths"][template][response.method.lower()]
        documented = operation["responses"].get(str(response.status)) or operation["responses"]["default"]
        media = documented["content"]["application/json"]
        schema = {**media["schema"], "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(body)

    return check


@pytest.fixture
async def engine_worker(gateway_bus: Bus) -> AsyncIterator[Any]:
    """The real generation engine (its providers/storage/learning are whatever else the test starts)."""
    from prompt_alchemy.workers.generation import EngineSettings, build_engine_worker

    worker = build_engine_worker(gateway_bus, EngineSettings())
    await worker.start()
    yield worker
    await worker.stop()


SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]


@pytest.fixture
def read_sse() -> SseReader:
    return read_event_stream


async def read_event_stream(response: aiohttp.ClientResponse) -> list[dict[str, str]]:
    """Every server-sent event of a response as ``{"event", "id", "data"}``, in order."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if current:
                events.append(current)
                current = {}
            continue
        name, _, value = line.partition(": ")
        current[name] = f"{current[name]}\n{value}" if name in current else value
    if current:
        events.append(current)
    return events


def tool_text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def _ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, tool_text(result)
    assert result.structured_content is not None
    return result.structured_content


async def exercise_every_tool(client: Client) -> None:
    """List the ten tools, call each against real workers, check errors and generation progress."""
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, _total: float | None, message: str | None) -> None:
        progress.append((value, message))

    tools = (await client.list_tools()).tools
    assert tuple(tool.name for tool in tools) == TOOL_NAMES

    arguments = {"input": "a haiku about volcanoes", "count": 2}
    summary = GenerateSummary.model_validate(
        _ok(await client.call_tool("generate_prompts", arguments, progress_callback=on_progress))
    )
    assert summary.best is not None
    assert summary.best.id is not None
    assert summary.reply is None  # the compact answer unless `detail` asks for the full reply
    best_id = summary.best.id
    detailed = GenerateSummary.model_validate(
        _ok(await client.call_tool("generate_prompts", {**arguments, "save": False, "detail": True}))
    )
    assert detailed.reply is not None
    generated = detailed.reply
    assert generated.best is not None
    assert len(generated.prompts) == 6
    brief = Brief.model_validate(_ok(await client.call_tool("analyze_idea", {"input": "a haiku about volcanoes"})))
    assert brief.persona is Persona.WRITING
    assert brief.form is not None
    assert len(progress) >= 3
    assert [value for value, _ in progress] == list(range(1, len(progress) + 1))
    messages = [message or "" for _, message in progress]
    assert messages[0].startswith("started")
    assert any(message.startswith("phase_started prima-materia") for message in messages)
    assert messages[-1].startswith("completed")

    found = SearchReply.model_validate(_ok(await client.call_tool("search_prompts", {"query": "volcano haiku"})))
    assert best_id in [hit.record.id for hit in found.hits]
    got = GetReply.model_validate(_ok(await client.call_tool("get_prompt", {"id": best_id})))
    assert got.record.content == summary.best.content
    optimized = OptimizeReply.model_validate(
        _ok(await client.call_tool("optimize_prompt", {"prompt_id": best_id, "max_iterations": 1}))
    )
    assert optimized.iterations
    items = {"items": [{"input": "a limerick"}, {"input": "a sonnet"}]}
    batch = BatchReply.model_validate(_ok(await client.call_tool("batch_generate", items)))
    assert batch.succeeded == 2
    providers = ProvidersListReply.model_validate(_ok(await client.call_tool("list_providers", {})))
    assert any(provider.offline and provider.available for provider in providers.providers)
    accepted = FeedbackAccepted.model_validate(
        _ok(await client.call_tool("record_feedback", {"prompt_id": best_id, "rating": 5}))
    )
    assert not accepted.duplicate
    recommended = RecommendationsReply.model_validate(
        _ok(await client.call_tool("get_recommendations", {"input": "a poem about volcanoes"}))
    )
    assert recommended.items
    LearningStats.model_validate(_ok(await client.call_tool("get_learning_stats", {})))

    invalid = await client.call_tool("generate_prompts", {"input": "x", "count": 99})
    assert invalid.is_error
    assert "count" in tool_text(invalid)
    unknown = await client.call_tool("get_prompt", {"id": "no-such-prompt"})
    assert unknown.is_error
    assert "no-such-prompt" in tool_text(unknown)


@pytest.fixture
def every_tool() -> Callable[[Client], Awaitable[None]]:
    return exercise_every_tool
