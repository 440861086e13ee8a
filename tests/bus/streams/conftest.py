"""Durable streams of both kinds for the contract suite: an SQLite log and JetStream on a real nats-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from prompt_alchemy.bus import InMemoryBus, NatsBus
from prompt_alchemy.bus.streams import DurableStream, StreamSpec, open_stream
from prompt_alchemy.testing.servers import NatsServer

STREAM_KINDS = ["sqlite", "jetstream"]

StreamOpener = Callable[[], Awaitable[DurableStream]]


@pytest.fixture
def stream_spec() -> StreamSpec:
    """A stream of the test's own (JetStream streams outlive a test on the shared server)."""
    token = uuid.uuid4().hex[:12]
    return StreamSpec(name=f"T{token.upper()}", subjects=(f"test.{token}.events",), duplicate_window=3600.0)


@pytest.fixture(params=STREAM_KINDS)
def stream_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_test_stream(
    stream_kind: str, stream_spec: StreamSpec, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StreamOpener]:
    """Opens handles on one stream; every call is another connection/handle, as another process would have."""
    opened: list[DurableStream] = []
    buses: list[NatsBus] = []

    async def open_handle() -> DurableStream:
        if stream_kind == "sqlite":
            stream = await open_stream(InMemoryBus(), stream_spec, data_dir=tmp_path / "streams")
        else:
            server: NatsServer = request.getfixturevalue("nats_server")
            bus = await NatsBus.connect(server.url)
            buses.append(bus)
            stream = await open_stream(bus, stream_spec, data_dir=None)
        opened.append(stream)
        return stream

    yield open_handle
    for stream in opened:
        await stream.close()
    if buses:
        js = buses[0].transport.client.jetstream()
        for name in (stream_spec.name, stream_spec.dead_letter_name):
            await js.delete_stream(name)
    for bus in buses:
        await bus.close()


@pytest.fixture
async def stream(open_test_stream: StreamOpener) -> DurableStream:
    return await open_test_stream()
