"""A candidate prompt while a generation runs, and how it appears in the reply and in storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prompt_alchemy.schemas.common import Persona, Phase, PhaseSelection, Usage
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateRequest, Scores
from prompt_alchemy.schemas.storage import Lineage

__all__ = ["Candidate", "best_of", "lineage_of", "selected", "to_generated_prompt"]


@dataclass(slots=True, eq=False)
class Candidate:
    """One prompt produced by one phase of one chain; ``parent`` is the same chain's previous phase."""

    phase: Phase
    chain: int
    content: str
    provider: str
    model: str
    temperature: float
    usage: Usage
    cost_usd: float
    latency_ms: float
    offline: bool
    parent: Candidate | None
    scores: Scores = field(default_factory=Scores)
    judge_reason: str | None = None
    stored_id: str | None = None

    @property
    def parent_id(self) -> str | None:
        return self.parent.stored_id if self.parent else None


def lineage_of(candidate: Candidate, request: GenerateRequest, request_id: str) -> Lineage:
    return Lineage(
        parent_id=candidate.parent_id,
        generation_request_id=request_id,
        phase=candidate.phase,
        chain=candidate.chain,
        provider=candidate.provider,
        model=candidate.model,
        persona=request.persona or Persona.GENERIC,
        target_model=request.target_model,
        temperature=candidate.temperature,
        input_tokens=candidate.usage.input_tokens,
        output_tokens=candidate.usage.output_tokens,
        cost_usd=candidate.cost_usd,
        latency_ms=candidate.latency_ms,
    )


def to_generated_prompt(candidate: Candidate, request: GenerateRequest, request_id: str) -> GeneratedPrompt:
    return GeneratedPrompt(
        id=candidate.stored_id,
        content=candidate.content,
        phase=candidate.phase,
        chain=candidate.chain,
        provider=candidate.provider,
        model=candidate.model,
        persona=request.persona or Persona.GENERIC,
        target_model=request.target_model,
        parent_id=candidate.parent_id,
        saved=candidate.stored_id is not None,
        scores=candidate.scores,
        judge_reason=candidate.judge_reason,
        usage=candidate.usage,
        cost_usd=candidate.cost_usd,
        latency_ms=candidate.latency_ms,
        lineage=lineage_of(candidate, request, request_id),
    )


def best_of(candidates: Sequence[Candidate]) -> Candidate | None:
    """The best finished prompt: the highest combined score of the last phase that produced any."""
    if not candidates:
        return None
    last_phase = max((candidate.phase for candidate in candidates), key=lambda phase: phase.order)
    finals = [candidate for candidate in candidates if candidate.phase is last_phase]
    return max(finals, key=lambda candidate: (candidate.scores.combined, -candidate.chain))


def selected(candidates: Sequence[Candidate], selection: PhaseSelection) -> list[Candidate]:
    """best: the best final prompt; cascade: the best of each phase; all: every one, best first per phase."""
    ranked = sorted(candidates, key=lambda candidate: (candidate.phase.order, -candidate.scores.combined))
    if selection is PhaseSelection.ALL:
        return ranked
    if selection is PhaseSelection.CASCADE:
        firsts: dict[Phase, Candidate] = {}
        for candidate in ranked:
            firsts.setdefault(candidate.phase, candidate)
        return list(firsts.values())
    best = best_of(candidates)
    return [best] if best is not None else []
