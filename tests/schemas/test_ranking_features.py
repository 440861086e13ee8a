"""The shared ranking features: pure, complete, bounded, and the score orders candidates sensibly."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import (
    DEFAULT_WEIGHTS,
    FEATURE_NAMES,
    RankingInput,
    extract_features,
    feature_vector,
    lexical_similarity,
    provider_family,
    score,
)
from prompt_alchemy.schemas.storage import Lineage, PromptRecord

STRUCTURED = """# Role
You are a senior Python reviewer.

## Task
Review the code the user gives you for bugs, for example off-by-one errors.

## Constraints
- Never rewrite the whole file.
- Only comment on lines that change behaviour.

## Output format
Return a JSON list of findings with line, severity and message.
"""


def test_every_feature_is_present_and_in_order() -> None:
    features = extract_features(RankingInput(content="Write a poem"))
    assert tuple(features) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert feature_vector(features) == [features[name] for name in FEATURE_NAMES]


def test_one_hot_groups() -> None:
    features = extract_features(RankingInput(content="x", phase=Phase.SOLUTIO, provider="Gemini", persona=Persona.CODE))
    assert features["phase_solutio"] == 1.0
    assert features["phase_prima_materia"] == features["phase_coagulatio"] == 0.0
    assert features["persona_code"] == 1.0
    assert features["persona_generic"] == 0.0
    assert features["provider_google"] == 1.0
    assert sum(value for name, value in features.items() if name.startswith("provider_")) == 1.0


def test_unknown_provider_and_missing_persona() -> None:
    features = extract_features(RankingInput(content="x", provider="my-local-llm"))
    assert features["provider_other"] == 1.0
    assert features["persona_generic"] == 1.0
    assert provider_family(None) == "provider_other"
    assert provider_family("xai") == "provider_grok"


def test_unknown_optional_signals_contribute_nothing() -> None:
    features = extract_features(RankingInput(content="x"))
    assert features["judge_score"] == 0.0
    assert features["historical_rating"] == 0.0
    assert features["similarity_to_input"] == 0.0
    rated = extract_features(RankingInput(content="x", judge_score=1.0, historical_rating=1.0))
    assert rated["judge_score"] == 0.5
    assert rated["historical_rating"] == -1.0


def test_similarity_prefers_the_callers_value_then_falls_back_to_words() -> None:
    given_value = extract_features(RankingInput(content="a b", input="sort numbers", similarity_to_input=0.9))
    assert given_value["similarity_to_input"] == 0.9
    lexical = extract_features(RankingInput(content="Sort the numbers quickly", input="sort numbers"))
    assert lexical["similarity_to_input"] == 1.0
    assert lexical_similarity("nothing here", "sort numbers") == 0.0
    assert lexical_similarity("anything", "a b") == 0.0  # no word long enough to count


def test_structured_prompt_scores_above_a_bare_one_with_default_weights() -> None:
    bare = extract_features(RankingInput(content="review code", input="review python code"))
    rich = extract_features(RankingInput(content=STRUCTURED, input="review python code"))
    assert rich["structure"] > bare["structure"]
    assert rich["has_examples"] == rich["has_constraints"] == rich["has_output_format"] == 1.0
    assert score(rich, DEFAULT_WEIGHTS) > score(bare, DEFAULT_WEIGHTS)


def test_judge_score_dominates_by_default() -> None:
    low = extract_features(RankingInput(content=STRUCTURED, judge_score=0.1))
    high = extract_features(RankingInput(content="terse", judge_score=0.95))
    assert score(high, DEFAULT_WEIGHTS) > score(low, DEFAULT_WEIGHTS)


def test_score_is_the_logistic_of_the_margin_and_overflow_safe() -> None:
    weights = Weights(weights={"structure": 2.0, "unknown": 99.0}, bias=-1.0)
    assert score({"structure": 0.5}, weights) == pytest.approx(0.5)
    assert score({"structure": 1.0}, weights) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert score({"structure": 1e6}, weights) == 1.0
    assert score({"structure": -1e6}, weights) == 0.0


def test_from_record_uses_lineage_and_history() -> None:
    record = PromptRecord(
        id="p1",
        content=STRUCTURED,
        content_hash="h",
        input="review python code",
        lineage=Lineage(phase=Phase.COAGULATIO, provider="anthropic", persona=Persona.CODE),
        mean_rating=5.0,
    )
    features = extract_features(RankingInput.from_record(record))
    assert features["phase_coagulatio"] == features["provider_anthropic"] == features["persona_code"] == 1.0
    assert features["historical_rating"] == 1.0
    without_history = extract_features(RankingInput.from_record(record, include_history=False))
    assert without_history["historical_rating"] == 0.0


@given(
    content=st.text(max_size=3000),
    idea=st.none() | st.text(max_size=300),
    judge=st.none() | st.floats(0.0, 1.0),
    rating=st.none() | st.floats(1.0, 5.0),
)
def test_features_are_bounded_for_any_text(
    content: str, idea: str | None, judge: float | None, rating: float | None
) -> None:
    features = extract_features(RankingInput(content=content, input=idea, judge_score=judge, historical_rating=rating))
    assert all(-1.0 <= value <= 1.0 for value in features.values())
    assert 0.0 < score(features, DEFAULT_WEIGHTS) < 1.0
