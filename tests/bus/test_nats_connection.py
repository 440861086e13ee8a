"""Connecting to NATS: a first connection that cannot succeed ends with a clear error, never a hang."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest

from prompt_alchemy.bus import NatsBus, NatsOptions
from prompt_alchemy.bus.nats_transport import flush_in_order
from prompt_alchemy.errors import BusClosed
from prompt_alchemy.testing.servers import NatsServer, free_port


async def test_no_server_is_a_bus_closed_error_naming_the_address() -> None:
    port = free_port()
    options = NatsOptions(connect_attempts=2, reconnect_time_wait=0.01, connect_timeout=0.5)
    async with asyncio.timeout(30):  # liveness bound: unbounded retries would hang here
        with pytest.raises(BusClosed) as caught:
            await NatsBus.connect(f"nats://127.0.0.1:{port}", options)
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_established_connection_reconnects_without_limit(private_nats_server: NatsServer) -> None:
    bus = await NatsBus.connect(private_nats_server.url, NatsOptions(connect_attempts=1))
    try:
        assert bus.transport.client.options["max_reconnect_attempts"] == -1
        await bus.transport.flush()
    finally:
        await bus.close()


class _RecordingNatsServer:
    """Just enough of the NATS protocol for a client to connect, subscribe and flush; it records the
    order in which the protocol lines arrive, which a real server cannot report."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"nats://127.0.0.1:{port}"

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = '{"server_id":"recorder","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576}'
        writer.write(f"INFO {info}\r\n".encode())
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                command = line.decode().split(" ", 1)[0].strip()
                self.lines.append(command)
                if command == "PING":
                    writer.write(b"PONG\r\n")
                    await writer.drain()
        writer.close()


async def test_a_flush_reaches_the_server_after_every_command_sent_before_it() -> None:
    """nats-py 2.16 writes ``flush()``'s PING ahead of its pending buffer, so a subscription made
    just before could be registered after the PONG; ``flush_in_order`` sends the buffer first."""
    recorder = _RecordingNatsServer()
    async with recorder as url:
        client = await nats.connect(url, allow_reconnect=False)
        try:
            connected = len(recorder.lines)  # CONNECT and the first PING
            await client.subscribe("some.subject")
            await client.publish("some.subject", b"x")
            await flush_in_order(client)
            commands = [line for line in recorder.lines[connected:] if line in {"SUB", "PUB", "PING"}]
        finally:
            await client.close()
    assert commands == ["SUB", "PUB", "PING"]
