"""The LLM judge: one provider call scores a set of candidate prompts for a task, with reasons.

Used by ``engine.select``, by ``engine.generate`` when a request asks for judging, and by the
optimise loop (which also asks for concrete improvements). The answer is parsed leniently; a
candidate the answer does not cover keeps its ranker score, and the reply says so in a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prompt_alchemy.schemas.common import Persona, TargetFamily, Usage
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.schemas.quoting import DATA_NOTICE, quote, quoted_block
from prompt_alchemy.workers.generation.completions import ProviderCaller
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.judge_parsing import Verdict, parse_verdicts

__all__ = ["JudgeOutcome", "JudgeRequest", "LlmJudge"]

_JUDGE_ROLE = (
    "You are a strict, fair judge of prompts written for large language models. Score each candidate "
    "for how well it would make a capable model accomplish the task: clarity, completeness, specificity, "
    "structure, explicit constraints, a clear output format, and fit for the persona and target model. "
    "Use the whole range from 0.0 (useless) to 1.0 (excellent) and tell candidates apart."
)
_SCORES_SHAPE = '{"scores": [{"index": 0, "score": 0.0, "reason": "one or two sentences"}]}'
_CRITIQUE_SHAPE = (
    '{"scores": [{"index": 0, "score": 0.0, "reason": "what is weak and why", '
    '"improvements": ["a concrete change", "another concrete change"]}]}'
)
_FALLBACK_REASON = "the judge's answer could not be read for this candidate; the ranker score stands in"


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    task: str
    candidates: Sequence[str]
    persona: Persona = Persona.GENERIC
    target_model: str | None = None
    provider: str | None = None
    model: str | None = None
    criteria: str | None = None
    critique: bool = False


@dataclass(frozen=True, slots=True)
class JudgeOutcome:
    """One verdict per candidate, in order; ``judged`` marks those the judge really scored."""

    verdicts: list[Verdict]
    judged: list[bool]
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    offline: bool = False
    warnings: list[str] = field(default_factory=list)


def judge_messages(request: JudgeRequest) -> list[ChatMessage]:
    shape = _CRITIQUE_SHAPE if request.critique else _SCORES_SHAPE
    system = (
        f"{_JUDGE_ROLE}\n\nReply with strict JSON only (no prose, no code fences), exactly in this shape, "
        f"with one entry per candidate and the index as given:\n{shape}"
    )
    if request.critique:
        system += "\nList the improvements that would raise the score most, most important first."
    # The task, the criteria and every candidate are users' text: quoted data (schemas.quoting).
    lines = [DATA_NOTICE, quoted_block("task", request.task), f"Persona: {request.persona.value}"]
    if request.target_model:
        lines.append(f"Target model: {quote(request.target_model)}")
    if request.criteria:
        lines.append(quoted_block("criteria", request.criteria))
    for index, candidate in enumerate(request.candidates):
        lines.append(quoted_block("candidate", candidate, index=index))
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content="\n\n".join(lines))]


class LlmJudge:
    def __init__(self, caller: ProviderCaller, *, provider: str | None = None, model: str | None = None) -> None:
        self.caller = caller
        self.provider = provider
        self.model = model

    async def evaluate(self, request: JudgeRequest, fallback_scores: Sequence[float], budget: Budget) -> JudgeOutcome:
        """Verdicts for every candidate; ``fallback_scores`` (the ranker's) fill what the judge leaves out."""
        count = len(request.candidates)
        completion = await self.caller.complete(
            CompletionRequest(
                provider=request.provider or self.provider,
                model=request.model or (self.model if not request.provider else None),
                messages=judge_messages(request),
                temperature=0.0,
                max_tokens=min(32_768, 256 + 200 * count),
                hints=GenerationHints(
                    persona=request.persona,
                    target_family=TargetFamily.for_model(request.target_model),
                    idea=request.task,
                    task="judge",
                ),
            ),
            budget,
            doing="judging",
        )
        reply = completion.reply
        parsed = parse_verdicts(reply.content, count)
        verdicts: list[Verdict] = []
        judged: list[bool] = []
        for index in range(count):
            verdict = parsed.get(index)
            judged.append(verdict is not None)
            verdicts.append(verdict or Verdict(index=index, score=fallback_scores[index], reason=_FALLBACK_REASON))
        warnings = list(completion.warnings)
        missing = [index for index, ok in enumerate(judged) if not ok]
        if missing:
            which = "any candidate" if len(missing) == count else f"candidates {missing}"
            warnings.append(
                f"the judge ({reply.provider}/{reply.model}) gave no readable score for {which}; "
                "the ranker score is used instead"
            )
        return JudgeOutcome(
            verdicts=verdicts,
            judged=judged,
            provider=reply.provider,
            model=reply.model,
            usage=reply.usage,
            cost_usd=reply.cost_usd,
            offline=reply.offline,
            warnings=warnings,
        )
