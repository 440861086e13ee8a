"""The pure parts of learning: facts, aggregates with decay, and learning to rank on a synthetic set."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import pytest

from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.learning import FeedbackEvent, Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS, FEATURE_NAMES, RankingInput, extract_features, score
from prompt_alchemy.workers.learning.aggregates import RELEVANCE_PRIOR, PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.ledger import EVENTS_PROCESSED, PAIRWISE, fold_facts
from prompt_alchemy.workers.learning.training import TrainingSettings, build_examples, fit, online_update

DAY = 24 * 3600.0


def fact(event_id: str, prompt_id: str, **signals: object) -> FeedbackFact:
    return FeedbackFact(event_id=event_id, prompt_id=prompt_id, source="api", created_at=1_000_000.0, **signals)  # type: ignore[arg-type]


# -- facts ---------------------------------------------------------------------------------------
def test_a_fact_keeps_the_signals_of_its_event_and_round_trips() -> None:
    event = FeedbackEvent(prompt_id="p1", rating=4, helpful=True, chosen_over="p2", comment="nice", source="cli")
    made = FeedbackFact.from_event(event, received_at=event.created_at.timestamp() + 60)
    assert made.event_id == event.event_id
    assert made.prompt_ids == ("p1", "p2")
    assert made.created_at == event.created_at.timestamp()
    assert FeedbackFact.from_json(made.to_json()) == made


def test_a_fact_is_never_dated_after_learning_received_it() -> None:
    """The attack of issue 13: one event dated 9999-12-31 pinned a prompt's relevance."""
    event = FeedbackEvent(prompt_id="p1", rating=1, created_at=datetime(9999, 12, 31, tzinfo=UTC))
    received = 1_700_000_000.0
    made = FeedbackFact.from_event(event, received_at=received)
    assert made.created_at == received
    aggregate = PromptAggregate("p1")
    fold_facts([made], {"p1": aggregate}, half_life=DAY)
    for index in range(20):
        later = dataclasses.replace(fact(f"e{index}", "p1", rating=5), created_at=received + 60 * (index + 1))
        fold_facts([later], {"p1": aggregate}, half_life=DAY)
    # twenty later 5-star ratings outweigh the one 1-star rating: the date did not pin it
    assert aggregate.relevance(received + 3600, DAY) > 0.85


@pytest.mark.parametrize(
    ("signals", "target"),
    [
        ({"rating": 5}, 1.0),
        ({"rating": 1}, 0.0),
        ({"rating": 3, "effectiveness": 0.9}, (0.5 + 0.9) / 2),
        ({"helpful": False}, 0.0),
        ({"chosen_over": "p2"}, None),
    ],
)
def test_the_target_is_the_mean_of_absolute_signals(signals: dict[str, object], target: float | None) -> None:
    assert fact("e", "p1", **signals).target() == target


# -- aggregates ----------------------------------------------------------------------------------
def test_folding_counts_uses_ratings_and_pairwise_losers() -> None:
    aggregates: dict[str, PromptAggregate] = {}
    counters = fold_facts(
        [fact("e1", "p1", rating=5), fact("e2", "p1", rating=3), fact("e3", "p2", chosen_over="p3")],
        aggregates,
        half_life=30 * DAY,
    )
    assert counters[EVENTS_PROCESSED] == 3
    assert counters[PAIRWISE] == 1
    assert counters["rating:5"] == counters["rating:3"] == 1
    assert counters["source:api"] == 3
    assert aggregates["p1"].usage_count == 2
    assert aggregates["p1"].mean_rating == 4.0
    assert aggregates["p3"].usage_count == 0  # lost a comparison: not a use
    assert (
        aggregates["p3"].relevance(1_000_000.0, 30 * DAY)
        < RELEVANCE_PRIOR
        < aggregates["p2"].relevance(1_000_000.0, 30 * DAY)
    )
    assert {a.revision for a in aggregates.values()} == {1}  # one revision per batch, however many facts


def test_relevance_decays_towards_the_prior_and_ignores_arrival_order() -> None:
    half_life = 10 * DAY
    times = [0.0, 3 * DAY, 7 * DAY, 20 * DAY]
    signals = [1.0, 0.0, 1.0, 1.0]
    in_order, shuffled = PromptAggregate("p"), PromptAggregate("p")
    for at, signal in zip(times, signals, strict=True):
        in_order.add_signal(signal, at, half_life)
    for at, signal in reversed(list(zip(times, signals, strict=True))):
        shuffled.add_signal(signal, at, half_life)
    now = 20 * DAY
    assert shuffled.relevance(now, half_life) == pytest.approx(in_order.relevance(now, half_life))
    expected_weights = [0.5 ** ((now - at) / half_life) for at in times]
    expected = (sum(w * s for w, s in zip(expected_weights, signals, strict=True)) + RELEVANCE_PRIOR) / (
        sum(expected_weights) + 1
    )
    assert in_order.relevance(now, half_life) == pytest.approx(expected)
    much_later = in_order.relevance(now + 50 * half_life, half_life)
    assert much_later == pytest.approx(RELEVANCE_PRIOR, abs=1e-6)


