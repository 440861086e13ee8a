"""A long-running gateway holds no more bus resources after a thousand streamed generates.

Each streamed generate subscribes to its request's progress subject and each ``/health``
collects discovery replies on an inbox of its own; both must be released once the answer is
written, on either bus. Before the fix of issue 12 every one of them left a subscription (and
the SSE response its handler pinned) in ``NatsTransport``. Counted on the gateway's own
transport, with the real engine, offline providers and storage behind it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import aiohttp
import pytest

from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.runtime.components import engine_worker, providers_worker, storage_worker
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.testing.servers import NatsServer

SseReader = Callable[[aiohttp.ClientResponse], Awaitable[list[dict[str, str]]]]
SSE = {"Accept": "text/event-stream"}
GENERATES = 1_000
HEALTH_EVERY = 10  # one /health per ten generates: 100 in all
CLIENTS = 8  # concurrent clients: releases must hold when requests overlap, not only one by one


@runtime_checkable
class CountedTransport(Protocol):
    """What both transports report about the bus resources they hold."""

    @property
    def subscription_count(self) -> int: ...

    @property
    def pending_requests(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Gateway:
    http: aiohttp.ClientSession
    transport: CountedTransport


async def _no_feedback(_event: FeedbackEvent) -> FeedbackAccepted:
    raise AssertionError("this test records no feedback")


@pytest.fixture
async def gateway(bus_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    """The HTTP gateway on its own bus (on NATS its own connection) with offline workers behind it."""
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "data"})
    workers_bus: Bus
    gateway_bus: Bus
    if bus_kind == "memory":
        gateway_bus = workers_bus = InMemoryBus()
    else:
        server: NatsServer = request.getfixturevalue("nats_server")
        workers_bus = await NatsBus.connect(server.url)
        gateway_bus = await NatsBus.connect(server.url)
    transport = gateway_bus.transport
    assert isinstance(transport, CountedTransport)
    app = create_app(
        gateway_bus, _no_feedback, HttpSettings(port=0, health_services=("engine", "providers", "storage"))
    )
    try:
        async with (
            providers_worker(workers_bus, settings, environ={}),
            storage_worker(workers_bus, settings),
            engine_worker(workers_bus, settings),
            HttpServer(app, "127.0.0.1", 0) as http_server,
            aiohttp.ClientSession(base_url=http_server.url) as http,
        ):
            yield Gateway(http, transport)
    finally:
        await gateway_bus.drain()
        if workers_bus is not gateway_bus:
            await workers_bus.drain()


async def _streamed_generate(http: aiohttp.ClientSession, n: int, read_sse: SseReader) -> None:
    # One phase, one candidate, nothing stored: the gateway's side of a generate, at the least cost.
    body = {
        "input": f"a short note about lighthouse number {n}",
        "count": 1,
        "phases": ["prima-materia"],
        "save": False,
        "use_history": False,
    }
    async with http.post("/api/v1/prompts/generate", json=body, headers=SSE) as response:
        assert response.status == 200
        events = await read_sse(response)
    assert events[-1]["event"] == "result", events[-1]
    assert {event["event"] for event in events[:-1]} <= {"progress", "token"}  # token: streamed text
    assert GenerateReply.model_validate_json(events[-1]["data"]).best is not None


async def _health(http: aiohttp.ClientSession) -> None:
    async with http.get("/health") as response:
        assert response.status == 200, await response.text()


async def test_streamed_generates_and_health_calls_leave_no_bus_resource_behind(
    gateway: Gateway, read_sse: SseReader
) -> None:
    subscriptions_before = gateway.transport.subscription_count
    pending_before = gateway.transport.pending_requests
    numbers = itertools.count()

    async def client() -> None:
        while (n := next(numbers)) < GENERATES:
            await _streamed_generate(gateway.http, n, read_sse)
            if n % HEALTH_EVERY == 0:
                await _health(gateway.http)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))

    assert gateway.transport.subscription_count == subscriptions_before
    assert gateway.transport.pending_requests == pending_before
