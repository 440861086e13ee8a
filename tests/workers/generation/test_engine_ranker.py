"""Candidate scores from the shared features: ranker alone, judge combined, and the ranker's critique."""

from __future__ import annotations

from prompt_alchemy.schemas.brief import Brief, BriefConstraint, ConstraintKind, FormRules
from prompt_alchemy.schemas.common import Persona, Phase, Usage
from prompt_alchemy.schemas.coverage import brief_coverage
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS, RankingInput
from prompt_alchemy.workers.generation.candidate_ranking import apply_brief_coverage
from prompt_alchemy.workers.generation.candidates import Candidate
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


# -- brief coverage ------------------------------------------------------------------------------

MISREAD_HAIKU = """You are a senior Rust engineer who writes correct, readable, well-tested code.

# Task
Write haiku about rust creeping over an abandoned tractor.

# Requirements
1. Write idiomatic Rust; use only the standard library.
2. Define a clear interface: a descriptive name, typed parameters and the return type.
3. Include unit tests that cover typical input and each edge case.

# Output format
Return the code in one fenced block. For example: fn main() {}
"""
READ_HAIKU = """You are a poet.

# Task
Write a haiku: rust creeping over an abandoned tractor.

# Form: haiku
- Three lines of 5, 7 and 5 syllables (17 in all).
- Keep the rust and the abandoned tractor as the one image.

# Output format
Return only the poem. For example: <line 1> / <line 2> / <line 3>
"""


def _haiku_brief() -> Brief:
    idea = "haiku about rust creeping over an abandoned tractor"
    return Brief(
        idea=idea,
        task="Write a haiku.",
        details=["Haiku", "Topic: rust creeping over an abandoned tractor"],
        form=FormRules(name="haiku", rules=["Three lines of 5, 7 and 5 syllables (17 in all)."]),
        persona=Persona.WRITING,
    )


def _candidate(content: str) -> Candidate:
    scores = score_candidate(ranking(content), DEFAULT_WEIGHTS)
    return Candidate(Phase.COAGULATIO, 0, content, "offline", "m", 0.0, Usage(), 0.0, 0.0, True, None, scores)


def test_a_misread_prompt_cannot_rank_near_the_top_however_well_structured() -> None:
    misread, read = _candidate(MISREAD_HAIKU), _candidate(READ_HAIKU)
    before = misread.scores.combined
    apply_brief_coverage([misread, read], _haiku_brief())
    assert misread.scores.combined < 0.5 * before
    assert read.scores.combined > misread.scores.combined
    assert read.scores.features["brief_coverage"] == 1.0
    assert misread.scores.ranker == before  # the learned score is untouched; only combined is scaled


def test_coverage_names_what_is_missing_contradicted_and_foreign() -> None:
    coverage = brief_coverage(_haiku_brief(), MISREAD_HAIKU)
    assert coverage.share < 0.5
    assert any("typed parameters" in item for item in coverage.foreign)
    assert coverage.factor < 0.3
    budget = Brief(
        idea="offsite for 12 people on a 15k euro budget",
        task="Plan it.",
        constraints=[BriefConstraint(kind=ConstraintKind.BUDGET, text="Budget: 15k EUR; keep this currency.")],
    )
    converted = brief_coverage(budget, "Plan an offsite for 12 people; budget: $16,000 (15k EUR).")
    assert converted.contradictions
    assert not brief_coverage(budget, "Plan an offsite for 12 people; budget: 15k EUR.").contradictions
