"""engine.generate answers a near-identical idea of the same shape from an earlier generation.

Real storage (SQLite + numpy cache), offline providers, both buses. That no new generation ran
is observable: no prompt is stored and no phase event is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.storage import DeleteRequest, StorageStatsRequest
from prompt_alchemy.workers.generation import EngineSettings, EngineWorker
from prompt_alchemy.workers.generation.semantic_cache import cache_shape

EngineFactory = Callable[..., Awaitable[EngineWorker]]
T = 60.0
IDEA = "Write a SQL query for monthly sales"
REWORDED = "write an SQL query for the monthly sales"


async def stored(bus: Bus) -> int:
    return (await bus.request(schemas.STORAGE_STATS, StorageStatsRequest(), timeout=T)).prompts


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_a_reworded_idea_is_answered_from_the_cache(bus: Bus, engine: EngineWorker) -> None:
    first = await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=IDEA, count=2), timeout=T)
    assert not first.cached
    before = await stored(bus)
    events: list[GenerationProgress] = []
    completed = asyncio.Event()

    async def on_event(event: GenerationProgress, _context: RequestContext) -> None:
        events.append(event)
        if event.kind is ProgressKind.COMPLETED:
            completed.set()

    stream = "again-progress-stream"
    subscription = await bus.subscribe(
        schemas.EVENTS_GENERATION, on_event, subject=schemas.generation_events_subject(stream)
    )
    try:
        again = await bus.request(
            schemas.ENGINE_GENERATE,
            GenerateRequest(input=REWORDED, count=2, request_id="again-1", progress_token=stream),
            timeout=T,
        )
        async with asyncio.timeout(T):
            await completed.wait()
    finally:
        await subscription.unsubscribe()
    assert (again.cached, again.cached_from, again.request_id, again.input) == (
        True,
        first.request_id,
        "again-1",
        REWORDED,
    )
    assert again.cache_similarity is not None
    assert again.cache_similarity >= EngineSettings().cache_min_similarity
    assert [prompt.id for prompt in again.prompts] == [prompt.id for prompt in first.prompts]
    assert again.cost_usd == 0.0
    assert await stored(bus) == before
    assert [event.kind for event in events] == [ProgressKind.STARTED, ProgressKind.COMPLETED]
    assert events[0].data == {"cached": True}

    different = await bus.request(
        schemas.ENGINE_GENERATE, GenerateRequest(input="Write a SQL query for yearly sales", count=2), timeout=T
    )
    assert not different.cached
    other_shape = await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=REWORDED, count=3), timeout=T)
    assert not other_shape.cached
    refused = await bus.request(
        schemas.ENGINE_GENERATE, GenerateRequest(input=REWORDED, count=2, cache=False), timeout=T
    )
    assert not refused.cached
    assert await stored(bus) > before


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_deleting_a_source_prompt_invalidates_the_answer(bus: Bus, engine: EngineWorker) -> None:
    first = await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=IDEA, count=1), timeout=T)
    assert (await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=REWORDED, count=1), timeout=T)).cached
    victim = first.prompts[0].id
    assert victim is not None
    await bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=victim), timeout=T)
    fresh = await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=REWORDED, count=1), timeout=T)
    assert not fresh.cached
    assert victim not in [prompt.id for prompt in fresh.prompts]


@pytest.mark.usefixtures("storage", "offline_providers")
async def test_an_engine_with_the_cache_off_never_answers_from_it(bus: Bus, start_engine: EngineFactory) -> None:
    await start_engine(EngineSettings(cache_enabled=False))
    await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=IDEA, count=1), timeout=T)
    assert not (await bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=IDEA, count=1), timeout=T)).cached


def test_the_shape_holds_what_changes_the_result_and_not_the_idea() -> None:
    base = GenerateRequest(input=IDEA)
    assert cache_shape(base) == cache_shape(GenerateRequest(input="something else entirely"))
    numbered = cache_shape(GenerateRequest(input="idea number 3 for a slow vendor"))
    assert numbered != cache_shape(GenerateRequest(input="idea number 4 for a slow vendor"))
    assert numbered == cache_shape(GenerateRequest(input="the idea number 3, for a slow vendor"))
    assert cache_shape(GenerateRequest(input="sales for 2023")) != cache_shape(GenerateRequest(input="sales for 2024"))
    assert cache_shape(base) == cache_shape(GenerateRequest(input=IDEA, tags=["x"], save=False))
    gpt = GenerateRequest(input=IDEA, target_model="gpt-4o")
    assert cache_shape(gpt) == cache_shape(GenerateRequest(input=IDEA, target_model="gpt-4o-mini"))
    for changed in (
        {"persona": "code"},
        {"target_model": "claude-sonnet-4"},
        {"phases": ["solutio"]},
        {"count": 5},
        {"phase_selection": "all"},
        {"judge": True},
        {"temperature": 0.2},
    ):
        assert cache_shape(GenerateRequest.model_validate({"input": IDEA, **changed})) != cache_shape(base), changed
