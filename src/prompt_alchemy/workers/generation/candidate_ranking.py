"""Scoring a generation's candidates: the learned ranker for all, and the LLM judge when asked.

Similarity to the idea stays the shared lexical one: the learner computes it that way from
stored records, and learned weights only mean something on the very same features. The judge
sees each phase's candidates together (one call per phase, in parallel), so it compares like
with like; a phase it cannot judge keeps ranker scores, with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas.brief import Brief
from prompt_alchemy.schemas.common import Persona, Phase, Usage
from prompt_alchemy.schemas.coverage import brief_coverage
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import RankingInput
from prompt_alchemy.workers.generation.candidates import Candidate
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.judge import JudgeRequest, LlmJudge
from prompt_alchemy.workers.generation.ranker import score_candidate

__all__ = ["JudgingCost", "apply_brief_coverage", "rank_candidates"]


@dataclass(slots=True)
class JudgingCost:
    """What judging added to the generation's reply."""

    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    offline: bool = False
    warnings: list[str] = field(default_factory=list)


async def rank_candidates(
    candidates: Sequence[Candidate],
    request: GenerateRequest,
    weights: Weights,
    judge: LlmJudge | None,
    budget: Budget,
) -> JudgingCost:
    """Set ``scores`` on every candidate; with a judge, its scores and reasons as well."""
    inputs = {
        id(candidate): RankingInput(
            content=candidate.content,
            input=request.input,
            phase=candidate.phase,
            provider=candidate.provider,
            persona=request.persona,
        )
        for candidate in candidates
    }
    for candidate in candidates:
        candidate.scores = score_candidate(inputs[id(candidate)], weights)
    cost = JudgingCost()
    if judge is None:
        return cost
    phases = [phase for phase in Phase if any(candidate.phase is phase for candidate in candidates)]
    judged = await asyncio.gather(
        *(
            _judge_phase([c for c in candidates if c.phase is phase], phase, request, judge, budget, cost)
            for phase in phases
        )
    )
    for verdicts in judged:
        for candidate, judge_score in verdicts:
            candidate.scores = score_candidate(inputs[id(candidate)], weights, judge_score)
    return cost


async def _judge_phase(
    members: list[Candidate],
    phase: Phase,
    request: GenerateRequest,
    judge: LlmJudge,
    budget: Budget,
    cost: JudgingCost,
) -> list[tuple[Candidate, float]]:
    try:
        outcome = await judge.evaluate(
            JudgeRequest(
                task=request.input,
                candidates=[candidate.content for candidate in members],
                persona=request.persona or Persona.GENERIC,
                target_model=request.target_model,
            ),
            [candidate.scores.ranker for candidate in members],
            budget,
        )
    except DeadlineExceeded:
        raise
    except Exception as error:
        failure = as_service_error(error, doing=f"judging {phase.value}")
        cost.warnings.append(f"judging {phase.value} failed ({failure.message}); ranker scores only")
        return []
    cost.warnings.extend(outcome.warnings)
    cost.usage = cost.usage + outcome.usage
    cost.cost_usd += outcome.cost_usd
    cost.offline = cost.offline or outcome.offline
    scored: list[tuple[Candidate, float]] = []
    for candidate, verdict, was_judged in zip(members, outcome.verdicts, outcome.judged, strict=True):
        candidate.judge_reason = verdict.reason
        if was_judged:
            scored.append((candidate, verdict.score))
    return scored


def apply_brief_coverage(candidates: Sequence[Candidate], brief: Brief) -> None:
    """Scale each combined score by how the prompt covers the brief (``schemas.coverage``).

    A prompt that drops the idea's details, contradicts a figure or carries rules foreign to the
    deliverable cannot rank near the top on structure and length alone. The learned ``ranker``
    score stays as the weights computed it; ``features["brief_coverage"]`` shows the share.
    """
    for candidate in candidates:
        coverage = brief_coverage(brief, candidate.content)
        features = {**candidate.scores.features, "brief_coverage": coverage.share}
        combined = round(candidate.scores.combined * coverage.factor, 4)
        candidate.scores = candidate.scores.model_copy(update={"combined": combined, "features": features})
