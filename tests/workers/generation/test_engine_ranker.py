"""Candidate scores from the shared features: ranker alone, judge combined, and the ranker's critique."""

from __future__ import annotations

from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS, RankingInput
from prompt_alchemy.workers.generation.ranker import explain_features, score_candidate

STRUCTURED = """# Task
Summarise the customer's support ticket for the on-call engineer.

# Constraints
- You must keep it under 80 words.
- Never invent details that are not in the ticket.

# Output format
Return a JSON object with "summary" and "severity". For example: {"summary": "...", "severity": "high"}.
"""
THIN = "summarise ticket"


def ranking(content: str) -> RankingInput:
    return RankingInput(
        content=content, input="summarise a support ticket", phase=Phase.COAGULATIO, persona=Persona.ANALYSIS
    )


def test_a_structured_prompt_outranks_a_thin_one() -> None:
    assert (
        score_candidate(ranking(STRUCTURED), DEFAULT_WEIGHTS).ranker
        > score_candidate(ranking(THIN), DEFAULT_WEIGHTS).ranker
    )


def test_without_a_judge_combined_is_the_ranker_score() -> None:
    scores = score_candidate(ranking(STRUCTURED), DEFAULT_WEIGHTS)
    assert scores.judge is None
    assert scores.combined == scores.ranker
    assert scores.features["judge_score"] == 0.0


def test_the_judge_moves_the_combined_score_but_not_the_ranker_score() -> None:
    low = score_candidate(ranking(STRUCTURED), DEFAULT_WEIGHTS, judge_score=0.1)
    high = score_candidate(ranking(STRUCTURED), DEFAULT_WEIGHTS, judge_score=0.95)
    assert low.ranker == high.ranker
    assert high.combined > high.ranker > low.combined
    assert high.judge == 0.95


def test_learned_weights_change_the_order() -> None:
    # weights that reward brevity only: the thin prompt now wins
    brevity = Weights(version=7, weights={"length": -5.0}, bias=0.0)
    assert score_candidate(ranking(THIN), brevity).ranker > score_candidate(ranking(STRUCTURED), brevity).ranker


def test_the_ranker_critique_names_what_is_missing() -> None:
    reason, improvements = explain_features(score_candidate(ranking(THIN), DEFAULT_WEIGHTS).features)
    assert "structure" in reason
    joined = " ".join(improvements)
    assert "output format" in joined
    assert "constraints" in joined
    _, none_missing = explain_features(score_candidate(ranking(STRUCTURED), DEFAULT_WEIGHTS).features)
    assert len(none_missing) < len(improvements)
