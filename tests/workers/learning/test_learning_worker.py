"""The learning worker end to end on the in-memory bus: real storage service, SQLite log, SQLite state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import InMemoryBus, RequestContext
from prompt_alchemy.bus.streams import DurableStream, open_stream, publish_event
from prompt_alchemy.errors import Unavailable
from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.schemas.learning import (
    FeedbackEvent,
    LearningStatsRequest,
    RecommendationsRequest,
    UpdateWeightsRequest,
    WeightsRequest,
    WeightsUpdated,
)
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS, RankingInput, extract_features, score
from prompt_alchemy.schemas.storage import GetRequest, Lineage, StoreRequest
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.learning import (
    ApplyOutcome,
    FeedbackFact,
    LearningSettings,
    LearningWorker,
    SqliteLearningState,
    build_learning_worker,
)
from prompt_alchemy.workers.learning.state import OnlineTrainer
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

RunningStorage = Any  # conftest.RunningStorage: stop()
StorageStarter = Callable[[InMemoryBus, Path], Awaitable[RunningStorage]]
PromptSeeder = Callable[[InMemoryBus, int], Awaitable[list[str]]]

SETTINGS = LearningSettings(max_deliver=3, retry_delay=0.05, outage_backoff=0.1, fetch_timeout=0.2)


@dataclass
class Embedded:
    bus: InMemoryBus
    stream: DurableStream
    state: SqliteLearningState
    storage: RunningStorage | None
    workers: list[LearningWorker]
    data_dir: Path
    start_storage: StorageStarter
    seed_prompts: Callable[[int], Awaitable[list[str]]]

    def worker(self, settings: LearningSettings = SETTINGS) -> LearningWorker:
        worker = build_learning_worker(self.bus, self.stream, self.state, settings)
        self.workers.append(worker)
        return worker

    async def publish(self, event: FeedbackEvent) -> None:
        await publish_event(self.stream, schemas.LEARNING_FEEDBACK, event)

    async def processed(self) -> int:
        stats = await self.bus.request(schemas.LEARNING_STATS, LearningStatsRequest())
        return stats.events_processed


@pytest.fixture
async def embedded(tmp_path: Path, storage_starter: StorageStarter, seed: PromptSeeder) -> AsyncIterator[Embedded]:
    bus = InMemoryBus()
    env = Embedded(
        bus=bus,
        stream=await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams"),
        state=await SqliteLearningState.open(tmp_path / "learning"),
        storage=await storage_starter(bus, tmp_path / "storage"),
        workers=[],
        data_dir=tmp_path,
        start_storage=storage_starter,
        seed_prompts=lambda count: seed(bus, count),
    )
    yield env
    for worker in env.workers:
        await worker.stop()
    await env.stream.close()
    await env.state.close()
    await bus.close()


async def test_feedback_is_applied_and_aggregates_reach_storage(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(6)
    ratings = {pid: [1 + (index + n) % 5 for n in range(index + 1)] for index, pid in enumerate(prompt_ids)}
    for pid, values in ratings.items():
        for value in values:
            await embedded.publish(FeedbackEvent(prompt_id=pid, rating=value, source="http"))
    await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[0], chosen_over=prompt_ids[1], source="mcp"))
    worker = embedded.worker()
    await worker.start()
    total = sum(len(values) for values in ratings.values()) + 1
    await eventually(lambda: _equals(embedded.processed(), total))

    for pid, values in ratings.items():
        wanted_uses = len(values) + (1 if pid == prompt_ids[0] else 0)

        async def synced(pid: str = pid, wanted_uses: int = wanted_uses) -> bool:
            record = (await embedded.bus.request(schemas.STORAGE_GET, GetRequest(id=pid))).record
            return record.usage_count == wanted_uses

        await eventually(synced)
        record = (await embedded.bus.request(schemas.STORAGE_GET, GetRequest(id=pid))).record
        assert record.rating_count == len(values)
        assert record.mean_rating == pytest.approx(sum(values) / len(values))
        assert record.relevance_score is not None
        assert 0.0 <= record.relevance_score <= 1.0
    stats = await embedded.bus.request(schemas.LEARNING_STATS, LearningStatsRequest())
    assert stats.enabled
    assert stats.by_source == {"http": total - 1, "mcp": 1}
    assert sum(stats.rating_distribution.values()) == total - 1
    assert stats.pairwise_preferences == 1
    assert stats.weights_version >= 1
    assert stats.dead_lettered == 0


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_weights_are_announced_once_per_applied_batch(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(10)
    announced: list[WeightsUpdated] = []

    async def on_weights(event: WeightsUpdated, _ctx: RequestContext) -> None:
        announced.append(event)

    await embedded.bus.subscribe(schemas.EVENTS_WEIGHTS_UPDATED, on_weights)
    for index in range(600):  # 256 + 256 + 88: three batches
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 10], rating=1 + index % 5))
    await embedded.worker().start()
    await eventually(lambda: _equals(embedded.processed(), 600))
    await eventually(lambda: _equals(_count(announced), 3))
    assert [event.version for event in announced] == [1, 2, 3]
    weights = await embedded.bus.request(schemas.LEARNING_WEIGHTS, WeightsRequest())
    assert weights.version == 3
    assert weights.weights == announced[-1].weights
    assert weights.trained_on == 600


async def _count(items: list[WeightsUpdated]) -> int:
    return len(items)


async def test_poison_events_are_dead_lettered_with_their_reason_and_do_not_block(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(3)
    await embedded.stream.publish(schemas.FEEDBACK, b'{"prompt_id": "p1", "rating": 11}', msg_id="bad-json")
    ghost = FeedbackEvent(prompt_id="no-such-prompt", rating=4)
    await embedded.publish(ghost)
    for index in range(50):
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 3], rating=5))
    await embedded.worker().start()
    await eventually(lambda: _equals(embedded.processed(), 50))

    async def both_parked() -> bool:
        return len(await embedded.stream.dead_letters()) == 2

    await eventually(both_parked)
    letters = {letter.msg_id: letter for letter in await embedded.stream.dead_letters()}
    assert "invalid feedback event" in letters["bad-json"].reason
    assert "rating" in letters["bad-json"].reason
    assert letters["bad-json"].attempts == 1
    assert "prompt no-such-prompt not found in storage" in letters[ghost.event_id].reason
    assert letters[ghost.event_id].attempts == SETTINGS.max_deliver
    assert FeedbackEvent.model_validate_json(letters[ghost.event_id].data) == ghost
    stats = await embedded.bus.request(schemas.LEARNING_STATS, LearningStatsRequest())
    assert stats.dead_lettered == 2
    assert stats.events_processed == 50


async def test_learning_disabled_keeps_feedback_until_learning_comes_back(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(2)
    disabled = embedded.worker(LearningSettings(enabled=False))
    await disabled.start()
    for index in range(20):
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 2], helpful=True))
    stats = await embedded.bus.request(schemas.LEARNING_STATS, LearningStatsRequest())
    assert not stats.enabled
    assert stats.events_processed == 0
    assert (await embedded.stream.info()).messages == 20
    with pytest.raises(Unavailable):
        await embedded.bus.request(schemas.LEARNING_UPDATE_WEIGHTS, UpdateWeightsRequest())
    health = await embedded.bus.request(schemas.LEARNING_HEALTH, HealthRequest())
    assert health.status == "ok"
    assert "disabled" in health.checks["consumer"].message
    await disabled.stop()

    await embedded.worker().start()
    await eventually(lambda: _equals(embedded.processed(), 20))


async def test_stop_finishes_the_batch_in_hand(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(5)
    for index in range(2000):
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 5], rating=3))
    worker = embedded.worker(LearningSettings(batch_size=64, fetch_timeout=0.2))
    await worker.start()

    async def started() -> bool:
        return (await embedded.state.stats()).counters.get("events_processed", 0) > 0

    await eventually(started)
    await worker.stop()
    consumer = (await embedded.stream.info()).consumers["learning"]
    processed = (await embedded.state.stats()).counters["events_processed"]
    assert consumer.ack_pending == 0  # nothing fetched was left unacknowledged
    assert processed + consumer.pending == 2000


async def test_a_storage_outage_holds_feedback_without_dead_lettering(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(3)
    assert embedded.storage is not None
    await embedded.storage.stop()
    embedded.storage = None
    for index in range(30):
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 3], rating=4))
    await embedded.worker().start()
    health = await embedded.bus.request(schemas.LEARNING_HEALTH, HealthRequest())
    assert health.checks["stream"].ok
    assert await embedded.processed() == 0
    embedded.storage = await embedded.start_storage(embedded.bus, embedded.data_dir / "storage")
    await eventually(lambda: _equals(embedded.processed(), 30))
    assert await embedded.stream.dead_letters() == []


def synthetic_content(index: int, *, preferred: bool) -> str:
    if preferred:
        return f"Summarise report {index} briefly. For example, three short sentences."
    return (
        f"# Role\nAnalyst for report {index}.\n\n## Task\nSummarise report {index}.\n\n"
        "## Rules\n- cover everything\n- be exhaustive\n\n" + " ".join(["summarise the report analysis"] * 15)
    )


async def test_learned_weights_rank_the_preferred_kind_of_prompt_first(embedded: Embedded) -> None:
    """Preferred prompts share a feature (an example, no heavy structure); feedback teaches the ranker so."""
    pairs: list[tuple[str, str]] = []
    for index in range(80):
        ids = []
        for preferred in (True, False):
            reply = await embedded.bus.request(
                schemas.STORAGE_STORE,
                StoreRequest(
                    content=synthetic_content(index, preferred=preferred),
                    input=f"summarise report {index}",
                    lineage=Lineage(phase=Phase.COAGULATIO, provider="openai", persona=Persona.ANALYSIS),
                ),
            )
            ids.append(reply.id)
        pairs.append((ids[0], ids[1]))
    for good, bad in pairs:
        await embedded.publish(FeedbackEvent(prompt_id=good, chosen_over=bad, source="http"))
        await embedded.publish(FeedbackEvent(prompt_id=good, rating=5))
        await embedded.publish(FeedbackEvent(prompt_id=bad, rating=2))
    await embedded.worker().start()
    await eventually(lambda: _equals(embedded.processed(), 240))

    def preferred_first(weights: schemas.learning.Weights) -> bool:
        for index in range(500, 520):  # prompts never seen in training
            good, bad = (
                score(
                    extract_features(
                        RankingInput(content=synthetic_content(index, preferred=p), phase=Phase.COAGULATIO)
                    ),
                    weights,
                )
                for p in (True, False)
            )
            if good <= bad:
                return False
        return True

    assert not preferred_first(DEFAULT_WEIGHTS)
    online = await embedded.bus.request(schemas.LEARNING_WEIGHTS, WeightsRequest())
    assert online.version >= 1
    assert preferred_first(online)
    refitted = await embedded.bus.request(schemas.LEARNING_UPDATE_WEIGHTS, UpdateWeightsRequest(epochs=30))
    assert refitted.version == online.version + 1
    assert refitted.trained_on == 240
    assert preferred_first(refitted)

    recommended = await embedded.bus.request(
        schemas.LEARNING_RECOMMENDATIONS,
        RecommendationsRequest(
            input="analyst role and rules: summarise the report, cover everything exhaustively", limit=50
        ),
    )
    scores = [item.score for item in recommended.items]
    assert len(scores) == 50
    assert scores == sorted(scores, reverse=True)
    for item in recommended.items:
        assert item.score == pytest.approx(item.similarity * item.learned_score)
    learned_good = [item.learned_score for item in recommended.items if "For example" in item.record.content]
    learned_bad = [item.learned_score for item in recommended.items if "For example" not in item.record.content]
    assert learned_good
    assert learned_bad
    assert min(learned_good) > max(learned_bad)  # learned weights and historical ratings agree
    assert "For example" in recommended.items[0].record.content


class FailsOnOneEvent:
    """The real state, except that applying one particular event raises (a processing bug it triggers)."""

    def __init__(self, inner: SqliteLearningState, poison_id: str) -> None:
        self._inner = inner
        self._poison_id = poison_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def apply(self, facts: Sequence[FeedbackFact], trainer: OnlineTrainer | None = None) -> ApplyOutcome:
        if any(fact.event_id == self._poison_id for fact in facts):
            raise ValueError("cannot digest this one")
        return await self._inner.apply(facts, trainer)


async def test_an_event_that_fails_processing_is_isolated_and_dead_lettered(embedded: Embedded) -> None:
    prompt_ids = await embedded.seed_prompts(2)
    poison = FeedbackEvent(prompt_id=prompt_ids[0], rating=1)
    await embedded.publish(poison)
    for index in range(40):
        await embedded.publish(FeedbackEvent(prompt_id=prompt_ids[index % 2], rating=4))
    worker = build_learning_worker(
        embedded.bus, embedded.stream, FailsOnOneEvent(embedded.state, poison.event_id), SETTINGS
    )
    embedded.workers.append(worker)
    await worker.start()
    await eventually(lambda: _equals(embedded.processed(), 40))

    async def parked() -> bool:
        return len(await embedded.stream.dead_letters()) == 1

    await eventually(parked)
    (letter,) = await embedded.stream.dead_letters()
    assert letter.msg_id == poison.event_id
    assert "processing failed: ValueError: cannot digest this one" in letter.reason
    assert letter.attempts == SETTINGS.max_deliver
