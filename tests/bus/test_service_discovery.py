"""ADR-32 discovery and per-endpoint stats answer the same on both buses, in nats.micro's own shapes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from nats.micro.service import ServiceInfo as MicroInfo
from nats.micro.service import ServicePing as MicroPing
from nats.micro.service import ServiceStats as MicroStats

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner, discovery_subject
from prompt_alchemy.bus.discovery import discover_info, discover_pings, discover_stats
from prompt_alchemy.errors import ConfigError, NoResponders, NotFound
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.storage import GetReply, GetRequest, PromptRecord

BusFactory = Callable[[], Awaitable[Bus]]


async def get_or_fail(request: GetRequest, _ctx: RequestContext) -> GetReply:
    if request.id == "missing":
        raise NotFound("no prompt with id 'missing'")
    return GetReply(record=PromptRecord(id=request.id, content="c", content_hash="h"))


async def storage_runner(bus: Bus, **kwargs: object) -> ServiceRunner:
    runner = ServiceRunner(
        bus,
        name="storage",
        version="2.1.0",
        description="prompts",
        health_contract=schemas.STORAGE_HEALTH,
        **kwargs,  # type: ignore[arg-type]
    )
    runner.add_endpoint(schemas.STORAGE_GET, get_or_fail)
    await runner.start()
    return runner


@pytest.mark.parametrize("scope", ["all", "name", "id"])
async def test_ping_info_stats_parse_with_nats_micro(bus: Bus, scope: str) -> None:
    runner = await storage_runner(bus)
    name = None if scope == "all" else "storage"
    instance = runner.id if scope == "id" else None
    for verb, parser in (("PING", MicroPing.from_dict), ("INFO", MicroInfo.from_dict), ("STATS", MicroStats.from_dict)):
        raw = await bus.request_raw(discovery_subject(verb, name, instance), b"")
        document = json.loads(raw.data)
        parsed = parser(document)
        assert parsed.id == runner.id
        assert parsed.name == "storage"
        assert parsed.version == "2.1.0"
        assert document["type"] == f"io.nats.micro.v1.{verb.lower()}_response"


async def test_info_lists_endpoints_with_their_models(bus: Bus) -> None:
    runner = await storage_runner(bus)
    info = MicroInfo.from_dict(json.loads((await bus.request_raw(discovery_subject("INFO", "storage"), b"")).data))
    endpoints = {endpoint.subject: endpoint for endpoint in info.endpoints}
    get = endpoints[schemas.STORAGE_GET.subject]
    assert get.metadata["request_model"] == "GetRequest"
    assert get.metadata["reply_model"] == "GetReply"
    assert get.queue_group == "q"
    assert schemas.STORAGE_HEALTH.subject in endpoints  # the health contract it was handed is served
    assert info.description == "prompts"
    assert runner.info().endpoints[0].name == "get"


async def test_stats_count_requests_and_errors_per_endpoint(bus: Bus) -> None:
    runner = await storage_runner(bus)
    for prompt_id in ("a", "b", "c"):
        await bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id))
    with pytest.raises(NotFound):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="missing"))
    stats = MicroStats.from_dict(
        json.loads((await bus.request_raw(discovery_subject("STATS", "storage", runner.id), b"")).data)
    )
    get = next(endpoint for endpoint in stats.endpoints if endpoint.subject == schemas.STORAGE_GET.subject)
    assert get.num_requests == 4
    assert get.num_errors == 1
    assert "missing" in (get.last_error or "")
    assert get.processing_time > 0
    assert get.average_processing_time == get.processing_time // 4


async def test_discovery_collects_every_instance(bus_factory: BusFactory) -> None:
    first, second = await bus_factory(), await bus_factory()
    replicas = [await storage_runner(first), await storage_runner(second)]
    engine = ServiceRunner(first, name="engine", version="0.3.0")
    await engine.start()
    client = await bus_factory()
    pings = await discover_pings(client, expected=3, wait=10)
    assert sorted(ping.name for ping in pings) == ["engine", "storage", "storage"]
    storage_only = await discover_info(client, "storage", expected=2, wait=10)
    assert {info.id for info in storage_only} == {runner.id for runner in replicas}
    stats = await discover_stats(client, "engine", expected=1, wait=10)
    assert [s.id for s in stats] == [engine.id]


async def test_health_endpoint_reports_checks(bus: Bus) -> None:
    async def checks() -> dict[str, CheckResult]:
        return {"database": CheckResult(ok=True), "embedder": CheckResult(ok=False, message="not loaded")}

    runner = await storage_runner(bus, health=checks)
    health = await bus.request(schemas.STORAGE_HEALTH, {})
    assert health.service == "storage"
    assert health.instance_id == runner.id
    assert health.status == "degraded"
    assert health.checks["embedder"].message == "not loaded"


async def test_stopped_service_leaves_discovery(bus_factory: BusFactory) -> None:
    bus = await bus_factory()
    runner = await storage_runner(bus)
    await runner.stop()
    with pytest.raises(NoResponders):  # nobody answers for that instance any more: known at once
        await bus.request_raw(discovery_subject("PING", "storage", runner.id), b"")
    with pytest.raises(NoResponders):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="a"))


def test_names_and_versions_are_checked(bus: Bus) -> None:
    with pytest.raises(ConfigError):
        ServiceRunner(bus, name="has space", version="1.0.0")
    with pytest.raises(ConfigError):
        ServiceRunner(bus, name="storage", version="one")
