"""The learning-state contract, on SQLite and on Redis (real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS
from prompt_alchemy.workers.learning import FeedbackFact, LearningState

StateFactory = Callable[[], Awaitable[LearningState]]


def fact(event_id: str, prompt_id: str = "p1", **signals: object) -> FeedbackFact:
    return FeedbackFact(event_id=event_id, prompt_id=prompt_id, source="http", created_at=1_700_000_000.0, **signals)  # type: ignore[arg-type]


def bump(current: Weights, facts: Sequence[FeedbackFact]) -> Weights:
    """A stand-in trainer: a new version that counts what it was trained on."""
    return current.model_copy(update={"version": current.version + 1, "trained_on": current.trained_on + len(facts)})


async def test_a_new_state_has_the_default_weights_and_nothing_else(learning_state: LearningState) -> None:
    assert await learning_state.weights() == DEFAULT_WEIGHTS
    stats = await learning_state.stats()
    assert stats.counters == {}
    assert stats.weights_version == 0
    assert await learning_state.facts() == []
    assert await learning_state.unsynced(10) == []


async def test_apply_applies_each_event_once(learning_state: LearningState) -> None:
    first = await learning_state.apply([fact("e1", rating=5), fact("e2", rating=3), fact("e1", rating=5)])
    assert first.applied == 2
    assert first.duplicates == 1
    again = await learning_state.apply([fact("e2", rating=3), fact("e3", rating=4)])
    assert again.applied == 1
    assert again.duplicates == 1
    assert await learning_state.unseen(["e1", "e3", "e9"]) == {"e9"}
    (aggregate,) = (await learning_state.aggregates(["p1"])).values()
    assert aggregate.usage_count == 3
    assert aggregate.rating_count == 3
    assert aggregate.mean_rating == 4.0
    stats = await learning_state.stats()
    assert stats.counters["events_processed"] == 3
    assert stats.counters["duplicates"] == 2
    assert stats.counters["rating:5"] == 1
    assert stats.counters["source:http"] == 3
    assert [f.event_id for f in await learning_state.facts()] == ["e1", "e2", "e3"]


async def test_one_session_counts_once_per_prompt_and_retrains_once(learning_state: LearningState) -> None:
    """The attack of issue 13: 200 events from one session drove a mean to 5.0 and retrained 56 times."""
    honest = [fact(f"h{index}", rating=2, origin=f"address:10.0.0.{index}") for index in range(3)]
    await learning_state.apply(honest, bump)
    flood = [fact(f"f{index}", rating=5, origin="key:attacker", session_id="s1") for index in range(200)]
    retrains = 0
    for start in range(0, len(flood), 8):  # batches as the consumer fetches them
        outcome = await learning_state.apply(flood[start : start + 8], bump)
        assert outcome.applied == len(flood[start : start + 8])  # recorded: a redelivery is recognised
        retrains += outcome.weights is not None
    assert retrains == 1
    (aggregate,) = (await learning_state.aggregates(["p1"])).values()
    assert (aggregate.rating_count, aggregate.usage_count) == (4, 4)
    assert aggregate.mean_rating == pytest.approx((3 * 2 + 5) / 4)
    stats = await learning_state.stats()
    assert stats.counters["events_processed"] == 203
    assert stats.counters["ignored_votes"] == 199
    assert (await learning_state.weights()).trained_on == 4
    assert await learning_state.unseen(["f0", "f199"]) == set()


async def test_one_origin_has_a_bounded_number_of_votes_per_prompt(learning_state: LearningState) -> None:
    limit = learning_state.votes.votes_per_origin
    sessions = [
        fact(f"s{index}", rating=5, origin="key:attacker", session_id=f"made-up-{index}") for index in range(50)
    ]
    outcome = await learning_state.apply(sessions, bump)
    assert outcome.applied == 50
    other_prompt = await learning_state.apply([fact("o1", "p2", rating=5, origin="key:attacker", session_id="x")])
    assert other_prompt.applied == 1
    aggregates = await learning_state.aggregates(["p1", "p2"])
    assert aggregates["p1"].rating_count == limit
    assert aggregates["p2"].rating_count == 1  # the bound is per prompt
    assert (await learning_state.stats()).counters["ignored_votes"] == 50 - limit
    counted = [f.event_id for f in await learning_state.facts() if f.counted]
    assert len(counted) == limit + 1


async def test_facts_from_inside_the_deployment_each_count(learning_state: LearningState) -> None:
    await learning_state.apply([fact(f"i{index}", rating=4) for index in range(10)])
    (aggregate,) = (await learning_state.aggregates(["p1"])).values()
    assert aggregate.rating_count == 10


async def test_weights_change_with_apply_and_are_versioned(learning_state: LearningState) -> None:
    outcome = await learning_state.apply([fact("e1", rating=5)], bump)
    assert outcome.weights is not None
    assert outcome.weights.version == 1
    nothing_new = await learning_state.apply([fact("e1", rating=5)], bump)
    assert nothing_new.weights is None  # a batch of duplicates trains nothing
    assert (await learning_state.weights()).version == 1
    refitted = await learning_state.refit(
        lambda facts, version: bump(DEFAULT_WEIGHTS, facts).model_copy(update={"version": version})
    )
    assert refitted.version == 2
    assert refitted.trained_on == 1
    assert await learning_state.weights() == refitted
    assert (await learning_state.stats()).weights_version == 2


async def test_a_failing_trainer_applies_nothing(learning_state: LearningState) -> None:
    def broken(current: Weights, facts: Sequence[FeedbackFact]) -> Weights:
        raise ValueError("poison")

    with pytest.raises(ValueError, match="poison"):
        await learning_state.apply([fact("e1", rating=5)], broken)
    assert await learning_state.unseen(["e1"]) == {"e1"}
    assert (await learning_state.stats()).counters.get("events_processed", 0) == 0


async def test_unsynced_aggregates_until_their_revision_is_synced(learning_state: LearningState) -> None:
    await learning_state.apply([fact("e1", "p1", rating=4), fact("e2", "p2", chosen_over="p3")])
    unsynced = {a.prompt_id: a.revision for a in await learning_state.unsynced(100)}
    assert unsynced == {"p1": 1, "p2": 1, "p3": 1}
    await learning_state.apply([fact("e3", "p1", rating=2)])  # p1 changes after it was read
    await learning_state.mark_synced(unsynced)
    left = await learning_state.unsynced(100)
    assert [(a.prompt_id, a.revision) for a in left] == [("p1", 2)]
    await learning_state.mark_synced({"p1": 2})
    assert await learning_state.unsynced(100) == []
    assert (await learning_state.stats()).unsynced_prompts == 0


async def test_features_are_cached(learning_state: LearningState) -> None:
    await learning_state.save_features({"p1": {"structure": 0.4, "length": 0.2}})
    assert await learning_state.features(["p1", "p2"]) == {"p1": {"structure": 0.4, "length": 0.2}}
    await learning_state.apply([fact("e1", "p1", rating=3)])
    assert await learning_state.features(["p1"]) == {"p1": {"structure": 0.4, "length": 0.2}}


async def test_two_handles_apply_concurrently_without_double_counting(state_factory: StateFactory) -> None:
    """Two replicas (or a restarted worker) given overlapping redeliveries: each event counts once."""
    first, second = await state_factory(), await state_factory()
    events = [fact(f"e{index}", f"p{index % 5}", rating=1 + index % 5) for index in range(200)]
    outcomes = await asyncio.gather(
        *(handle.apply(events[start : start + 50], bump) for start in range(0, 200, 25) for handle in (first, second))
    )
    assert sum(outcome.applied for outcome in outcomes) == 200
    stats = await first.stats()
    assert stats.counters["events_processed"] == 200
    aggregates = await second.aggregates([f"p{i}" for i in range(5)])
    assert sum(aggregate.usage_count for aggregate in aggregates.values()) == 200
    assert stats.weights_version == sum(1 for outcome in outcomes if outcome.weights is not None)
