"""The closed loop with the real learning worker: generate, feedback, new weights, the engine ranks with them.

Embedded mode (in-memory bus, SQLite feedback log and learning state), every worker real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.bus.streams import open_stream, publish_event
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.workers.generation import EngineSettings, build_engine_worker
from prompt_alchemy.workers.learning import LearningSettings, SqliteLearningState, build_learning_worker
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM
from prompt_alchemy.workers.providers import ProviderRegistry
from prompt_alchemy.workers.providers.service import build_providers_service
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service

EVENTUALLY = 30.0


@pytest.fixture
async def embedded_bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    yield bus
    await bus.close()


async def test_feedback_retrains_the_weights_the_engine_ranks_with(embedded_bus: InMemoryBus, tmp_path: Path) -> None:
    bus = embedded_bus
    store = SqlitePromptStore(tmp_path / "storage")
    storage = build_storage_service(bus, store, WordLlamaEmbedder())
    registry = ProviderRegistry.from_env({})
    providers = build_providers_service(bus, registry)
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams")
    state = await SqliteLearningState.open(tmp_path / "learning")
    learning = build_learning_worker(bus, stream, state, LearningSettings(fetch_timeout=0.2))
    engine = build_engine_worker(bus, EngineSettings())
    for service in (storage, providers):
        await service.start()
    await learning.start()
    await engine.start()
    try:
        assert engine.weights.source.startswith("learning")  # asked learning at start, not the defaults
        first = await bus.request(
            schemas.ENGINE_GENERATE, GenerateRequest(input="Write a regex that validates emails", count=3), timeout=30
        )
        assert first.weights_version == 0
        best = first.best
        assert best is not None
        assert best.id is not None
        others = [prompt for prompt in first.prompts if prompt.id != best.id]
        for prompt in others:
            assert prompt.id is not None
            await publish_event(stream, schemas.LEARNING_FEEDBACK, FeedbackEvent(prompt_id=prompt.id, rating=1))
        await publish_event(stream, schemas.LEARNING_FEEDBACK, FeedbackEvent(prompt_id=best.id, rating=5))

        async with asyncio.timeout(EVENTUALLY):
            adopted = await engine.weights.wait_for_version(1)
        assert adopted.trained_on >= 1
        second = await bus.request(
            schemas.ENGINE_GENERATE, GenerateRequest(input="Write a regex that validates URLs", count=1), timeout=30
        )
        assert second.weights_version >= adopted.version  # later batches may have trained again meanwhile
    finally:
        await engine.stop()
        await learning.stop()
        for service in (providers, storage):
            await service.stop()
        await registry.aclose()
        await stream.close()
        await state.close()
        await store.close()
