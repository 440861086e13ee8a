"""``engine.select``: the LLM judge on its own — score given candidates for a task, name the best.

The best is chosen by the combined score (the judge's score as a feature of the learned ranker),
the same rule ``engine.generate`` uses, so both endpoints agree on which prompt wins.
"""

from __future__ import annotations

from prompt_alchemy.bus import RequestContext
from prompt_alchemy.errors import Unavailable
from prompt_alchemy.schemas.engine import JudgeScore, SelectReply, SelectRequest
from prompt_alchemy.schemas.ranking import RankingInput
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.judge import JudgeRequest, LlmJudge
from prompt_alchemy.workers.generation.ranker import score_candidate
from prompt_alchemy.workers.generation.settings import EngineSettings
from prompt_alchemy.workers.generation.weights import WeightsBook

__all__ = ["Selector"]


class Selector:
    def __init__(self, settings: EngineSettings, judge: LlmJudge, weights: WeightsBook) -> None:
        self.settings = settings
        self.judge = judge
        self.weights = weights

    async def select(self, request: SelectRequest, context: RequestContext | None) -> SelectReply:
        if not self.settings.judge_enabled:
            raise Unavailable("the LLM judge is disabled on this engine")
        budget = Budget.current(what="judging")
        weights = self.weights.current
        inputs = [
            RankingInput(content=candidate, input=request.input, persona=request.persona)
            for candidate in request.candidates
        ]
        ranker = [score_candidate(ranking, weights) for ranking in inputs]
        with budget.stops("the judge answered"):
            outcome = await self.judge.evaluate(
                JudgeRequest(
                    task=request.input,
                    candidates=request.candidates,
                    persona=request.persona,
                    target_model=request.target_model,
                    provider=request.provider,
                    model=request.model,
                    criteria=request.criteria,
                ),
                [scores.ranker for scores in ranker],
                budget,
            )
        combined = [
            score_candidate(ranking, weights, verdict.score if judged else None).combined
            for ranking, verdict, judged in zip(inputs, outcome.verdicts, outcome.judged, strict=True)
        ]
        best_index = max(range(len(combined)), key=lambda index: (combined[index], -index))
        return SelectReply(
            scores=[
                JudgeScore(index=verdict.index, score=verdict.score, reason=verdict.reason)
                for verdict in outcome.verdicts
            ],
            best_index=best_index,
            provider=outcome.provider,
            model=outcome.model,
            warnings=outcome.warnings,
        )
