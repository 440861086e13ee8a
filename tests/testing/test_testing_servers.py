"""The server helpers: ports that stay free until the server binds them, and nats-server's optional
monitoring (what benchmarks read open subscriptions from)."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy.bus import NatsBus, NatsOptions, RawMessage
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.testing.servers import NatsServer, RedisServer, ephemeral_port_range, free_port

SUBJECT = "alchemy.test.monitored"


def test_free_ports_come_from_below_the_range_the_kernel_gives_outgoing_connections() -> None:
    low, _ = ephemeral_port_range()
    ports = [free_port() for _ in range(20)]
    assert all(1024 <= port < low for port in ports), ports
    assert len(set(ports)) == len(ports)  # this process holds each reservation: none is handed out twice


def _sample_starting_with(monkeypatch: pytest.MonkeyPatch, first: int) -> None:
    """free_port tries ``first`` before the random ones it would try anyway."""
    real_sample = random.sample

    def sample(population: range, k: int) -> list[int]:
        return [first, *real_sample(population, k - 1)]

    monkeypatch.setattr(random, "sample", sample)


def test_a_port_another_process_was_given_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys; from prompt_alchemy.testing.servers import free_port; print(free_port(), flush=True); input()"
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        taken = int(other.stdout.readline())
        _sample_starting_with(monkeypatch, taken)
        assert free_port() != taken
    finally:
        other.communicate("\n")


def test_a_port_something_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        _sample_starting_with(monkeypatch, busy)
        assert free_port() != busy


def test_redis_listens_on_the_reserved_port(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        assert server.port < ephemeral_port_range()[0]
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(b"PING\r\n")
            assert connection.recv(16).startswith(b"+PONG")


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
