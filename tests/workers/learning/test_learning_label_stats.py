"""Learning compares a label's versions by feedback and promotes only under an explicit policy.

Real storage worker (SQLite), real durable log, both learning states (SQLite, Redis).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.bus.streams import DurableStream, open_stream, publish_event
from prompt_alchemy.errors import NotFound
from prompt_alchemy.schemas.labels import (
    AutoPromotePolicy,
    LabelHistoryRequest,
    LabelSetRequest,
    LabelStatsRequest,
    LabelVariant,
    NameSetRequest,
    VariantStats,
)
from prompt_alchemy.schemas.learning import FeedbackEvent, LearningStatsRequest
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.learning import LearningSettings, LearningState, build_learning_worker
from prompt_alchemy.workers.learning.label_stats import compare_versions
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

StorageStarter = Callable[[InMemoryBus, Path], Awaitable[Any]]
PromptSeeder = Callable[[InMemoryBus, int], Awaitable[list[str]]]
SETTINGS = LearningSettings(max_deliver=3, retry_delay=0.05, outage_backoff=0.1, fetch_timeout=0.2)
T = 30.0


class Setup:
    def __init__(self, bus: InMemoryBus, stream: DurableStream) -> None:
        self.bus = bus
        self.stream = stream
        self.published = 0

    async def rate(self, prompt_id: str, rating: int, times: int) -> None:
        for _ in range(times):
            await publish_event(
                self.stream, schemas.LEARNING_FEEDBACK, FeedbackEvent(prompt_id=prompt_id, rating=rating)
            )
        self.published += times
        # learning applies the events in its own task
        await eventually(self.processed, lambda count: count >= self.published, what="the events applied")

    async def processed(self) -> int:
        return (await self.bus.request(schemas.LEARNING_STATS, LearningStatsRequest())).events_processed


@pytest.fixture
async def setup(
    tmp_path: Path,
    storage_starter: StorageStarter,
    seed: PromptSeeder,
    learning_state: LearningState,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Setup, list[str]]]:
    """Storage, learning (reviewing policies every ``param`` s; default: not during a test), 3 versions."""
    bus = InMemoryBus()
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams")
    await storage_starter(bus, tmp_path / "storage")
    settings = replace(SETTINGS, label_review_interval=getattr(request, "param", 3600.0))
    worker = build_learning_worker(bus, stream, learning_state, settings)
    await worker.start()
    ids = await seed(bus, 3)
    for prompt_id in ids:
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="triage", prompt_id=prompt_id), timeout=T)
    yield Setup(bus, stream), ids
    await worker.stop()
    await stream.close()
    await bus.close()


async def stats(bus: InMemoryBus, label: str = "prod") -> Any:
    return await bus.request(schemas.LEARNING_LABEL_STATS, LabelStatsRequest(name="triage", label=label), timeout=T)


async def test_stats_favour_the_better_rated_version_and_promote_only_under_the_policy(
    setup: tuple[Setup, list[str]],
) -> None:
    env, ids = setup
    split = [LabelVariant(version=1, weight=50), LabelVariant(version=2, weight=50)]
    policy = AutoPromotePolicy(min_events=12, margin=1.0, confidence=0.95)
    await env.bus.request(
        schemas.STORAGE_LABEL_SET,
        LabelSetRequest(name="triage", label="prod", variants=split, auto_promote=policy, actor="key:0"),
        timeout=T,
    )
    await env.bus.request(
        schemas.STORAGE_LABEL_SET, LabelSetRequest(name="triage", label="staging", version=1), timeout=T
    )
    await env.rate(ids[0], 2, 6)
    await env.rate(ids[1], 5, 6)
    early = await stats(env.bus)
    assert early.favoured_version == 2
    assert early.confidence is not None
    assert early.confidence > 0.5
    assert early.promoted is None  # 6 events each: under min_events
    assert [(v.version, v.weight, v.rated) for v in early.variants] == [(1, 50, 6), (2, 50, 6), (3, 0, 0)]
    assert early.variants[1].mean_rating == pytest.approx(5.0)

    await env.rate(ids[0], 2, 6)
    await env.rate(ids[1], 5, 6)
    unpoliced = await stats(env.bus, "staging")
    assert unpoliced.favoured_version == 2
    assert unpoliced.promoted is None  # no policy on staging: never moved automatically
    promoted = await stats(env.bus)
    assert promoted.promoted is not None
    assert promoted.confidence is not None
    assert promoted.confidence >= 0.95
    assert (promoted.promoted.to_variants, promoted.promoted.actor, promoted.promoted.automatic) == (
        [LabelVariant(version=2)],
        "auto_promote",
        True,
    )
    again = await stats(env.bus)
    assert again.promoted is None
    history = await env.bus.request(
        schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="triage", label="prod"), timeout=T
    )
    assert [(move.actor, move.automatic) for move in history.moves] == [("auto_promote", True), ("key:0", False)]
    assert history.moves[0].reason is not None
    assert "v2" in history.moves[0].reason


@pytest.mark.parametrize("setup", [0.05], indirect=True)
async def test_the_periodic_review_promotes_without_anyone_asking(setup: tuple[Setup, list[str]]) -> None:
    env, ids = setup
    policy = AutoPromotePolicy(min_events=5, margin=1.0, confidence=0.9)
    await env.bus.request(
        schemas.STORAGE_LABEL_SET,
        LabelSetRequest(name="triage", label="prod", version=1, auto_promote=policy),
        timeout=T,
    )
    await env.bus.request(schemas.STORAGE_LABEL_SET, LabelSetRequest(name="triage", label="beta", version=1), timeout=T)
    await env.rate(ids[0], 2, 8)
    await env.rate(ids[2], 5, 8)

    async def prod_moves() -> list[Any]:
        history = await env.bus.request(
            schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="triage", label="prod"), timeout=T
        )
        return history.moves

    # the review runs every 50 ms; the move lands in storage
    moves = await eventually(prod_moves, lambda found: len(found) >= 2, what="the automatic move to prod")
    assert (moves[0].actor, moves[0].automatic, moves[0].to_variants) == (
        "auto_promote",
        True,
        [LabelVariant(version=3)],
    )
    beta = await env.bus.request(
        schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="triage", label="beta"), timeout=T
    )
    assert [move.actor for move in beta.moves] == ["cli"]  # no policy on beta: it stays


async def test_unknown_labels_are_not_found(setup: tuple[Setup, list[str]]) -> None:
    env, _ids = setup
    with pytest.raises(NotFound):
        await stats(env.bus, "canary")


def test_confidence_grows_with_evidence_and_is_even_for_equal_versions() -> None:
    def variant(version: int, rated: int, mean: float | None) -> VariantStats:
        return VariantStats(version=version, prompt_id=f"p{version}", weight=50, rated=rated, mean_rating=mean)

    assert compare_versions([variant(1, 0, None), variant(2, 0, None)]) == (None, None)
    assert compare_versions([variant(1, 3, 4.0), variant(2, 0, None)]) == (1, None)
    favoured, even = compare_versions([variant(1, 40, 3.0), variant(2, 40, 3.0)])
    assert favoured == 1
    assert even == pytest.approx(0.5)
    _, little = compare_versions([variant(1, 5, 3.0), variant(2, 5, 4.0)])
    _, much = compare_versions([variant(1, 200, 3.0), variant(2, 200, 4.0)])
    assert little is not None
    assert much is not None
    assert 0.5 < little < much
    assert much > 0.999
