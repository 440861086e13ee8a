"""Gateway fixtures: a real bus, a real durable feedback log, real workers, real servers.

Tests here are a composition root of their own: they start the worker services that exist on
an ``InMemoryBus`` (or NATS), the gateway on a random 127.0.0.1 port, and talk to it over
HTTP. ``openapi_check`` validates an answer against the document the server itself serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from prompt_alchemy.bus import Bus, InMemoryBus, ServiceRunner
from prompt_alchemy.bus.streams import FEEDBACK_STREAM, DurableStream, open_stream, publish_event
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK
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
