"""Where Redis is — one URL, or a service watched by Sentinels — and what makes a write acknowledged.

Shared by the storage and learning workers, which both keep their state in Redis. With Sentinels the
client is redis-py's own ``Sentinel(...).master_for(service)``: every new connection asks the
Sentinels for the current primary, and a connection to a demoted primary (``READONLY``) is dropped,
so after a failover the next command reaches the promoted replica without a restart.

Redis replicates asynchronously: a write the primary has applied can die with it. With
``wait_replicas`` > 0, ``confirm_written`` runs after each write and raises ``Unavailable``
unless that many replicas hold it (``WAIT``), so an acknowledged write survives the loss of the
primary; a write that could not be confirmed is reported as failed (it may or may not survive,
and retrying it is safe because every write the workers do is idempotent).

``WAIT`` confirms what the node it runs on holds, and during a failover two commands of one client
can reach two nodes. So a write is confirmed on the node that took it: the write itself goes in the
confirming pipeline (``read_confirmed``: one pipeline is one connection, one node), or — a
``WATCH``/``MULTI`` transaction, whose connection redis-py releases at ``EXEC`` — it sets a
``WriteProof`` key in its transaction, and the confirmation deletes that key on the node it confirms
on (``confirm_written``): no key there, the write is not on the confirmed node, and not acknowledged.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
import redis.sentinel
from redis.asyncio.sentinel import Sentinel

from prompt_alchemy.errors import Unavailable

__all__ = ["RedisTarget", "WriteProof", "close_blocking_client", "close_client", "parse_host_port"]

_BARRIER_KEY = "alchemy:replication-barrier"
_PROOF_PREFIX = "alchemy:replication-proof:"
_PROOF_TTL_MS = 600_000  # a proof whose confirmation failed is left behind: it expires


class WriteProof:
    """A one-off key a write sets in its own transaction, so that its confirmation (``confirm_written``)
    can tell whether the node it confirms on took that write. Inert (``key`` None) without ``WAIT``."""

    __slots__ = ("key", "written")

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.written = False

    @property
    def inert(self) -> bool:
        """No key to set (no ``WAIT``): ``execute`` queues nothing, a lone atomic command needs no ``MULTI``."""
        return self.key is None

    async def execute(self, pipe: aioredis.client.Pipeline) -> list[Any]:
        """``pipe.execute()`` with the proof queued last in it (inside its ``MULTI``, for a transaction);
        the replies of what the caller queued."""
        if self.key is None:
            replies: list[Any] = await pipe.execute()
            return replies
        pipe.set(self.key, b"1", px=_PROOF_TTL_MS)
        replies = await pipe.execute()
        self.written = True
        return replies[:-1]


def parse_host_port(text: str) -> tuple[str, int]:
    """``host:port`` as a pair; ``ValueError`` naming the bad entry otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A plain ``url``, or ``sentinels`` + ``service``; writes wait for ``wait_replicas`` replicas."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    wait_replicas: int = 0
    wait_timeout: float = 2.0

    def __post_init__(self) -> None:
        if (self.url is None) == (not self.sentinels):
            raise ValueError("a Redis target is a URL or a list of Sentinels, exactly one of them")
        if self.sentinels and not self.service:
            raise ValueError("Sentinels need the name of the service (master) they monitor")
        if self.wait_replicas < 0 or self.wait_timeout <= 0:
            raise ValueError("wait_replicas must be >= 0 and wait_timeout > 0")

    @classmethod
    def sentinel(
        cls, sentinels: Sequence[str], service: str, *, wait_replicas: int = 1, wait_timeout: float = 2.0
    ) -> RedisTarget:
        return cls(
            sentinels=tuple(parse_host_port(entry) for entry in sentinels),
            service=service,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )

    def describe(self) -> str:
        """For messages and logs: never a password."""
        if self.url is not None:
            scheme, _, rest = self.url.partition("://")
            return f"{scheme}://{rest.rpartition('@')[2]}"
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"Sentinel service {self.service} via {hosts}"

    def client(self, **options: Any) -> aioredis.Redis:
        """A client of the primary; ``options`` are redis-py connection options (timeouts, retry)."""
        if self.url is not None:
            return aioredis.Redis.from_url(self.url, **options)
        timeouts: dict[str, Any] = {
            key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
        }
        manager = Sentinel(list(self.sentinels), sentinel_kwargs=timeouts)
        assert self.service is not None  # checked in __post_init__
        client: aioredis.Redis = manager.master_for(self.service, redis_class=aioredis.Redis, **options)
        return client

    def blocking_client(self) -> redis.Redis:
        """A synchronous client of the primary, for libraries that build things synchronously
        (redisvl's ``SemanticCache``); the caller closes it (``close_blocking_client``)."""
        if self.url is not None:
            return redis.Redis.from_url(self.url)
        assert self.service is not None  # checked in __post_init__
        manager = redis.sentinel.Sentinel(list(self.sentinels))
        client: redis.Redis = manager.master_for(self.service, redis_class=redis.Redis)
        return client

    def write_proof(self) -> WriteProof:
        """A fresh proof for one write, to pass to ``confirm_written`` once the write is done."""
        return WriteProof(f"{_PROOF_PREFIX}{secrets.token_hex(16)}" if self.wait_replicas else None)

    async def confirm_written(self, client: aioredis.Redis, proof: WriteProof) -> None:
        """Return once ``wait_replicas`` replicas hold the write ``proof`` was set with, else ``Unavailable``
        — also if the node the confirmation reached does not hold it (a failover since the write).

        ``WAIT`` counts the writes of the connection it runs on, so a one-key write on the confirming
        connection is the barrier: replication is one ordered stream, and a replica that has it has
        everything that node held before. Without a written proof (the operation wrote nothing) this
        is that bare barrier.
        """
        if not self.wait_replicas:
            return
        if proof.key is None or not proof.written:
            await self.read_confirmed(client, lambda _pipe: None)
            return
        key = proof.key
        (found,) = await self.read_confirmed(client, lambda pipe: pipe.delete(key))
        if not int(found):
            raise Unavailable(
                f"the write is not on the Redis primary that confirmed it ({self.describe()}): a failover in "
                "between; it is not acknowledged, retrying is safe"
            )

    async def read_confirmed(
        self, client: aioredis.Redis, reads: Callable[[aioredis.client.Pipeline], object]
    ) -> list[Any]:
        """The answers of the commands ``reads`` queues on a pipeline, once ``wait_replicas`` replicas
        hold everything those answers were read from (and what they wrote); else ``Unavailable``.

        The commands, the barrier write and ``WAIT`` go in one pipeline, on one connection, so they
        all reach the same node: what it answered is confirmed, not just what the caller wrote. A
        value a node holds unconfirmed — a write whose ``WAIT`` failed — is no proof: that node's
        data may be discarded by a failover to a replica that never got it. redis-py sends a
        pipeline's commands on one connection; a retry after a broken connection resends all of
        them, on the reconnected connection, so they still reach one node together. Queue no
        ``Script`` objects: redis-py loads those on another pooled connection first — use ``eval``.
        """
        async with client.pipeline(transaction=False) as pipe:
            reads(pipe)
            queued = len(pipe)
            if self.wait_replicas:
                pipe.incr(_BARRIER_KEY)
                pipe.wait(self.wait_replicas, int(self.wait_timeout * 1000))
            try:
                replies: list[Any] = await pipe.execute()
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
                raise Unavailable(f"Redis ({self.describe()}) is unreachable: {error}") from error
        if self.wait_replicas:
            acked = int(replies[-1])
            if acked < self.wait_replicas:
                raise Unavailable(
                    f"the write reached {acked} of the {self.wait_replicas} Redis replica(s) it needs within "
                    f"{self.wait_timeout:g}s ({self.describe()}); it is not acknowledged, retrying is safe"
                )
        return replies[:queued]


async def close_client(client: aioredis.Redis) -> None:
    """Close ``client`` and, for a Sentinel-managed one, its connections to the Sentinels."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    await client.aclose()
    if isinstance(manager, Sentinel):
        for sentinel in manager.sentinels:
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await sentinel.aclose()


def close_blocking_client(client: redis.Redis) -> None:
    """``close_client`` for a client from ``RedisTarget.blocking_client``."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    client.close()
    if isinstance(manager, redis.sentinel.Sentinel):
        for sentinel in manager.sentinels:
            with contextlib.suppress(redis_errors.RedisError, OSError):
                sentinel.close()
