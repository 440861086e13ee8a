"""One worker shape: every worker an async context manager; what it or the runtime acquired for it
is released when its start fails half-way, and on stop in reverse order."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

import prompt_alchemy
from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, ServiceRunner
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.runtime import components
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.provider_metrics import MeteredProviderRegistry
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.workers.lifecycle import Worker
from prompt_alchemy.workers.storage import SqlitePromptStore

SettingsFactory = Callable[..., Settings]


class _Recorder(Worker):
    """Acquires two resources, then fails (or serves) as told."""

    name = "recorder"

    def __init__(self, bus: Bus, events: list[str], *, fail: bool) -> None:
        super().__init__()
        self.events = events
        self.fail = fail
        self.service = ServiceRunner(bus, name="recorder", version=prompt_alchemy.__version__)

    async def _open(self, resources: AsyncExitStack) -> None:
        self.events.append("acquire first")
        resources.callback(self.events.append, "release first")
        self.events.append("acquire second")
        resources.callback(self.events.append, "release second")
        if self.fail:
            raise RuntimeError("start failed")


async def test_a_worker_that_fails_to_start_releases_what_it_acquired_in_reverse() -> None:
    events: list[str] = []
    worker = _Recorder(InMemoryBus(), events, fail=True)
    with pytest.raises(RuntimeError, match="start failed"):
        async with worker:
            pass
    assert events == ["acquire first", "acquire second", "release second", "release first"]
    assert not worker.running


async def test_a_worker_starts_once_and_stops_in_reverse_order() -> None:
    events: list[str] = []
    worker = _Recorder(InMemoryBus(), events, fail=False)
    async with worker:
        await worker.start()  # idempotent
        assert worker.running
        assert events == ["acquire first", "acquire second"]
    assert events[2:] == ["release second", "release first"]
    await worker.stop()  # idempotent
    assert len(events) == 4


async def _closed_bus() -> InMemoryBus:
    bus = InMemoryBus()
    await bus.drain()
    return bus


async def test_storage_that_cannot_serve_closes_its_store(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Path] = []

    class RecordingStore(SqlitePromptStore):
        async def close(self) -> None:
            closed.append(self.path)
            await super().close()

    monkeypatch.setattr(components, "SqlitePromptStore", RecordingStore)
    with pytest.raises(AlchemyError):
        async with components.storage_worker(await _closed_bus(), make_settings()):
            pass
    assert len(closed) == 1


@pytest.mark.usefixtures("offline")
async def test_providers_that_cannot_serve_close_their_registry(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []

    class RecordingRegistry(MeteredProviderRegistry):
        async def aclose(self) -> None:
            closed.append("registry")
            await super().aclose()

    monkeypatch.setattr(components, "MeteredProviderRegistry", RecordingRegistry)
    with pytest.raises(AlchemyError):
        async with components.providers_worker(await _closed_bus(), make_settings()):
            pass
    assert closed == ["registry"]


@pytest.mark.usefixtures("offline")
async def test_the_embedded_runtime_stops_started_workers_when_a_later_one_fails(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[str] = []

    def failing_storage(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("storage cannot start")

    real_stop = Worker.stop

    async def recording_stop(self: Worker) -> None:
        if self.running:
            stopped.append(self.name)
        await real_stop(self)

    monkeypatch.setattr(Worker, "stop", recording_stop)
    monkeypatch.setattr("prompt_alchemy.runtime.embedded.storage_worker", failing_storage)
    runtime = EmbeddedRuntime(make_settings())
    with pytest.raises(RuntimeError, match="storage cannot start"):
        await runtime.start()
    assert stopped == ["providers"]
    assert runtime.bus.is_closed


@pytest.mark.usefixtures("offline")
async def test_every_worker_reports_the_package_version(make_settings: SettingsFactory) -> None:
    async with EmbeddedRuntime(make_settings()) as runtime:
        assert runtime.workers == ["providers", "storage", "learning", "engine"]
        for contract in (
            schemas.PROVIDERS_HEALTH,
            schemas.STORAGE_HEALTH,
            schemas.LEARNING_HEALTH,
            schemas.ENGINE_HEALTH,
        ):
            health = await runtime.bus.request(contract, HealthRequest(), timeout=30)
            assert health.version == prompt_alchemy.__version__


async def test_storage_whose_store_is_down_at_start_still_serves_and_says_so() -> None:
    """The store is opened once, before serving; a store that is down then does not stop the worker
    (it opens on first use once it is back) and health says why."""
    from prompt_alchemy.testing.servers import free_port
    from prompt_alchemy.workers.storage import RedisPromptStore, StorageWorker, WordLlamaEmbedder

    bus = InMemoryBus()
    store = RedisPromptStore(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5, operation_timeout=1.0)
    try:
        async with StorageWorker(bus, store, WordLlamaEmbedder()) as worker:
            assert worker.running
            health = await bus.request(schemas.STORAGE_HEALTH, HealthRequest(), timeout=30)
            assert health.status != "ok"
            assert not all(check.ok for check in health.checks.values())
    finally:
        await store.close()
        await bus.drain()
