"""The HTTP gateway in microservice mode: workers on one NATS connection, the gateway on another.

Separate connections are what separate processes would have; this shows the gateway needs
nothing but the bus, and that an SSE stream still carries every progress event (in order,
``completed`` last) before the result when events and reply cross a real nats-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.runtime.components import engine_worker, providers_worker, storage_worker
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.events import GenerationProgress
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.testing.servers import NatsServer

SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]


async def _no_feedback(_event: FeedbackEvent) -> FeedbackAccepted:
    raise AssertionError("this test records no feedback")


@pytest.fixture
async def nats_gateway(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "data"})
    workers_bus = await NatsBus.connect(nats_server.url)
    gateway_bus = await NatsBus.connect(nats_server.url)
    app = create_app(gateway_bus, _no_feedback, HttpSettings(port=0, health_services=("engine", "providers")))
    try:
        async with (
            providers_worker(workers_bus, settings, environ={}),
            storage_worker(workers_bus, settings),
            engine_worker(workers_bus, settings),
            HttpServer(app, "127.0.0.1", 0) as server,
            aiohttp.ClientSession(base_url=server.url) as session,
        ):
            yield session
    finally:
        await gateway_bus.drain()
        await workers_bus.drain()


async def test_sse_over_nats_carries_every_event_before_the_result(
    nats_gateway: aiohttp.ClientSession, read_sse: SseReader
) -> None:
    async with nats_gateway.get("/health") as response:
        assert response.status == 200
    body = {"input": "a bedtime story about a lighthouse", "count": 2, "cache": False}  # three real generations
    for _ in range(3):  # the ordering must hold every time, not by luck
        async with nats_gateway.post(
            "/api/v1/prompts/generate", json=body, headers={"Accept": "text/event-stream"}
        ) as response:
            events = await read_sse(response)
        assert events[-1]["event"] == "result"
        assert {event["event"] for event in events[:-1]} == {"progress", "token"}
        progress = [GenerationProgress.model_validate_json(e["data"]) for e in events[:-1] if e["event"] == "progress"]
        assert [event.seq for event in progress] == list(range(len(progress)))
        assert progress[-1].kind == "completed"
        assert [event.phase for event in progress if event.kind == "phase_started"] == list(Phase)
        reply = GenerateReply.model_validate_json(events[-1]["data"])
        assert reply.best is not None


async def test_a_worker_gone_from_nats_is_a_503(nats_gateway: aiohttp.ClientSession) -> None:
    async with nats_gateway.get("/api/v1/learning/stats") as response:
        assert response.status == 503
        assert (await response.json())["details"]["service"] == "learning"
