"""The offline judge: deterministic heuristic scores for candidate prompts, as JSON.

Input convention (the same one a vendor judge gets): candidates in ``<candidate index="N">``
blocks (or "Candidate N" headings), the task in ``hints.idea`` or a ``<task>`` block, optional
``<criteria>``; block bodies are quoted data as ``schemas.quoting`` writes them, or plain text.
Output: ``{"scores": [{"index", "score", "reason", "improvements"}], "best_index"}``.

A score in [0, 1] weighs coverage of the idea's key terms (0.35), explicit constraints (0.20),
structure (0.15), a stated output format (0.15) and length sanity (0.15); a candidate that only
restates the idea is halved. The result is multiplied by the brief-coverage factor
(``schemas.coverage``): details missing, a figure contradicted or a rule foreign to the
deliverable pull it down, so a misread prompt cannot score near 1.0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.schemas.coverage import brief_coverage
from prompt_alchemy.schemas.quoting import unquote
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief, analyse
from prompt_alchemy.workers.providers.offline.briefing import brief_of
from prompt_alchemy.workers.providers.offline.wording import key_terms, stem

__all__ = ["CandidateScore", "judge_reply", "parse_candidates", "score_candidate"]

_CANDIDATE = re.compile(r"<candidate(?:\s+index\s*=\s*[\"']?(\d+)[\"']?)?\s*>(.*?)</candidate>", re.S | re.I)
_CANDIDATE_HEADING = re.compile(r"(?im)^\s*(?:#+\s*)?(?:candidate|prompt|option)\s*#?\s*(\d+)\s*[:.)\-]?\s*$")
_BLOCK = "<{tag}>(.*?)</{tag}>"
_HEADING = re.compile(r"(?m)^\s*(?:#{1,6}\s+\S|<[a-z_]+>\s*$|[A-Z][\w '-]{1,40}:\s*$)")
_ITEM = re.compile(r"(?m)^\s*(?:[-*•]|\d{1,2}[.)])\s+\S")
_CONSTRAINT = re.compile(
    r"\b(?:must|should|never|always|do not|don't|avoid|ensure|make sure|only|at least|at most|no more than|"
    r"under \d+|exactly \d+|required|limit)\b",
    re.I,
)
_FORMAT = re.compile(r"\b(?:output|format|return|respond|reply|structure|deliver|present)\w*\b", re.I)
_WEIGHTS = {"coverage": 0.35, "constraints": 0.20, "structure": 0.15, "format": 0.15, "length": 0.15}


@dataclass(frozen=True, slots=True)
class CandidateScore:
    index: int
    score: float
    reason: str
    features: dict[str, float]
    improvements: tuple[str, ...] = ()


def _block(text: str, *tags: str) -> str | None:
    """A ``<tag>`` block, or a "Tag:" labelled paragraph ("Additional criteria:" counts for criteria)."""
    for tag in tags:
        match = re.search(_BLOCK.format(tag=tag), text, re.S | re.I)
        if match and match.group(1).strip():
            return unquote(match.group(1)).strip()
        labelled = re.search(rf"(?im)^[\w ]*\b{tag}\b[^\n:]*:\s*\n(.+?)(?:\n\s*\n|$)", text, re.S)
        if labelled and labelled.group(1).strip():
            return labelled.group(1).strip()
    return None


def parse_candidates(text: str) -> list[tuple[int, str]]:
    """(index, candidate) pairs; indexes are 0-based positions unless the blocks carry their own."""
    blocks = _CANDIDATE.findall(text)
    if blocks:
        return [
            (int(index) if index else position, unquote(body).strip()) for position, (index, body) in enumerate(blocks)
        ]
    parts = _CANDIDATE_HEADING.split(text)
    if len(parts) >= 3:
        bodies = [parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)]
        return [(position, body) for position, body in enumerate(bodies) if body]
    return [(0, text.strip())]


def _stems(text: str) -> set[str]:
    return {stem(word) for word in key_terms(text, limit=10_000)}


def _length_score(words: int) -> float:
    if words < 15:
        return 0.1
    if words < 40:
        return 0.1 + 0.9 * (words - 15) / 25
    if words <= 900:
        return 1.0
    if words <= 2500:
        return 1.0 - 0.6 * (words - 900) / 1600
    return 0.3


def score_candidate(index: int, candidate: str, brief: IdeaBrief, extra_terms: tuple[str, ...] = ()) -> CandidateScore:
    present = _stems(candidate)
    terms = list(dict.fromkeys(brief.key_terms + extra_terms))
    covered = [term for term in terms if stem(term) in present]
    missing = [term for term in terms if stem(term) not in present]
    coverage = len(covered) / len(terms) if terms else 1.0
    sections = len(_HEADING.findall(candidate))
    items = len(_ITEM.findall(candidate))
    structure = min(1.0, 0.2 + 0.4 * min(1.0, sections / 3) + 0.4 * min(1.0, items / 4))
    markers = len(_CONSTRAINT.findall(candidate))
    constraints = min(1.0, markers / 4)
    if brief.constraints:
        kept = sum(
            1
            for constraint in brief.constraints
            if (need := _stems(constraint)) and len(need & present) / len(need) >= 0.5
        )
        constraints = 0.6 * kept / len(brief.constraints) + 0.4 * constraints
    mentions_format = bool(_FORMAT.search(candidate))
    primary = brief.primary_format
    if primary is not None:
        names_format = stem(primary.key) in present or any(stem(w) in present for w in key_terms(primary.label))
        output_format = 0.5 * mentions_format + 0.5 * names_format
    else:
        output_format = 1.0 if mentions_format else 0.3
    words = len(candidate.split())
    open_questions = sum(1 for line in candidate.splitlines() if line.strip().endswith("?"))
    features = {
        "coverage": round(coverage, 3),
        "constraints": round(constraints, 3),
        "structure": round(structure, 3),
        "format": round(output_format, 3),
        "length": round(_length_score(words), 3),
    }
    score = sum(_WEIGHTS[name] * value for name, value in features.items())
    idea_stems = _stems(brief.idea)
    echo = bool(idea_stems) and len(idea_stems ^ present) / max(1, len(idea_stems | present)) <= 0.15
    echoed = echo and words < 1.5 * max(1, len(brief.idea.split()))
    if echoed:
        score *= 0.5
    if open_questions >= 2:  # a brief that still asks questions is not a finished prompt
        score *= 0.9
    read = brief_coverage(brief_of(brief), candidate)
    features["brief_coverage"] = read.share
    score *= read.factor  # a prompt that misreads the idea cannot score near 1.0
    reason = "; ".join(
        part
        for part in (
            f"covers {len(covered)}/{len(terms)} key terms"
            + (f" (missing: {', '.join(missing[:5])})" if missing else ""),
            f"{sections} sections and {items} list items",
            f"{markers} explicit constraints",
            "output format stated" if output_format >= 0.75 else "output format vague or missing",
            f"{words} words",
            "restates the idea without engineering it" if echoed else "",
            f"leaves {open_questions} questions open" if open_questions >= 2 else "",
            f"brief coverage {read.share:.0%}" + (f" (missing: {'; '.join(read.missing[:3])})" if read.missing else ""),
            *(f"contradicts the idea: {item}" for item in read.contradictions),
            *(f"foreign to the deliverable: {item}" for item in read.foreign),
        )
        if part
    )
    improvements = (
        *(f"Carry this from the idea into the prompt: {item}." for item in read.missing[:3]),
        *(f"Remove what contradicts the idea: {item}." for item in read.contradictions),
        *(f"Remove the {item}: it does not belong to this deliverable." for item in read.foreign),
        *_improvements(features, missing, echoed, open_questions, words),
    )
    return CandidateScore(index, round(min(1.0, max(0.0, score)), 3), reason, features, improvements)


def _improvements(
    features: dict[str, float], missing: list[str], echoed: bool, open_questions: int, words: int
) -> tuple[str, ...]:
    """Concrete changes that would raise the score most, weakest feature first."""
    fixes: list[tuple[float, str]] = []
    if echoed:
        fixes.append((-1.0, "Turn the idea into instructions: a role, the task, requirements and an output format."))
    if missing:
        fixes.append((features["coverage"], f"Mention explicitly: {', '.join(missing[:6])}."))
    if features["constraints"] < 0.75:
        fixes.append(
            (features["constraints"], "State explicit, checkable requirements (must/never, limits, edge cases).")
        )
    if features["format"] < 0.75:
        fixes.append((features["format"], "Specify the exact output format, ideally with a short template."))
    if features["structure"] < 0.6:
        fixes.append((features["structure"], "Organise it into headed sections: task, context, requirements, output."))
    if words < 40:
        fixes.append((features["length"], "Add the context and constraints the task needs; it is too terse."))
    elif features["length"] < 1.0:
        fixes.append((features["length"], "Cut repetition; keep only instructions that change the answer."))
    if open_questions >= 2:
        fixes.append((0.5, "Resolve the open questions or turn each into a stated default."))
    if not fixes:
        fixes.append((1.0, "Add one short example of the expected output."))
    return tuple(text for _, text in sorted(fixes, key=lambda fix: fix[0]))


def judge_reply(message: str, idea: str | None, persona: Persona) -> str:
    """The JSON verdict on every candidate in ``message``."""
    outside = _CANDIDATE.sub(" ", message)  # task and criteria blocks live outside the candidates
    task = idea or _block(outside, "task", "idea", "input") or ""
    criteria = _block(outside, "criteria")
    if _CANDIDATE.search(message):
        candidates = parse_candidates(message)
    else:
        candidates = parse_candidates(re.sub(r"<(task|idea|input|criteria)>.*?</\1>", " ", message, flags=re.S | re.I))
    brief = analyse(task or candidates[0][1][:400], persona)
    extra = key_terms(criteria) if criteria else ()
    scores = [score_candidate(index, text, brief, extra) for index, text in candidates]
    best = max(scores, key=lambda scored: (scored.score, -scored.index))
    return json.dumps(
        {
            "scores": [
                {"index": s.index, "score": s.score, "reason": s.reason, "improvements": list(s.improvements)}
                for s in scores
            ],
            "best_index": best.index,
        },
        ensure_ascii=False,
    )
