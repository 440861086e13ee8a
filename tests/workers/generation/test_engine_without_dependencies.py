"""The engine alone on the bus: what it answers when providers, storage and learning are all away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pydantic
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.bus.discovery import discover_info
from prompt_alchemy.errors import BadRequest, Unavailable
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import CapabilitiesRequest, GenerateRequest, OptimizeRequest
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.workers.generation import EngineSettings, EngineWorker, build_engine_worker
from prompt_alchemy.workers.generation.progress import ProgressReporter

EVENTUALLY = 10.0


@pytest.fixture
async def engine(bus: Bus) -> AsyncIterator[EngineWorker]:
    worker = build_engine_worker(bus, EngineSettings())
    await worker.start()
    yield worker
    await worker.stop()


async def test_capabilities_without_providers_are_complete_but_list_none(bus: Bus, engine: EngineWorker) -> None:
    reply = await bus.request(schemas.ENGINE_CAPABILITIES, CapabilitiesRequest(), timeout=EVENTUALLY)
    assert reply.phases == list(Phase)
    assert reply.legacy_phase_names == {"idea": "prima-materia", "human": "solutio", "precision": "coagulatio"}
    assert set(reply.personas) == {"code", "writing", "analysis", "generic"}
    assert set(reply.target_families) == {"claude", "gpt", "gemini", "grok", "generic"}
    assert set(reply.phase_selections) == {"best", "cascade", "all"}
    assert reply.providers == []
    assert not reply.judge_available
    assert any("providers unavailable" in warning for warning in reply.warnings)


LONELY_STREAM = "lonely-progress-stream"


async def test_generate_without_providers_is_unavailable_and_says_so_in_progress(
    bus: Bus, engine: EngineWorker
) -> None:
    events: list[GenerationProgress] = []
    failed = asyncio.Event()

    async def collect(event: GenerationProgress, _ctx: RequestContext) -> None:
        events.append(event)
        if event.kind is ProgressKind.FAILED:
            failed.set()

    await bus.subscribe(schemas.EVENTS_GENERATION, collect, subject=schemas.generation_events_subject(LONELY_STREAM))
    with pytest.raises(Unavailable) as caught:
        await bus.request(
            schemas.ENGINE_GENERATE,
            GenerateRequest(input="an idea", request_id="lonely-1", progress_token=LONELY_STREAM),
            timeout=EVENTUALLY,
        )
    assert caught.value.retriable
    async with asyncio.timeout(EVENTUALLY):
        await failed.wait()
    assert events[0].kind is ProgressKind.STARTED
    assert events[-1].kind is ProgressKind.FAILED
    assert events[-1].data["code"] == 503
    assert [event.seq for event in events] == list(range(len(events)))


async def test_unknown_phase_is_a_bad_request_naming_it(bus: Bus, engine: EngineWorker) -> None:
    with pytest.raises(BadRequest) as caught:
        await bus.request_raw(
            schemas.ENGINE_GENERATE, b'{"input": "x", "phases": ["idea", "transmutation"]}', timeout=EVENTUALLY
        )
    assert "transmutation" in caught.value.message
    assert caught.value.details["errors"][0]["field"] == "phases.1"


async def test_a_request_id_that_would_break_the_events_subject_is_refused(bus: Bus, engine: EngineWorker) -> None:
    with pytest.raises(BadRequest) as caught:
        await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input="x", request_id="a.b"), timeout=EVENTUALLY)
    assert caught.value.details["errors"][0]["field"] == "request_id"


def test_optimize_needs_a_prompt_or_an_id() -> None:
    """The contract itself says so (its JSON Schema has the anyOf), so every door refuses it alike."""
    with pytest.raises(pydantic.ValidationError, match=r"as text \(prompt\) or by id \(prompt_id\)"):
        OptimizeRequest(task="something")
    assert {"required": ["prompt_id"], "properties": {"prompt_id": {"type": "string"}}} in (
        OptimizeRequest.model_json_schema()["anyOf"]
    )


async def test_optimize_by_id_without_storage_is_unavailable(bus: Bus, engine: EngineWorker) -> None:
    with pytest.raises(Unavailable):
        await bus.request(schemas.ENGINE_OPTIMIZE, OptimizeRequest(prompt_id="p-1"), timeout=EVENTUALLY)


async def test_health_reports_each_dependency_and_discovery_lists_every_endpoint(
    bus: Bus, engine: EngineWorker
) -> None:
    health = await bus.request(schemas.ENGINE_HEALTH, HealthRequest(), timeout=EVENTUALLY)
    assert health.service == "engine"
    assert health.status == "degraded"
    assert not health.checks["providers"].ok
    assert not health.checks["storage"].ok
    assert health.checks["weights"].ok
    assert "version 0" in health.checks["weights"].message
    infos = await discover_info(bus, "engine", wait=EVENTUALLY, expected=1)
    subjects = {endpoint.subject for info in infos for endpoint in info.endpoints}
    for contract in (
        schemas.ENGINE_GENERATE,
        schemas.ENGINE_OPTIMIZE,
        schemas.ENGINE_BATCH,
        schemas.ENGINE_SELECT,
        schemas.ENGINE_CAPABILITIES,
        schemas.ENGINE_HEALTH,
    ):
        assert contract.subject in subjects


async def test_progress_from_concurrent_emitters_keeps_seq_order(bus: Bus) -> None:
    received: list[int] = []
    done = asyncio.Event()
    total = 60

    async def collect(event: GenerationProgress, _ctx: RequestContext) -> None:
        received.append(event.seq)
        if len(received) == total:
            done.set()

    await bus.subscribe(
        schemas.EVENTS_GENERATION, collect, subject=schemas.generation_events_subject("order-progress-stream")
    )
    reporter = ProgressReporter(bus, "order-1", token="order-progress-stream")
    await asyncio.gather(*(reporter.emit(ProgressKind.CANDIDATE, chain=index % 3) for index in range(total)))
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert received == list(range(total))
