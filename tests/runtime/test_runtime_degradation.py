"""Graceful degradation, as DESIGN.md promises it, with the real workers started by the composition root.

- learning off (ENABLE_LEARNING=false) or down: generation works, feedback is accepted durably
  and applied once learning runs again;
- storage down: generation answers, every prompt marked not saved, a warning says why;
- one provider down: the next in the fallback order answers, and the circuit opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from prometheus_client.parser import text_string_to_metric_families

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, NatsBus
from prompt_alchemy.errors import NoResponders
from prompt_alchemy.gateway.health import check_health
from prompt_alchemy.runtime.components import (
    engine_worker,
    enter_worker,
    learning_worker,
    open_feedback_stream,
    providers_worker,
    storage_worker,
)
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.service_registry import ServiceRegistry
from prompt_alchemy.runtime.settings import DeploymentMode, Settings
from prompt_alchemy.runtime.telemetry import Telemetry
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.schemas.learning import FeedbackEvent, LearningStats, LearningStatsRequest
from prompt_alchemy.schemas.providers import CircuitState, ProvidersListRequest
from prompt_alchemy.testing.servers import NatsServer, free_port
from prompt_alchemy.testing.vendors import FakeVendorServer, Route
from prompt_alchemy.testing.waiting import eventually

BusFactory = Callable[[], Awaitable[Bus]]
SettingsFactory = Callable[..., Settings]

WAIT_S = 30.0


async def generate(bus: Bus, phases: list[Phase] | None = None) -> GenerateReply:
    request = GenerateRequest(
        input="a limerick about a lighthouse keeper", count=1, phases=phases or [Phase.COAGULATIO]
    )
    return await bus.request(schemas.ENGINE_GENERATE, request, timeout=WAIT_S)


async def learning_stats(bus: Bus) -> LearningStats:
    return await bus.request(schemas.LEARNING_STATS, LearningStatsRequest(), timeout=WAIT_S)


def ratings(prompt_id: str) -> list[FeedbackEvent]:
    return [FeedbackEvent(prompt_id=prompt_id, rating=rating) for rating in (5, 4, 5)]


@pytest.mark.usefixtures("offline")
async def test_learning_off_generation_works_and_feedback_waits_in_the_durable_log(
    make_settings: SettingsFactory,
) -> None:
    async with EmbeddedRuntime(make_settings(enable_learning=False)) as runtime:
        best = (await generate(runtime.bus)).best
        assert best is not None
        assert best.id is not None
        assert best.saved
        accepted = [await runtime.feedback(event) for event in ratings(best.id)]
        assert [receipt.sequence for receipt in accepted] == [1, 2, 3]
        stats = await learning_stats(runtime.bus)
        assert not stats.enabled
        assert stats.events_processed == 0
        health = await runtime.bus.request(schemas.LEARNING_HEALTH, HealthRequest(), timeout=WAIT_S)
        assert health.status == "ok"
        assert "learning disabled" in health.checks["consumer"].message
        assert health.checks["stream"].message == "3 feedback events waiting"

    async with EmbeddedRuntime(make_settings(enable_learning=True)) as runtime:  # the same data dir
        stats = await eventually(
            lambda: learning_stats(runtime.bus),
            lambda found: found.events_processed == 3,
            what="the waiting feedback applied once learning is on",
        )
        assert stats.rating_distribution == {"4": 1, "5": 2}


@pytest.fixture
async def cluster_stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


@pytest.mark.usefixtures("offline")
async def test_learning_down_generation_works_and_feedback_is_kept_until_it_is_back(
    private_nats_server: NatsServer,
    make_settings: SettingsFactory,
    cluster_stack: AsyncExitStack,
) -> None:
    settings = make_settings(nats_url=private_nats_server.url)

    async def connect() -> NatsBus:  # one connection per worker, as separate processes have
        bus = await NatsBus.connect(private_nats_server.url)
        cluster_stack.push_async_callback(bus.drain)
        return bus

    for worker in (providers_worker, storage_worker, engine_worker):
        await enter_worker(cluster_stack, worker(await connect(), settings), None)
    client = await connect()
    stream, publish = await open_feedback_stream(client, settings)
    cluster_stack.push_async_callback(stream.close)

    report = await check_health(client)
    assert report.missing == ["learning"]
    best = (await generate(client)).best
    assert best is not None
    assert best.id is not None
    assert best.saved
    assert [(await publish(event)).duplicate for event in ratings(best.id)] == [False] * 3

    learning_bus = await connect()
    learning_stream, _ = await open_feedback_stream(learning_bus, settings)
    cluster_stack.push_async_callback(learning_stream.close)
    await enter_worker(cluster_stack, learning_worker(learning_bus, settings, learning_stream), None)

    async def stats_once_reachable() -> LearningStats | None:
        try:  # its subscriptions reach the server on its own connection: a moment after start() returns
            return await learning_stats(client)
        except NoResponders:
            return None

    await eventually(
        stats_once_reachable,
        lambda found: found is not None and found.events_processed == 3,
        what="feedback sent while learning was down, applied once it is up",
    )


@pytest.mark.usefixtures("offline")
async def test_storage_down_generation_answers_with_prompts_marked_not_saved(
    bus_factory: BusFactory, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    async with providers_worker(await bus_factory(), settings), engine_worker(await bus_factory(), settings):
        client = await bus_factory()
        reply = await generate(client, list(Phase))
        health = await client.request(schemas.ENGINE_HEALTH, HealthRequest(), timeout=WAIT_S)
    assert [prompt.phase for prompt in reply.prompts] == list(Phase)
    assert not any(prompt.saved for prompt in reply.prompts)
    assert any("storage" in warning for warning in reply.warnings), reply.warnings
    assert health.status == "degraded"
    assert not health.checks["storage"].ok
    assert "not saved" in health.checks["storage"].message


def samples(metrics: ProcessMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


async def test_a_provider_down_is_skipped_for_the_next_in_the_fallback_order(
    bus_factory: BusFactory, make_settings: SettingsFactory, vendor: FakeVendorServer
) -> None:
    environ = {
        "OPENAI_API_KEY": "sk-openai-fake",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens: the provider is down
        "ANTHROPIC_API_KEY": "sk-anthropic-fake",
        "ANTHROPIC_BASE_URL": vendor.url,
        "PROVIDERS_DEFAULT": "openai",
        "PROVIDERS_FALLBACK": "anthropic,offline",
        "PROVIDERS_MAX_RETRIES": "0",
        "PROVIDERS_BREAKER_THRESHOLD": "2",
    }
    settings = make_settings()
    metrics = ProcessMetrics("providers", DeploymentMode.MICROSERVICE.value)
    telemetry = Telemetry(ServiceRegistry(DeploymentMode.MICROSERVICE), metrics)
    async with AsyncExitStack() as workers:
        await enter_worker(
            workers, providers_worker(await bus_factory(), settings, environ, telemetry=telemetry), telemetry
        )
        await enter_worker(workers, engine_worker(await bus_factory(), settings), None)
        client = await bus_factory()
        reply = await generate(client, list(Phase))
        listing = await client.request(schemas.PROVIDERS_LIST, ProvidersListRequest(), timeout=WAIT_S)

    assert [prompt.provider for prompt in reply.prompts] == ["anthropic"] * 3
    assert len(vendor.requests_to(Route.ANTHROPIC_MESSAGES)) == 3
    openai = next(info for info in listing.providers if info.name == "openai")
    assert openai.circuit is CircuitState.OPEN  # two failures in a row: later calls skip it at once
    found = samples(metrics)
    assert found[("alchemy_provider_fallbacks_total", frozenset({("provider", "openai")}))] == 3
    assert found[("alchemy_provider_circuit_state", frozenset({("provider", "openai"), ("state", "open")}))] == 1
    answered = {("provider", "anthropic"), ("model", reply.prompts[0].model), ("cached", "false")}
    assert found[("alchemy_provider_completions_total", frozenset(answered))] == 3
