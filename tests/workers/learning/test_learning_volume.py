"""10,000 feedback events published while the learning worker is stopped, then applied exactly once.

On NATS (JetStream stream, Redis learning state, storage and worker on their own connections, as
separate processes would be) and embedded (SQLite log and state, in-memory bus). Aggregates in
storage are checked against a count done here. Throughput is printed (run with -s), not asserted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus
from prompt_alchemy.bus.streams import DurableStream, open_stream, publish_event
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.learning import FeedbackEvent, FeedbackSource
from prompt_alchemy.schemas.storage import GetRequest
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.learning import (
    LearningSettings,
    LearningState,
    RedisLearningState,
    SqliteLearningState,
    build_learning_worker,
)
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

EVENTS = 10_000
PROMPTS = 100
SOURCES: list[FeedbackSource] = ["http", "mcp", "cli", "api"]

RunningStorage = Any  # conftest.RunningStorage
StorageStarter = Callable[[Bus, Path], Awaitable[RunningStorage]]
PromptSeeder = Callable[[Bus, int], Awaitable[list[str]]]


def make_events(prompt_ids: list[str]) -> list[FeedbackEvent]:
    events = []
    for index in range(EVENTS):
        chosen_over = prompt_ids[(index + 1) % PROMPTS] if index % 20 == 0 else None
        events.append(
            FeedbackEvent(
                prompt_id=prompt_ids[index % PROMPTS],
                rating=1 + (index * 7 + index // PROMPTS) % 5,
                chosen_over=chosen_over,
                source=SOURCES[index % len(SOURCES)],
            )
        )
    return events


@dataclass
class Expected:
    """The count done in the test: what the aggregates must say if every event was applied once."""

    uses: Counter[str] = field(default_factory=Counter)
    ratings: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, events: list[FeedbackEvent]) -> Expected:
        expected = cls()
        for event in events:
            expected.uses[event.prompt_id] += 1
            if event.rating is not None:
                expected.ratings[event.prompt_id].append(event.rating)
        return expected


async def publish_all(stream: DurableStream, events: list[FeedbackEvent], *, concurrency: int = 64) -> int:
    """Publish through the typed wrapper; returns how many were acknowledged as duplicates."""
    slots = asyncio.Semaphore(concurrency)

    async def one(event: FeedbackEvent) -> bool:
        async with slots:
            return (await publish_event(stream, schemas.LEARNING_FEEDBACK, event)).duplicate

    return sum(await asyncio.gather(*(one(event) for event in events)))


async def processed(state: LearningState) -> int:
    return (await state.stats()).counters.get("events_processed", 0)


async def assert_aggregates_in_storage(bus: Bus, expected: Expected) -> None:
    async def all_synced() -> bool:
        for prompt_id, uses in expected.uses.items():
            record = (await bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id), timeout=10)).record
            if record.usage_count != uses:
                return False
        return True

    await eventually(all_synced)
    for prompt_id, ratings in expected.ratings.items():
        record = (await bus.request(schemas.STORAGE_GET, GetRequest(id=prompt_id), timeout=10)).record
        assert record.rating_count == len(ratings)
        assert record.mean_rating == pytest.approx(sum(ratings) / len(ratings))
        assert record.relevance_score is not None


def report(label: str, started: float, events: int = EVENTS) -> None:
    elapsed = time.perf_counter() - started
    print(f"\n[learning volume] {label}: {events} events applied in {elapsed:.2f} s = {events / elapsed:,.0f} events/s")


# -- NATS ----------------------------------------------------------------------------------------
@dataclass
class Cluster:
    """Storage, learning worker and publisher on separate connections to one nats-server."""

    server: NatsServer
    storage_bus: NatsBus
    worker_bus: NatsBus
    publisher_bus: NatsBus
    publisher_stream: DurableStream
    worker_stream: DurableStream
    state: RedisLearningState
    prompt_ids: list[str]


@pytest.fixture
async def cluster(
    private_nats_server: NatsServer,
    redis_server: RedisServer,
    tmp_path: Path,
    storage_starter: StorageStarter,
    seed: PromptSeeder,
) -> AsyncIterator[Cluster]:
    buses = [await NatsBus.connect(private_nats_server.url) for _ in range(3)]
    storage_bus, worker_bus, publisher_bus = buses
    await storage_starter(storage_bus, tmp_path / "storage")
    publisher_stream = await open_stream(publisher_bus, FEEDBACK_STREAM, data_dir=None)
    worker_stream = await open_stream(worker_bus, FEEDBACK_STREAM, data_dir=None)
    state = await RedisLearningState.open(redis_server.url, prefix=f"test-volume-{uuid.uuid4().hex[:12]}")
    prompt_ids = await seed(publisher_bus, PROMPTS)
    yield Cluster(
        private_nats_server,
        storage_bus,
        worker_bus,
        publisher_bus,
        publisher_stream,
        worker_stream,
        state,
        prompt_ids,
    )
    await publisher_stream.close()
    await worker_stream.close()
    await state.drop()
    await state.close()
    for bus in buses:
        await bus.close()


NATS_SETTINGS = LearningSettings(ack_wait=5.0, storage_timeout=2.0, outage_backoff=0.1)


@pytest.mark.slow
async def test_nats_ten_thousand_events_published_while_stopped_are_applied_exactly_once(cluster: Cluster) -> None:
    events = make_events(cluster.prompt_ids)
    assert await publish_all(cluster.publisher_stream, events) == 0
    assert (await cluster.publisher_stream.info()).messages == EVENTS

    worker = build_learning_worker(cluster.worker_bus, cluster.worker_stream, cluster.state, NATS_SETTINGS)
    started = time.perf_counter()
    await worker.start()
    try:
        await eventually(lambda: _reached(processed(cluster.state), EVENTS))
        report("NATS + JetStream + Redis state", started)
        await assert_aggregates_in_storage(cluster.publisher_bus, Expected.of(events))
        stats = await cluster.state.stats()
        assert stats.counters["events_processed"] == EVENTS
        assert stats.counters["pairwise_preferences"] == EVENTS // 20
        assert sum(v for k, v in stats.counters.items() if k.startswith("source:")) == EVENTS
        assert (await cluster.publisher_stream.info()).consumers["learning"].ack_pending == 0
    finally:
        await worker.stop()


@pytest.mark.slow
async def test_nats_every_tenth_event_id_twice_is_still_applied_once(cluster: Cluster) -> None:
    events = make_events(cluster.prompt_ids)
    again = events[::10]
    assert await publish_all(cluster.publisher_stream, events) == 0
    # half of the repeats through the typed wrapper: JetStream drops them (Nats-Msg-Id) ...
    assert await publish_all(cluster.publisher_stream, again[::2]) == len(again[::2])
    # ... half as a second message (another msg id, the same event): the learning state drops them
    for event in again[1::2]:
        await cluster.publisher_stream.publish(
            schemas.FEEDBACK, event.model_dump_json().encode(), msg_id=f"{event.event_id}-resent"
        )
    assert (await cluster.publisher_stream.info()).messages == EVENTS + len(again[1::2])

    worker = build_learning_worker(cluster.worker_bus, cluster.worker_stream, cluster.state, NATS_SETTINGS)
    started = time.perf_counter()
    await worker.start()
    try:
        await eventually(lambda: _reached(processed(cluster.state), EVENTS))
        report("NATS with duplicates", started)
        await eventually(lambda: _settled(cluster.publisher_stream))
        await assert_aggregates_in_storage(cluster.publisher_bus, Expected.of(events))
        stats = await cluster.state.stats()
        assert stats.counters["events_processed"] == EVENTS
        assert stats.counters["duplicates"] == len(again[1::2])
    finally:
        await worker.stop()


@pytest.mark.slow
async def test_nats_server_restarted_mid_stream_loses_and_doubles_nothing(cluster: Cluster) -> None:
    events = make_events(cluster.prompt_ids)
    await publish_all(cluster.publisher_stream, events)
    worker = build_learning_worker(cluster.worker_bus, cluster.worker_stream, cluster.state, NATS_SETTINGS)
    started = time.perf_counter()
    await worker.start()
    try:
        await eventually(lambda: _reached(processed(cluster.state), EVENTS // 4))
        done_before = await processed(cluster.state)
        await asyncio.to_thread(cluster.server.restart)  # same port, same JetStream store; clients reconnect
        await _reachable(cluster.publisher_stream)
        await eventually(lambda: _reached(processed(cluster.state), EVENTS))
        report(f"NATS restarted after {done_before} events", started)
        await eventually(lambda: _settled(cluster.publisher_stream))
        await assert_aggregates_in_storage(cluster.publisher_bus, Expected.of(events))
        stats = await cluster.state.stats()
        assert stats.counters["events_processed"] == EVENTS
        print(f"[learning volume] redeliveries recognised after the restart: {stats.counters.get('duplicates', 0)}")
    finally:
        await worker.stop()


async def _reached(value: Awaitable[int], wanted: int) -> bool:
    return await value >= wanted


async def _settled(stream: DurableStream) -> bool:
    consumer = (await stream.info()).consumers.get("learning")
    return consumer is not None and consumer.pending == 0 and consumer.ack_pending == 0


async def _reachable(stream: DurableStream) -> None:
    async def answers() -> bool:
        try:
            await stream.info()
        except AlchemyError:
            return False
        return True

    await eventually(answers)


# -- embedded ------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_embedded_ten_thousand_events_published_while_stopped_are_applied_exactly_once(
    tmp_path: Path, storage_starter: StorageStarter, seed: PromptSeeder
) -> None:
    bus = InMemoryBus()
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams")
    state = await SqliteLearningState.open(tmp_path / "learning")
    await storage_starter(bus, tmp_path / "storage")
    try:
        prompt_ids = await seed(bus, PROMPTS)
        events = make_events(prompt_ids)
        await publish_all(stream, events)
        assert await publish_all(stream, events[::10]) == EVENTS // 10  # repeats: stored once
        worker = build_learning_worker(bus, stream, state, LearningSettings())
        started = time.perf_counter()
        await worker.start()
        try:
            await eventually(lambda: _reached(processed(state), EVENTS))
            report("embedded: SQLite log + SQLite state", started)
            await assert_aggregates_in_storage(bus, Expected.of(events))
            assert (await state.stats()).counters["events_processed"] == EVENTS
        finally:
            await worker.stop()
    finally:
        await stream.close()
        await state.close()
        await bus.close()
