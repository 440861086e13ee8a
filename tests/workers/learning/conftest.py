"""Learning fixtures: a real storage service with seeded prompts, learning states of both kinds, a feedback stream.

Storage is the real storage worker (``build_storage_service`` over an SQLite store): the learner
reads prompts with ``storage.get`` and writes aggregates with ``storage.update`` exactly as in
production.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, ServiceRunner
from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.storage import Lineage, StoreRequest
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.learning import LearningState, RedisLearningState, SqliteLearningState
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service

STATE_KINDS = ["sqlite", "redis"]
PHASES = list(Phase)
PROVIDERS = ["openai", "anthropic", "offline", "ollama"]
PERSONAS = list(Persona)


@dataclass
class RunningStorage:
    runner: ServiceRunner
    store: SqlitePromptStore

    async def stop(self) -> None:
        if self.runner.running:
            await self.runner.stop()
            await self.store.close()


async def start_storage(bus: Bus, data_dir: Path) -> RunningStorage:
    store = SqlitePromptStore(data_dir)
    runner = build_storage_service(bus, store, WordLlamaEmbedder())
    await runner.start()
    return RunningStorage(runner, store)


def prompt_text(index: int) -> str:
    """Varied prompts: some structured, some with examples, of different lengths."""
    parts = [f"You are assistant number {index}. Help the user with task {index}."]
    if index % 2:
        parts.append("## Steps\n- read the input\n- answer precisely")
    if index % 3 == 0:
        parts.append("For example, answer in two sentences.")
    parts.append(" ".join(["detail"] * (index % 7) * 10))
    return "\n\n".join(parts)


async def seed_prompts(bus: Bus, count: int) -> list[str]:
    """Store ``count`` prompts through storage.store; their ids in order."""
    requests = [
        StoreRequest(
            content=prompt_text(index),
            input=f"help me with task {index}",
            lineage=Lineage(
                phase=PHASES[index % len(PHASES)],
                provider=PROVIDERS[index % len(PROVIDERS)],
                persona=PERSONAS[index % len(PERSONAS)],
            ),
        )
        for index in range(count)
    ]
    replies = await asyncio.gather(*(bus.request(schemas.STORAGE_STORE, request, timeout=30) for request in requests))
    return [reply.id for reply in replies]


StateFactory = Callable[[], Awaitable[LearningState]]
StorageStarter = Callable[[Bus, Path], Awaitable[RunningStorage]]
PromptSeeder = Callable[[Bus, int], Awaitable[list[str]]]


@pytest.fixture
async def storage_starter() -> AsyncIterator[StorageStarter]:
    """Starts real storage services (stopped at teardown unless the test stopped them)."""
    started: list[RunningStorage] = []

    async def start(bus: Bus, data_dir: Path) -> RunningStorage:
        storage = await start_storage(bus, data_dir)
        started.append(storage)
        return storage

    yield start
    for storage in started:
        await storage.stop()


@pytest.fixture
def seed() -> PromptSeeder:
    return seed_prompts


@pytest.fixture(params=STATE_KINDS)
def state_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def state_factory(state_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StateFactory]:
    """Opens handles on ONE learning state of the parametrised kind (another call: another process's view)."""
    opened: list[LearningState] = []
    prefix = f"test-learning-{uuid.uuid4().hex[:12]}"

    async def make() -> LearningState:
        state: LearningState
        if state_kind == "sqlite":
            state = await SqliteLearningState.open(tmp_path / "learning")
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            state = await RedisLearningState.open(server.url, prefix=prefix)
        opened.append(state)
        return state

    yield make
    for state in opened:
        if isinstance(state, RedisLearningState):
            await state.drop()
        await state.close()


@pytest.fixture
async def learning_state(state_factory: StateFactory) -> LearningState:
    return await state_factory()


@pytest.fixture
async def memory_bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    yield bus
    await bus.close()
