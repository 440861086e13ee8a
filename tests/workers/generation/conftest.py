"""Engine fixtures: the tests are a composition root — the real storage and providers workers run
on the same bus as the engine (in-memory or NATS), with SQLite storage and the offline provider
(or the fake vendor server speaking each vendor's wire format).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.testing.vendors import FakeVendorServer
from prompt_alchemy.workers.generation import EngineSettings, EngineWorker, build_engine_worker
from prompt_alchemy.workers.providers import ProviderRegistry
from prompt_alchemy.workers.providers.service import build_providers_service
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service

ProvidersFactory = Callable[[Mapping[str, str]], Awaitable[ProviderRegistry]]
EngineFactory = Callable[..., Awaitable[EngineWorker]]


@pytest.fixture
async def storage(bus: Bus, tmp_path: Path) -> AsyncIterator[ServiceRunner]:
    """The real storage worker: SQLite + numpy index, WordLlama embeddings."""
    store = SqlitePromptStore(tmp_path / "storage")
    runner = build_storage_service(bus, store, WordLlamaEmbedder())
    await runner.start()
    yield runner
    await runner.stop()
    await store.close()


@pytest.fixture
async def start_providers(bus: Bus) -> AsyncIterator[ProvidersFactory]:
    """Starts the real providers worker configured from the given environment (no keys: offline only)."""
    started: list[tuple[ServiceRunner, ProviderRegistry]] = []

    async def start(environ: Mapping[str, str]) -> ProviderRegistry:
        registry = ProviderRegistry.from_env(dict(environ))
        service = build_providers_service(bus, registry)
        await service.start()
        started.append((service, registry))
        return registry

    yield start
    for service, registry in reversed(started):
        await service.stop()
        await registry.aclose()


@pytest.fixture
async def offline_providers(start_providers: ProvidersFactory) -> ProviderRegistry:
    """Only the offline provider: no key and no base URL in the environment."""
    return await start_providers({})


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendorServer]:
    async with FakeVendorServer() as server:
        yield server


@pytest.fixture
async def start_engine(bus: Bus) -> AsyncIterator[EngineFactory]:
    engines: list[EngineWorker] = []

    async def start(settings: EngineSettings | None = None, *, on: Bus | None = None) -> EngineWorker:
        engine = build_engine_worker(on or bus, settings or EngineSettings())
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in reversed(engines):
        await engine.stop()


@pytest.fixture
async def engine(start_engine: EngineFactory) -> EngineWorker:
    return await start_engine()
