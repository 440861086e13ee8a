"""What a process tells about itself: discovery metadata, Prometheus metrics, trace ids in its log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.bus.context import new_traceparent
from prompt_alchemy.bus.discovery import discover_info, discover_stats
from prompt_alchemy.errors import BadRequest, ProviderError
from prompt_alchemy.gateway.health import check_health
from prompt_alchemy.gateway.http import HttpServer, HttpSettings, create_app
from prompt_alchemy.runtime.components import engine_worker, enter_worker, providers_worker, storage_worker
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.logs import JsonFormatter, RequestLog, TraceFilter
from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.service_registry import ServiceRegistry
from prompt_alchemy.runtime.settings import DeploymentMode, Settings
from prompt_alchemy.runtime.telemetry import Telemetry, bus_middleware
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route
from prompt_alchemy.testing.waiting import eventually

BusFactory = Callable[[], Awaitable[Bus]]
SettingsFactory = Callable[..., Settings]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

WAIT_S = 30.0


def samples(metrics: ProcessMetrics) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def telemetry(mode: DeploymentMode = DeploymentMode.MICROSERVICE) -> Telemetry:
    return Telemetry(ServiceRegistry(mode), ProcessMetrics("test", mode.value))


@pytest.mark.usefixtures("offline")
async def test_every_service_and_front_door_is_discoverable_with_where_it_runs(
    bus_factory: BusFactory, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    process = telemetry()
    process.services.tag("metrics", "http://127.0.0.1:9/metrics")
    async with AsyncExitStack() as workers:
        await enter_worker(workers, providers_worker(await bus_factory(), settings, telemetry=process), process)
        await enter_worker(workers, storage_worker(await bus_factory(), settings, telemetry=process), process)
        await enter_worker(workers, engine_worker(await bus_factory(), settings), process)
        client = await bus_factory()
        door = await process.services.open_front_door(client, "api", "http://127.0.0.1:8080/api/v1")
        infos = {info.name: info for info in await discover_info(client, expected=4, wait=WAIT_S)}
        report = await check_health(client, ("engine", "providers", "storage"))
        await process.services.close_front_doors()
        after = {info.name for info in await discover_info(client, expected=3, wait=WAIT_S)}

    assert set(infos) == {"providers", "storage", "engine", "api"}
    for info in infos.values():
        assert info.metadata["mode"] == "microservice"
        assert info.metadata["metrics"] == "http://127.0.0.1:9/metrics"
        assert info.metadata["pid"].isdigit()
    assert infos["api"].metadata["url"] == "http://127.0.0.1:8080/api/v1"
    assert infos["api"].endpoints == []
    assert {endpoint.subject for endpoint in infos["engine"].endpoints} >= {schemas.ENGINE_GENERATE.subject}
    assert report.serving
    assert [service.status for service in report.services] == ["ok"] * 3
    for service in report.services:  # (the gateway may list fewer: it stops reading pings after len(services))
        assert set(service.instances) <= {infos[service.name].id}
    assert door.id == infos["api"].id
    assert after == {"providers", "storage", "engine"}  # a closing door leaves discovery first


@pytest.mark.usefixtures("offline")
async def test_monolithic_metrics_count_requests_errors_stores_and_feedback(make_settings: SettingsFactory) -> None:
    process = telemetry(DeploymentMode.MONOLITHIC)
    assert process.metrics is not None
    runtime = EmbeddedRuntime(make_settings(), telemetry=process)  # composes the metrics into its bus's chain
    async with runtime:
        request = GenerateRequest(input="a sonnet about rust", count=2, phases=[Phase.SOLUTIO])
        reply = await runtime.bus.request(schemas.ENGINE_GENERATE, request, timeout=WAIT_S)
        with pytest.raises(BadRequest):
            await runtime.bus.request_raw(schemas.ENGINE_GENERATE, b'{"input": ""}', timeout=WAIT_S)
        best = reply.best
        assert best is not None
        assert best.id is not None
        await runtime.feedback(FeedbackEvent(prompt_id=best.id, rating=4))

        async def refreshed() -> Samples:
            assert process.metrics is not None
            await process.metrics.refresh()
            return samples(process.metrics)

        found = await eventually(
            refreshed,
            lambda found: value(found, "alchemy_learning_feedback_processed") == 1,
            what="feedback processed in the metrics",
        )

    generate = schemas.ENGINE_GENERATE.subject
    assert value(found, "alchemy_bus_requests_total", subject=generate, code="200") == 1
    assert value(found, "alchemy_bus_requests_total", subject=generate, code="400") == 1
    assert value(found, "alchemy_bus_errors_total", subject=generate, code="400") == 1
    assert value(found, "alchemy_bus_request_seconds_count", subject=generate) == 2
    assert value(found, "alchemy_bus_requests_in_flight", subject=generate) == 0
    assert value(found, "alchemy_storage_prompts") == len({prompt.id for prompt in reply.prompts})
    assert value(found, "alchemy_storage_size_bytes") > 0
    assert value(found, "alchemy_feedback_waiting") == 0
    offline = {"provider": "offline", "model": reply.prompts[0].model}
    assert value(found, "alchemy_provider_completions_total", cached="false", **offline) == 2
    assert value(found, "alchemy_provider_tokens_total", direction="output", **offline) > 0
    assert value(found, "alchemy_provider_circuit_state", provider="offline", state="closed") == 1


async def test_in_flight_handlers_are_a_gauge_and_workers_serve_their_own_metrics_port(
    bus_factory: BusFactory, make_settings: SettingsFactory, vendor: FakeVendorServer
) -> None:
    environ = {"OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": vendor.base_url("openai"), "PROVIDERS_MAX_RETRIES": "0"}
    process = telemetry()
    assert process.metrics is not None
    bus = await bus_factory()
    process.metrics.attach(bus)
    vendor.script(Route.OPENAI_CHAT, FakeResponse.hang())
    complete = schemas.PROVIDERS_COMPLETE.subject
    async with AsyncExitStack() as workers:
        await enter_worker(workers, providers_worker(bus, make_settings(), environ=environ, telemetry=process), process)
        client = await bus_factory()
        request = CompletionRequest(
            provider="openai", fallback=False, messages=[ChatMessage(role="user", content="hi")]
        )
        call = asyncio.create_task(client.request(schemas.PROVIDERS_COMPLETE, request, timeout=WAIT_S))
        async with process.metrics.listener("127.0.0.1", 0) as url, aiohttp.ClientSession() as http:

            async def scraped() -> str:
                async with http.get(url) as response:
                    assert response.status == 200
                    return await response.text()

            busy = await eventually(
                scraped,
                lambda text: f'alchemy_bus_requests_in_flight{{subject="{complete}"}} 1.0' in text,
                what="one providers.complete in flight",
            )
            assert 'alchemy_process_info{mode="microservice"' in busy
            await vendor.stop()  # the hung vendor answers 503 as it stops: the call fails, the handler ends
            with pytest.raises(ProviderError):
                await call
            idle = await scraped()
    assert f'alchemy_bus_requests_in_flight{{subject="{complete}"}} 0.0' in idle


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The runtime's JSON log format with trace ids, captured in memory, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceFilter())
    ours = logging.getLogger("prompt_alchemy")
    ours.addHandler(handler)
    previous = ours.level
    ours.setLevel(logging.DEBUG)
    yield stream
    ours.removeHandler(handler)
    ours.setLevel(previous)


@pytest.mark.usefixtures("offline")
async def test_every_hop_logs_the_callers_trace_id(
    bus_factory: BusFactory, make_settings: SettingsFactory, json_log: io.StringIO
) -> None:
    settings = make_settings()
    buses = [await bus_factory() for _ in range(3)]
    for bus in buses:
        RequestLog().attach(bus)
    traceparent = new_traceparent()
    trace_id = traceparent.split("-")[1]
    async with (
        providers_worker(buses[0], settings),
        storage_worker(buses[1], settings),
        engine_worker(buses[2], settings),
    ):
        client = await bus_factory()
        request = GenerateRequest(input="release notes for a CLI tool", count=1, phases=[Phase.COAGULATIO])
        await client.request(schemas.ENGINE_GENERATE, request, timeout=WAIT_S, headers={"traceparent": traceparent})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    lines = [line for line in lines if line["logger"] == "prompt_alchemy.requests"]
    traced = {line["subject"] for line in lines if line["trace_id"] == trace_id}
    assert traced >= {
        schemas.ENGINE_GENERATE.subject, schemas.PROVIDERS_COMPLETE_BATCH.subject, schemas.STORAGE_STORE_BATCH.subject,
        schemas.STORAGE_SEARCH_BATCH.subject,
    }  # fmt: skip
    spans = {line["subject"]: line["span_id"] for line in lines if line["trace_id"] == trace_id}
    assert spans[schemas.ENGINE_GENERATE.subject] == traceparent.split("-")[2]  # the caller's span
    assert len(set(spans.values())) == len(spans)  # every later hop is a span of its own
    stats = {s.name: s for s in await discover_stats(client, wait=0.2)}
    assert stats == {}  # stopped services leave discovery


async def test_the_http_gateways_own_log_lines_carry_the_trace_id(json_log: io.StringIO) -> None:
    async def no_feedback(_event: FeedbackEvent) -> FeedbackAccepted:
        raise AssertionError("not used")

    bus = InMemoryBus()  # no engine: generate fails with a 503, which the gateway logs as a warning
    app = create_app(bus, no_feedback, HttpSettings(port=0))
    traceparent = new_traceparent()
    try:
        async with HttpServer(app, "127.0.0.1", 0) as server, aiohttp.ClientSession() as http:
            for headers in ({"traceparent": traceparent}, {}):
                url = f"{server.url}/api/v1/prompts/generate"
                async with http.post(url, json={"input": "an idea"}, headers=headers) as response:
                    assert response.status == 503
    finally:
        await bus.drain()
    warnings = [json.loads(line) for line in json_log.getvalue().splitlines()]
    warnings = [line for line in warnings if line["level"] == "warning" and "503" in line["message"]]
    assert len(warnings) == 2
    assert warnings[0]["trace_id"] == traceparent.split("-")[1]
    assert warnings[1]["trace_id"] is not None  # no traceparent sent: the request still has a trace
    assert warnings[1]["trace_id"] != warnings[0]["trace_id"]


@pytest.mark.usefixtures("offline")
async def test_the_semantic_cache_counts_hits_and_misses(make_settings: SettingsFactory) -> None:
    process = telemetry(DeploymentMode.MONOLITHIC)
    assert process.metrics is not None
    runtime = EmbeddedRuntime(make_settings(), telemetry=process)
    async with runtime:
        ideas = ("a sonnet about rust", "a sonnet about the rust", "a limerick about cats")
        replies = [
            await runtime.bus.request(
                schemas.ENGINE_GENERATE, GenerateRequest(input=idea, count=1, phases=[Phase.SOLUTIO]), timeout=WAIT_S
            )
            for idea in ideas
        ]
        await process.metrics.refresh()
        found = samples(process.metrics)
    assert [reply.cached for reply in replies] == [False, True, False]
    assert value(found, "alchemy_generation_cache_hits_total") == 1
    assert value(found, "alchemy_generation_cache_misses_total") == 2
    assert value(found, "alchemy_generation_cache_stored_total") == 2


def test_the_request_log_joins_the_bus_chain_only_when_its_lines_would_be_written() -> None:
    logger = logging.getLogger("prompt_alchemy.requests")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert not any(isinstance(layer, RequestLog) for layer in bus_middleware(None, deadline_margin_s=0.25))
        logger.setLevel(logging.DEBUG)
        assert isinstance(bus_middleware(None, deadline_margin_s=0.25)[0], RequestLog)  # the outermost layer
    finally:
        logger.setLevel(level)