def test_the_storage_update_carries_absolute_values() -> None:
    aggregate = PromptAggregate("p1")
    fold_facts([fact("e1", "p1", rating=2), fact("e2", "p1", rating=5)], {"p1": aggregate}, half_life=DAY)
    request = aggregate.update_request(1_000_000.0, DAY)
    assert request.id == "p1"
    assert request.usage_count == 2
    assert request.rating_count == 2
    assert request.mean_rating == 3.5
    assert request.relevance_score is not None
    assert 0.0 <= request.relevance_score <= 1.0
    assert request.increment_usage == 0
    assert PromptAggregate.from_row(aggregate.to_row()) == aggregate


# -- learning to rank ----------------------------------------------------------------------------
def synthetic_prompt(index: int, *, preferred: bool) -> RankingInput:
    """Preferred prompts are terse and carry an example; the others are long, structured, example-free."""
    topic = f"topic{index}"
    if preferred:
        content = f"Explain {topic} plainly. For example, compare it with something everyday."
    else:
        content = (
            f"# Role\nYou are an expert on {topic}.\n\n## Task\nExplain {topic}.\n\n"
            "## Rules\n- be thorough\n- cover history\n- cover theory\n\n" + " ".join(["elaborate"] * 120)
        )
    rng = random.Random(index)
    return RankingInput(
        content=content,
        input=f"explain {topic}",
        phase=rng.choice(list(Phase)),
        provider=rng.choice(["openai", "anthropic", "ollama"]),
        persona=rng.choice(list(Persona)),
    )


def synthetic_set(start: int, count: int) -> tuple[list[FeedbackFact], dict[str, dict[str, float]]]:
    facts: list[FeedbackFact] = []
    features: dict[str, dict[str, float]] = {}
    for index in range(start, start + count):
        good, bad = f"good-{index}", f"bad-{index}"
        features[good] = extract_features(synthetic_prompt(index, preferred=True))
        features[bad] = extract_features(synthetic_prompt(index, preferred=False))
        facts.append(fact(f"pair-{index}", good, chosen_over=bad))
        facts.append(fact(f"rate-good-{index}", good, rating=5))
        facts.append(fact(f"rate-bad-{index}", bad, rating=2))
    return facts, features


def preferred_first_rate(weights: Weights) -> float:
    """Share of held-out pairs where the preferred prompt scores higher."""
    wins = 0
    held_out = range(10_000, 10_100)
    for index in held_out:
        good = score(extract_features(synthetic_prompt(index, preferred=True)), weights)
        bad = score(extract_features(synthetic_prompt(index, preferred=False)), weights)
        wins += good > bad
    return wins / len(held_out)


def test_the_default_weights_prefer_the_structured_prompts() -> None:
    """The premise: without learning, the shared feature of the preferred prompts is outweighed."""
    assert preferred_first_rate(DEFAULT_WEIGHTS) == 0.0


def test_a_full_fit_ranks_the_preferred_prompts_first() -> None:
    facts, features = synthetic_set(0, 300)
    examples = build_examples(facts, features)
    assert examples.pairs.shape == (300, len(FEATURE_NAMES))
    assert examples.points.shape == (600, len(FEATURE_NAMES))
    weights = fit(examples, TrainingSettings(), epochs=20, version=7)
    assert weights.version == 7
    assert weights.trained_on == 900
    assert set(weights.weights) == set(FEATURE_NAMES)
    assert preferred_first_rate(weights) == 1.0
    assert weights.weights["has_examples"] > DEFAULT_WEIGHTS.weights["has_examples"]
    assert weights.weights["structure"] < DEFAULT_WEIGHTS.weights["structure"]


def test_online_updates_batch_by_batch_rank_the_preferred_prompts_first() -> None:
    facts, features = synthetic_set(0, 300)
    weights = DEFAULT_WEIGHTS
    versions = []
    for start in range(0, len(facts), 90):
        updated = online_update(weights, build_examples(facts[start : start + 90], features), TrainingSettings())
        assert updated is not None
        weights = updated
        versions.append(weights.version)
    assert versions == list(range(1, 11))
    assert preferred_first_rate(weights) == 1.0


def test_features_nobody_gave_feedback_on_keep_their_default_weight() -> None:
    facts, features = synthetic_set(0, 100)
    weights = fit(build_examples(facts, features), TrainingSettings(), epochs=20, version=1)
    # no training prompt has a judge score or a history: those weights stay exactly at the prior
    assert weights.weights["judge_score"] == pytest.approx(DEFAULT_WEIGHTS.weights["judge_score"])
    assert weights.weights["historical_rating"] == pytest.approx(DEFAULT_WEIGHTS.weights["historical_rating"])


def test_nothing_to_learn_means_no_new_version() -> None:
    assert (
        online_update(DEFAULT_WEIGHTS, build_examples([fact("e", "unknown", rating=4)], {}), TrainingSettings()) is None
    )
    unchanged = fit(build_examples([], {}), TrainingSettings(), epochs=3, version=1)
    assert unchanged.weights == pytest.approx(DEFAULT_WEIGHTS.weights)
    assert unchanged.bias == pytest.approx(DEFAULT_WEIGHTS.bias)
