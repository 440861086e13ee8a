"""Losing an engine replica mid-flight costs no request: killed, frozen, cut off, or restarted.

The microservice topology as OS processes (real nats-server and Redis, the fake OpenAI vendor at
200 ms per completion), two engine replicas, 200 concurrent ``POST /prompts/generate``. Each
scenario loses one replica while it holds requests; every request must still be answered 200
(at most one may fail, and then with a retriable error) — and none may be ended by its deadline
(``REQUEST_TIMEOUT=20``), which a waiting-out would show as 504. The slowest answer of each run
is printed beside the slowest of the same load without a loss (the README quotes them).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.discovery import discover_pings
from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import LocalCluster
from prompt_alchemy.runtime.settings import ServiceType
from prompt_alchemy.schemas.storage import StorageStats
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.testing.tcp_proxy import TcpProxy
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route
from prompt_alchemy.testing.waiting import eventually

pytestmark = pytest.mark.slow

REQUESTS = 200
REQUEST_TIMEOUT_S = 20.0
VENDOR_DELAY_S = 0.2
FREEZE_S = 10.0
WAIT_S = 60.0


@pytest.fixture
async def proxy(private_nats_server: NatsServer) -> AsyncIterator[TcpProxy]:
    async with TcpProxy(private_nats_server.port) as relay:
        yield relay


@pytest.fixture
async def cluster(
    two_replica_cluster: Callable[[dict[str, str]], Awaitable[LocalCluster]],
    child_env: Callable[..., dict[str, str]],
    vendor_env: dict[str, str],
) -> LocalCluster:
    env = child_env(REQUEST_TIMEOUT=str(REQUEST_TIMEOUT_S), SHUTDOWN_TIMEOUT="20", **vendor_env)
    env["ENGINE_CONCURRENCY"] = "32"  # as deployed: a replica holds 32 running and 32 waiting
    return await two_replica_cluster(env)


async def generate(http: aiohttp.ClientSession, api: str, idea: str) -> tuple[int, dict[str, Any], float]:
    body = {"input": idea, "count": 1, "phases": ["coagulatio"]}
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S + 30)
    async with http.post(f"{api}/prompts/generate", json=body, timeout=timeout) as response:
        return response.status, await response.json(), time.monotonic() - started


class Load:
    """200 concurrent generates with distinct ideas; ``outcome()`` once all are answered."""

    def __init__(self, http: aiohttp.ClientSession, api: str, label: str, vendor: FakeVendorServer) -> None:
        vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok().delayed(VENDOR_DELAY_S)] * (3 * REQUESTS))
        self.label = label
        self.tasks = [
            asyncio.create_task(generate(http, api, f"{label} idea number {n} for a slow vendor"))
            for n in range(REQUESTS)
        ]

    async def outcome(self) -> tuple[list[tuple[int, dict[str, Any]]], float]:
        results = await asyncio.gather(*self.tasks)
        failed = [(status, body) for status, body, _ in results if status != 200]
        slowest = max(elapsed for _, _, elapsed in results)
        print(f"\n{self.label}: {REQUESTS - len(failed)}/{REQUESTS} answered 200, slowest {slowest:.2f}s")
        return failed, slowest


def assert_nothing_lost(failed: list[tuple[int, dict[str, Any]]]) -> None:
    assert len(failed) <= 1, failed[:3]
    for status, body in failed:
        assert status in (502, 503), body  # a retriable error; never 504: no deadline ran out
        assert body["retriable"] is True, body


async def holding_requests(cluster: LocalCluster, process: ChildProcess, http: aiohttp.ClientSession) -> None:
    """Until ``process`` handles generate requests (its own metrics say so)."""
    url = await cluster.metrics_url(process)

    async def held() -> list[float]:
        async with http.get(url) as response:
            text = await response.text()
        return [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("alchemy_bus_requests_in_flight") and "engine.generate" in line
        ]

    await eventually(held, lambda found: bool(found) and found[0] >= 5, what=f"{process.name} holding requests")


async def logged(process: ChildProcess, text: str) -> None:
    """Until ``process`` wrote ``text`` in its log (stderr)."""
    await eventually(
        lambda: text in process.stderr_path.read_text(), ignoring=(OSError,), what=f"{text!r} in {process.name}'s log"
    )


async def stored_prompts(observer: NatsBus) -> int:
    stats = await observer.request(schemas.STORAGE_STATS, {})
    assert isinstance(stats, StorageStats)
    return stats.prompts


async def test_losing_an_engine_replica_mid_flight_costs_no_request(
    cluster: LocalCluster,
    observer: NatsBus,
    proxy: TcpProxy,
    vendor: FakeVendorServer,
    http: aiohttp.ClientSession,
) -> None:
    api = f"{cluster.http_url}/api/v1"

    # -- the same load with no loss: the baseline --------------------------------------------------
    failed, baseline = await Load(http, api, "baseline", vendor).outcome()
    assert failed == []

    # -- SIGKILL: the replica and everything it held vanish ----------------------------------------
    victim, survivor = cluster.workers[ServiceType.GENERATION]
    load = Load(http, api, "sigkill", vendor)
    await holding_requests(cluster, victim, http)
    assert await victim.kill() == -9
    failed, slowest = await load.outcome()
    assert_nothing_lost(failed)
    print(f"sigkill: slowest answer {slowest - baseline:+.2f}s against the baseline")
    survivor_pings = await discover_pings(observer, "engine", expected=2, wait=1.0)
    assert len(survivor_pings) == 1  # /health and discovery show one engine

    # -- SIGSTOP for 10 s, then SIGCONT: no second reply, no second set of prompts ----------------
    frozen = await cluster.start_worker(ServiceType.GENERATION)
    before = await stored_prompts(observer)
    load = Load(http, api, "sigstop", vendor)
    await holding_requests(cluster, frozen, http)
    frozen.send_signal(signal.SIGSTOP)
    failed, slowest = await load.outcome()
    assert_nothing_lost(failed)
    print(f"sigstop: slowest answer {slowest - baseline:+.2f}s against the baseline")
    frozen.send_signal(signal.SIGCONT)
    await logged(frozen, "held request(s), whose requesters have resent or failed them")  # fenced on waking
    assert await stored_prompts(observer) - before == REQUESTS - len(failed)  # one prompt per idea, no more

    # -- the replica's NATS connection cut ---------------------------------------------------------
    cut_off = await cluster.start_worker(ServiceType.GENERATION, env={"NATS_URL": proxy.url})
    for process in (survivor, frozen):  # leave the cut-off replica and one other
        process.send_signal(signal.SIGTERM)
        await process.wait()
    await cluster.start_worker(ServiceType.GENERATION)
    load = Load(http, api, "connection cut", vendor)
    await holding_requests(cluster, cut_off, http)
    await proxy.cut()
    failed, slowest = await load.outcome()
    assert_nothing_lost(failed)
    print(f"connection cut: slowest answer {slowest - baseline:+.2f}s against the baseline")


async def test_a_rolling_restart_of_every_engine_replica_fails_no_request(
    cluster: LocalCluster, vendor: FakeVendorServer, http: aiohttp.ClientSession
) -> None:
    api = f"{cluster.http_url}/api/v1"
    replicas = list(cluster.workers[ServiceType.GENERATION])
    stop = asyncio.Event()
    outcomes: list[int] = []

    async def steady_load(client: int) -> None:
        n = 0
        while not stop.is_set():
            status, body, _ = await generate(http, api, f"rolling client {client} idea {n}")
            assert status == 200, body
            outcomes.append(status)
            n += 1

    vendor.script(Route.OPENAI_CHAT, *[FakeResponse.ok().delayed(VENDOR_DELAY_S)] * 5000)
    clients = [asyncio.create_task(steady_load(client)) for client in range(40)]
    for old in replicas:  # one at a time: a new replica serves before the old one is stopped
        await cluster.start_worker(ServiceType.GENERATION)
        await holding_requests(cluster, old, http)
        assert await old.terminate() == 0
    served = len(outcomes)
    # the new replicas carry the load on their own
    await eventually(lambda: len(outcomes) >= served + 40, what="40 more generates served by the new replicas")
    stop.set()
    await asyncio.gather(*clients)
    assert outcomes
    assert set(outcomes) == {200}
    print(f"\nrolling restart: {len(outcomes)} generates during two replica restarts, all 200")
