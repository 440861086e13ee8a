"""A generation reply as an agent or a terminal needs it: the best prompt in full, one line per other.

A full ``GenerateReply`` carries every candidate of every phase with ranker features and lineage
(tens of kilobytes). ``summarise`` keeps the best final prompt whole and gives each other final
candidate one line: its id, score and what sets it apart from the best (the first of its lines
the best prompt does not have). The MCP tool and the CLI answer this by default.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateReply

__all__ = [
    "BestPrompt",
    "CandidateLine",
    "GenerateSummary",
    "candidate_line",
    "distinctive",
    "summarise",
    "summary_text",
]

_LINE_CHARS = 90
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s*|[-*•]\s+|\d{1,2}[.)]\s+|</?[\w_-]+>\s*)")


class CandidateLine(BaseModel):
    id: str | None = None
    phase: Phase
    chain: int
    score: float
    apart: str = Field(description="what sets this candidate apart from the best prompt")


class BestPrompt(BaseModel):
    id: str | None = None
    phase: Phase
    chain: int
    persona: Persona
    score: float
    content: str


class GenerateSummary(BaseModel):
    request_id: str
    best: BestPrompt | None = None
    others: list[CandidateLine] = Field(default_factory=list)
    offline: bool = False
    warnings: list[str] = Field(default_factory=list)
    reply: GenerateReply | None = Field(default=None, description="the full reply, when `detail` asks for it")


_CONNECTIVE = re.compile(r"^(?:finally|also|then|first|next),\s+", re.IGNORECASE)


def _clean(line: str) -> str:
    return _MARKUP.sub("", line).strip()


def _bare(sentence: str) -> str:
    """A sentence without its connective ("Finally, keep ..." is "keep ..."), for comparing."""
    return _CONNECTIVE.sub("", sentence).lower()


def _sentences(text: str) -> list[str]:
    """Lines, and the sentences of prose lines, without list or heading markup."""
    found: list[str] = []
    for line in text.splitlines():
        found += [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z])", _clean(line)) if part]
    return found


def distinctive(content: str, reference: str | None) -> str:
    """The first sentence of ``content`` that ``reference`` lacks, shortened; its first one if none differs."""
    theirs = {_bare(sentence) for sentence in _sentences(reference or "")}
    lines = _sentences(content)
    different = next((line for line in lines if _bare(line) not in theirs and len(line.split()) >= 3), None)
    if different is None and reference:  # nothing of its own: it is a shorter (or longer) cut of the same
        mine, other = len(content.split()), len(reference.split())
        return f"{'leaner' if mine < other else 'fuller'}: {mine} words against {other}"
    text = different or (lines[0] if lines else "")
    return text if len(text) <= _LINE_CHARS else text[: _LINE_CHARS - 1].rstrip() + "…"


def candidate_line(prompt: GeneratedPrompt, reference: GeneratedPrompt | None) -> CandidateLine:
    """One line for ``prompt``: what sets it apart from ``reference`` (a sibling of the same phase)."""
    return CandidateLine(
        id=prompt.id,
        phase=prompt.phase,
        chain=prompt.chain,
        score=round(prompt.scores.combined, 3),
        apart=distinctive(prompt.content, reference.content if reference else None),
    )


def sibling(prompt: GeneratedPrompt, prompts: list[GeneratedPrompt]) -> GeneratedPrompt | None:
    """The best-scored other candidate of the same phase: what ``prompt`` is told apart from."""
    same = [other for other in prompts if other.phase is prompt.phase and other.chain != prompt.chain]
    return max(same, key=lambda other: other.scores.combined, default=None)


def summarise(reply: GenerateReply, *, detail: bool = False) -> GenerateSummary:
    """The best final prompt in full and one line per other final candidate; ``detail`` adds the full reply."""
    best = reply.best
    finals = [prompt for prompt in reply.prompts if best is not None and prompt.phase is best.phase]
    others = [prompt for prompt in finals if best is not None and prompt.chain != best.chain]
    others.sort(key=lambda prompt: -prompt.scores.combined)
    return GenerateSummary(
        request_id=reply.request_id,
        best=BestPrompt(
            id=best.id,
            phase=best.phase,
            chain=best.chain,
            persona=best.persona,
            score=round(best.scores.combined, 3),
            content=best.content,
        )
        if best
        else None,
        others=[candidate_line(prompt, best) for prompt in others],  # the best is of their phase
        offline=reply.offline,
        warnings=reply.warnings,
        reply=reply if detail else None,
    )


def summary_text(summary: GenerateSummary) -> str:
    """The summary as plain text: the best prompt, then one line per other candidate, then warnings."""
    parts: list[str] = []
    if summary.best is not None:
        best = summary.best
        parts.append(
            f"Best prompt ({best.id or 'unsaved'}, {best.phase.value}, persona {best.persona.value}, "
            f"score {best.score:.2f}):\n\n{best.content}"
        )
    if summary.others:
        lines = [f"- {line.id or 'unsaved'}  {line.score:.2f}  {line.apart}" for line in summary.others]
        parts.append("Other candidates (id, score, what sets it apart):\n" + "\n".join(lines))
    if summary.warnings:
        parts.append("Warnings:\n" + "\n".join(f"- {warning}" for warning in summary.warnings))
    return "\n\n".join(parts) or "no prompt was produced"
