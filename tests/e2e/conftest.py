"""End-to-end fixtures: real OS processes of ``prompt-alchemy``, real nats-server and Redis, a fake vendor.

Every child process is started through ``ChildProcess`` (readiness read from its stdout, never
slept for) and stopped in teardown, SIGKILL included if it lingers. The LLM vendor is the local
``FakeVendorServer`` (OpenAI wire format) running in the test's event loop: scripting a delay on
its answers is how a test keeps generate requests in flight.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeVendorServer
from prompt_alchemy.testing.waiting import eventually as eventually_holds

VENDOR_KEY = "sk-e2e-fake-key"

# settings the developer's shell may hold: a child must see only what the test gives it
_INHERITED_PREFIXES = (
    "ALCHEMY_", "NATS_", "REDIS_", "PROVIDERS_", "ENABLE_", "METRICS_", "HTTP_", "MCP_", "ENGINE_", "EMBEDDING_",
    "OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE_", "XAI_", "OPENROUTER", "OLLAMA",
)  # fmt: skip
_INHERITED_NAMES = {
    "DEPLOYMENT_MODE", "SERVICE_TYPE", "LOG_LEVEL", "DEBUG_MODE", "REQUEST_TIMEOUT", "SHUTDOWN_TIMEOUT",
    "LIVENESS_WINDOW", "RESEND_ATTEMPTS", "STREAM_REPLICAS", "GENERATION_CACHE", "CACHE_MIN_SIMILARITY",
    "CACHE_TTL",
}  # fmt: skip


def _child_environment(home: Path, **settings: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_PREFIXES) and name not in _INHERITED_NAMES
    }
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "share"), "PYTHONUNBUFFERED": "1"})
    env.update(settings)
    return env


ChildEnvironment = Callable[..., dict[str, str]]
Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def child_env(tmp_path: Path) -> ChildEnvironment:
    """``child_env(NAME=value, ...)``: this interpreter's environment minus every prompt-alchemy
    setting and vendor key, with HOME in the test's temp dir, plus the given settings."""
    return lambda **settings: _child_environment(tmp_path, **settings)


@pytest.fixture
def vendor_env(vendor: FakeVendorServer) -> dict[str, str]:
    """Generation through the fake OpenAI endpoint (no fallback), with room for many calls at once;
    no cache in front of the vendor, so every generate request holds vendor calls."""
    return {
        "OPENAI_API_KEY": VENDOR_KEY,
        "OPENAI_BASE_URL": vendor.base_url("openai"),
        "PROVIDERS_DEFAULT": "openai",
        "PROVIDERS_FALLBACK": "none",
        "PROVIDERS_CONCURRENCY": "256",
        "PROVIDERS_CACHE_SIZE": "0",
        "GENERATION_CACHE": "false",
        "ENGINE_CONCURRENCY": "64",
    }


@pytest.fixture
def eventually() -> Eventually:
    """``testing.waiting.eventually`` for probes that cross a process boundary: a connection
    refused or an HTTP error means "not yet" (a process starting or restarting), not a failure."""
    return functools.partial(eventually_holds, ignoring=(aiohttp.ClientError, OSError))


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendorServer]:
    async with FakeVendorServer() as server:
        yield server


@pytest.fixture
def private_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this test's own (AOF on): the cluster's prompts and learning state start empty."""
    with RedisServer(tmp_path_factory.mktemp("redis-e2e"), appendonly=True) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


@pytest.fixture
async def two_replica_cluster(
    tmp_path: Path, private_nats_server: NatsServer, private_redis_server: RedisServer
) -> AsyncIterator[Callable[[dict[str, str]], Awaitable[LocalCluster]]]:
    """``await two_replica_cluster(env)``: the microservice topology (two generation replicas, no
    MCP door) on this test's own nats-server and Redis, as OS processes; teardown stops it."""
    started: list[LocalCluster] = []

    async def start(env: dict[str, str]) -> LocalCluster:
        cluster = LocalCluster(
            nats_url=private_nats_server.url,
            redis_url=private_redis_server.url,
            data_dir=tmp_path / "cluster",
            env=env,
            layout=ClusterLayout(generation_replicas=2, mcp=False),
        )
        started.append(cluster)
        await cluster.start()
        return cluster

    yield start
    for cluster in started:
        await cluster.stop()


@pytest.fixture
async def observer(private_nats_server: NatsServer) -> AsyncIterator[NatsBus]:
    """The test's own NATS connection, for ADR-32 discovery."""
    bus = await NatsBus.connect(private_nats_server.url)
    yield bus
    await bus.drain()
