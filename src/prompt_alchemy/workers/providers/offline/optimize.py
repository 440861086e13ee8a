"""The offline optimiser: rewrite a prompt so that it answers a critique.

Input convention: ``<prompt>...</prompt>`` and ``<critique>...</critique>`` blocks, quoted
(``schemas.quoting``) or plain (a
"Critique:" / "Feedback:" line also separates them; without either, the whole message is the
prompt). The task comes from ``hints.idea`` when given, else from the prompt itself. Critique
topics (audience, format, examples, edge cases, length, vagueness, tone, reasoning, missing
terms) map to concrete changes; the result is a coagulatio-grade prompt in the target form.
"""

from __future__ import annotations

import re
from dataclasses import replace

from prompt_alchemy.schemas.common import Persona, TargetFamily
from prompt_alchemy.schemas.quoting import unquote
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief, analyse
from prompt_alchemy.workers.providers.offline.personas import guidance_for
from prompt_alchemy.workers.providers.offline.phases import Refinements, coagulatio
from prompt_alchemy.workers.providers.offline.prompt_reading import brief_from_text

__all__ = ["parse_optimize_message", "refinements_for", "rewrite"]

_I = re.IGNORECASE
_TOPICS: tuple[tuple[str, str], ...] = (
    ("audience", r"\baudience\b|\breader\b|\bwho (?:it|this) is for\b"),
    ("example", r"\bexamples?\b|\bsample\b|\bfew-shot\b|\bdemonstrat"),
    ("edge", r"\bedge[- ]cases?\b|\bcorner cases?\b|\binvalid input\b|\berror handling\b"),
    ("compact", r"\btoo long\b|\bverbose\b|\bwordy\b|\bshorter\b|\btrim\b|\bredundan|\brepetiti"),
    ("vague", r"\bvague\b|\bambiguous\b|\bunclear\b|\bnot specific\b|\bgeneric\b|\bunderspecified\b|\bspecific"),
    ("tone", r"\btone\b|\bvoice\b|\bstyle\b|\bregister\b"),
    ("reasoning", r"\bstep[- ]by[- ]step\b|\breasoning\b|\bthink\b|\bchain of thought\b"),
    ("format", r"\bformat\b|\btemplate\b|\bschema\b"),
    ("structure", r"\bstructure\b|\bsections\b|\borgani[sz]e\b|\bsteps\b"),
    ("constraints", r"\bconstraints?\b|\brequirements?\b|\bcheckable\b|\blimits\b"),
    ("context", r"\bcontext\b|\btoo terse\b|\bbackground\b|\bsuccess criteria\b"),
    ("robust", r"\bmissing information\b|\bambiguous input\b|\bwhen information is missing\b|\brobust"),
)


def _block(text: str, *tags: str) -> str | None:
    for tag in tags:
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S | _I)
        if match and match.group(1).strip():
            return unquote(match.group(1)).strip()
    return None


_CURRENT_PROMPT = re.compile(
    r"(?ims)^[^\n]*\bcurrent prompt\b[^\n]*:[ \t]*\n(.*?)\n\s*\n"
    r"(?=[^\n]*\b(?:critique|feedback|issues|improvements)\b[^\n]*:)"
)


def parse_optimize_message(message: str) -> tuple[str, str]:
    """(prompt, critique) from the user message: tagged blocks, "Current prompt ...:" then "Critique:", or plain."""
    prompt = _block(message, "prompt", "current_prompt")
    critique = _block(message, "critique", "feedback", "issues") or ""
    if prompt is not None:
        return prompt, critique
    current = _CURRENT_PROMPT.search(message)
    if current is not None:
        return current.group(1).strip(), message[current.end() :].strip()
    parts = re.split(r"(?im)^\s*(?:#+\s*)?(?:critique|feedback|issues)\s*:\s*", message, maxsplit=1)
    if len(parts) == 2:
        return re.sub(r"(?im)^\s*(?:#+\s*)?prompt\s*:\s*", "", parts[0]).strip(), parts[1].strip()
    return message.strip(), ""


def refinements_for(critique: str, brief: IdeaBrief) -> tuple[IdeaBrief, Refinements]:
    """Concrete changes that answer each topic the critique raises."""
    topics = {name for name, pattern in _TOPICS if re.search(pattern, critique, _I)}
    guide = guidance_for(brief)
    requirements: list[str] = []
    success: tuple[str, ...] = ()
    if "audience" in topics and brief.audience is None:
        brief = replace(brief, audience=f"{guide.default_audience} (assumed)")
    if "tone" in topics:
        tone = ", ".join(brief.tones) or "clear, confident and professional"
        requirements.append(f"Keep a {tone} tone from the first sentence to the last.")
    if "edge" in topics and brief.persona is not Persona.CODE:  # code prompts already list them
        cases = "; ".join(brief.edge_cases) or "empty, missing, contradictory or unusually large input"
        requirements.append(f"Handle the awkward cases explicitly: {cases}.")
    if "reasoning" in topics:
        requirements.append("Work through the problem step by step before answering; present only the final result.")
    if "vague" in topics:
        terms = ", ".join(brief.key_terms[:8])
        success = (
            f"The answer addresses each of: {terms}.",
            "Every requirement above can be checked by reading the answer.",
        )
    if "example" in topics and (brief.primary_format is None or brief.primary_format.skeleton is None):
        requirements.append("Include one short, concrete example of a good answer.")
    missing = re.search(r"(?:missing|mention explicitly):\s*(.+?)(?:\.\s|\.$|[)\n;]|$)", critique, _I)
    if missing:
        requirements.append(f"Address explicitly: {missing.group(1).strip().rstrip('.')}.")
    # Critique lines are edits to the prompt, not instructions for the model that will read it: they
    # become structural changes, never requirement lines copied verbatim.
    refinements = Refinements(
        requirements=tuple(requirements),
        success_criteria=success,
        example="example" in topics or "format" in topics,
        compact="compact" in topics,
        steps="structure" in topics,
        robust="constraints" in topics or "robust" in topics,
        context="context" in topics or "audience" in topics,
    )
    return brief, refinements


def rewrite(message: str, idea: str | None, persona: Persona, family: TargetFamily) -> str:
    """A rewritten prompt that keeps the original's requirements and answers the critique."""
    prompt, critique = parse_optimize_message(message)
    if not idea:
        brief = brief_from_text(prompt, persona)
    else:
        brief = analyse(idea, persona, scan_text=f"{idea}\n{prompt}")
        own = brief_from_text(prompt, brief.persona)  # the prompt's own requirements survive the rewrite
        brief = brief.with_requirements(own.constraints)
    brief, refinements = refinements_for(critique, brief)
    return coagulatio(brief, family, 0, refinements)
