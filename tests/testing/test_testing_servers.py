"""The nats-server helper's optional monitoring: what benchmarks read open subscriptions from."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy.bus import NatsBus, NatsOptions, RawMessage
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.testing.servers import NatsServer

SUBJECT = "alchemy.test.monitored"


async def _ignore(_message: RawMessage) -> None:
    return None


def _named(connections: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [connection] = [connection for connection in connections if connection.get("name") == name]
    return connection


async def test_connz_lists_a_named_connection_with_its_subscriptions_until_they_are_released(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats", monitor_port=0) as server:
        assert server.monitor_url == f"http://127.0.0.1:{server.monitor_port}"
        bus = await NatsBus.connect(server.url, NatsOptions(name="monitored-client", connect_attempts=1))
        try:
            subscription = await bus.transport.subscribe(SUBJECT, _ignore)
            await bus.transport.flush()
            held = _named(await asyncio.to_thread(server.connections), "monitored-client")
            assert SUBJECT in held["subscriptions_list"]
            assert held["subscriptions"] == len(held["subscriptions_list"])

            await subscription.unsubscribe()
            await bus.transport.flush()
            released = _named(await asyncio.to_thread(server.connections), "monitored-client")
            assert SUBJECT not in released.get("subscriptions_list", [])
            assert released["subscriptions"] == held["subscriptions"] - 1
        finally:
            await bus.drain()


async def test_monitoring_keeps_its_port_across_a_restart_and_is_off_by_default(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "monitored", monitor_port=0) as server:
        port = server.monitor_port
        server.restart()
        assert server.monitor_port == port
        assert server.monitoring("/varz")["port"] == server.port
        bus = await NatsBus.connect(server.url, NatsOptions(name="after-restart", connect_attempts=1))
        try:
            assert _named(await asyncio.to_thread(server.connections), "after-restart")["subscriptions"] == 0
        finally:
            await bus.drain()
    with NatsServer(tmp_path / "plain") as plain, pytest.raises(ConfigError, match="without monitoring"):
        plain.connections()
