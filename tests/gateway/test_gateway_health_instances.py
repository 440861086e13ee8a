"""Health lists every live instance with its version and per-endpoint counters, replicas included."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus.discovery import discover_pings
from prompt_alchemy.gateway.health import check_health
from prompt_alchemy.schemas.storage import StorageStats, StorageStatsRequest

BusFactory = Callable[[], Awaitable[Bus]]


async def stats(_request: StorageStatsRequest, _ctx: RequestContext) -> StorageStats:
    return StorageStats(backend="test", prompts=0, versions=0)


async def test_every_replica_is_listed_with_endpoint_counters(bus_factory: BusFactory) -> None:
    replicas: list[ServiceRunner] = []
    for _ in range(3):
        runner = ServiceRunner(
            await bus_factory(), name="storage", version="3.2.1", health_contract=schemas.STORAGE_HEALTH
        )
        runner.add_endpoint(schemas.STORAGE_STATS, stats)
        await runner.start()
        replicas.append(runner)
    client = await bus_factory()
    for _ in range(6):
        await client.request(schemas.STORAGE_STATS, {})

    report = await check_health(client, ("storage",), timeout=5.0)

    listed = [instance for instance in report.instances if instance.service == "storage"]
    assert sorted(instance.id for instance in listed) == sorted(runner.id for runner in replicas)
    assert report.services[0].instances == sorted(runner.id for runner in replicas)
    assert all(instance.version == "3.2.1" for instance in listed)
    served = sum(
        endpoint.requests
        for instance in listed
        for endpoint in instance.endpoints
        if endpoint.subject == schemas.STORAGE_STATS.subject
    )
    assert served == 6  # the queue group spread them; every one is counted once
    assert report.serving


async def test_discovery_stops_after_a_quiet_period_once_replies_came(bus: Bus) -> None:
    runner = ServiceRunner(bus, name="storage", version="1.0.0", health_contract=schemas.STORAGE_HEALTH)
    await runner.start()
    async with asyncio.timeout(30):  # the 60 s window must be ended by the quiet period, not run out
        pings = await discover_pings(bus, "storage", wait=60, quiet=0.05)
    assert [ping.id for ping in pings] == [runner.id]
