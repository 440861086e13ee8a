"""Connecting to NATS: a first connection that cannot succeed ends with a clear error, never a hang."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.bus import NatsBus, NatsOptions
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
