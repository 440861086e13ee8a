"""Ranking weights: defaults while learning is away, pushed updates adopted, stale ones ignored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.schemas.learning import Weights, WeightsUpdated
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS
from prompt_alchemy.workers.generation import EngineSettings, build_engine_worker
from prompt_alchemy.workers.generation.weights import WeightsBook

EVENTUALLY = 10.0

BusFactory = Callable[[], Awaitable[Bus]]


async def test_learning_unreachable_means_default_weights(bus: Bus) -> None:
    book = WeightsBook(bus, timeout_s=1.0)
    await book.load()
    assert book.current == DEFAULT_WEIGHTS
    assert "unreachable" in book.source
    assert not book.learned


def test_newer_weights_win_and_older_ones_are_ignored() -> None:
    book = WeightsBook(InMemoryBus())
    assert book.apply(Weights(version=3, weights={"structure": 2.0}, bias=-1.0), "test")
    assert book.version == 3
    assert book.current.weights["structure"] == 2.0
    assert book.current.weights["length_fit"] == DEFAULT_WEIGHTS.weights["length_fit"]  # omitted: default kept
    assert not book.apply(Weights(version=2, weights={"structure": -9.0}), "stale")
    assert book.current.weights["structure"] == 2.0


async def test_every_engine_replica_adopts_a_pushed_update(bus_factory: BusFactory) -> None:
    first_bus, second_bus = await bus_factory(), await bus_factory()  # separate connections on NATS
    replicas = [build_engine_worker(first_bus, EngineSettings()), build_engine_worker(second_bus, EngineSettings())]
    for replica in replicas:
        await replica.start()
    try:
        assert all(replica.weights.version == 0 for replica in replicas)
        await first_bus.publish(
            schemas.EVENTS_WEIGHTS_UPDATED,
            WeightsUpdated(version=4, weights={"structure": 3.0}, bias=-0.5, trained_on=12),
        )
        async with asyncio.timeout(EVENTUALLY):
            adopted = await asyncio.gather(*(replica.weights.wait_for_version(4) for replica in replicas))
        assert [weights.weights["structure"] for weights in adopted] == [3.0, 3.0]
        assert all(weights.trained_on == 12 for weights in adopted)
    finally:
        for replica in replicas:
            await replica.stop()


async def test_learning_disabled_never_asks(bus: Bus) -> None:
    worker = build_engine_worker(bus, EngineSettings(learning_enabled=False))
    await worker.start()
    try:
        assert worker.weights.source == "defaults (learning disabled)"
        assert worker.weights.current == DEFAULT_WEIGHTS
    finally:
        await worker.stop()
