"""``prompt-alchemy cluster``: the whole microservice topology on this machine, no Docker needed.

nats-server (JetStream) and Redis (Search + JSON, AOF on) come from the dev extra's PyPI
packages, unless ``--nats``/``--redis`` name running ones; then every worker (generation
replicated) and both front doors run as their own processes (``LocalCluster``). Ctrl-C or
SIGTERM stops the front doors, then the workers (each draining), then the servers.

``--ha`` starts the topology that survives the loss of any one server: three clustered
nats-servers (feedback streams at R3) and a Redis primary + replica watched by three Sentinels
(writes confirmed on the replica); every process is given all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.redaction import mask_url
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.runtime.shutdown import serve_until_signalled

__all__ = ["register", "run_cluster"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = commands.add_parser(
        "cluster", help="development: every worker, the API and MCP as local processes on NATS and Redis"
    )
    cluster.add_argument("--generation-replicas", type=int, default=2, help="generation workers (default 2)")
    cluster.add_argument("--http-port", type=int, default=None, help="HTTP API port (default 8080, 0: any)")
    cluster.add_argument("--mcp-port", type=int, default=None, help="MCP port (default 3333, 0: any)")
    cluster.add_argument(
        "--ha", action="store_true", help="3 clustered nats-servers, Redis primary + replica + 3 Sentinels"
    )
    cluster.set_defaults(handler=run_cluster)


@dataclass(frozen=True, slots=True)
class Servers:
    """What every process of the cluster is told: NATS, and Redis as a URL or as Sentinels."""

    nats_url: str
    redis_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        redis = self.redis_url or f"Sentinels {self.env.get('REDIS_SENTINELS', '')}"
        return f"NATS {mask_url(self.nats_url)}, Redis {mask_url(redis)}"


@contextlib.contextmanager
def _dev_servers(settings: Settings) -> Iterator[Servers]:
    """NATS and Redis URLs: the configured ones, else servers started here under the data dir."""
    with contextlib.ExitStack() as stack:
        nats_url, redis_url = settings.nats_url, settings.redis_url
        if not nats_url or not settings.redis_target:
            try:
                from prompt_alchemy.testing.servers import NatsServer, RedisServer
            except ImportError as error:  # pragma: no cover - the module ships with the package
                raise ConfigError("cluster needs nats-server and Redis: install the dev extra") from error
        if not nats_url:
            nats = stack.enter_context(NatsServer(settings.data_dir / "cluster" / "nats"))
            nats_url = nats.url
        if not settings.redis_target:
            redis = stack.enter_context(RedisServer(settings.data_dir / "cluster" / "redis", appendonly=True))
            redis_url = redis.url
        yield Servers(nats_url, redis_url)


@contextlib.contextmanager
def _ha_servers(settings: Settings) -> Iterator[Servers]:
    """Three clustered nats-servers and a Sentinel-watched Redis pair, under ``<data dir>/cluster-ha``."""
    if settings.nats_url or settings.redis_target:
        raise ConfigError("cluster --ha starts its own servers: unset NATS_URL, REDIS_URL and REDIS_SENTINELS")
    from prompt_alchemy.testing.nats_cluster import NatsCluster
    from prompt_alchemy.testing.redis_sentinel import RedisSentinelGroup

    root = settings.data_dir / "cluster-ha"
    with NatsCluster(root / "nats") as nats, RedisSentinelGroup(root / "redis", appendonly=True) as redis:
        env = {
            "REDIS_SENTINELS": ",".join(redis.sentinels),
            "REDIS_SENTINEL_SERVICE": redis.service,
            "REDIS_WAIT_REPLICAS": "1",
            "STREAM_REPLICAS": str(len(nats.nodes)),
        }
        yield Servers(nats.url, None, env)


@contextlib.asynccontextmanager
async def _running(cluster: LocalCluster) -> AsyncIterator[LocalCluster]:
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()


def run_cluster(args: argparse.Namespace, settings: Settings) -> int:
    if args.generation_replicas < 1:
        raise ConfigError("--generation-replicas must be at least 1")
    layout = ClusterLayout(
        generation_replicas=args.generation_replicas,
        http_port=settings.http_port if args.http_port is None else args.http_port,
        mcp_port=settings.mcp_port if args.mcp_port is None else args.mcp_port,
    )
    servers = _ha_servers(settings) if args.ha else _dev_servers(settings)
    with servers as running:
        folder = settings.data_dir / ("cluster-ha" if args.ha else "cluster")

        async def start(stack: AsyncExitStack) -> None:
            cluster = LocalCluster(
                nats_url=running.nats_url, redis_url=running.redis_url, data_dir=folder,
                env={**os.environ, **running.env}, layout=layout,
            )  # fmt: skip
            await stack.enter_async_context(_running(cluster))
            print(f"{running.describe()}; logs in {cluster.log_dir}", flush=True)
            print(f"HTTP API on {cluster.http_url}/api/v1", flush=True)
            print(f"MCP (streamable HTTP) on {cluster.mcp_url}", flush=True)
            counts = ", ".join(f"{kind.value} x{len(group)}" for kind, group in cluster.workers.items())
            print(f"cluster serving ({counts}); Ctrl-C stops it", flush=True)

        return asyncio.run(
            serve_until_signalled(
                start, shutdown_timeout=settings.shutdown_timeout + 15, announce=lambda line: print(line, flush=True)
            )
        )
