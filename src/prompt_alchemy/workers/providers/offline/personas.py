"""Persona guidance: what a code, writing, analysis or generic prompt must pin down.

The persona changes *content* (code: language, interface, edge cases, tests; writing: tone,
audience, length; analysis: data, method, assumptions, evidence). Each gap in the brief comes
with the question to ask (prima materia) and the assumption to make instead (later phases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief

__all__ = ["Gap", "Guidance", "guidance_for"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Something the idea leaves open: ask it early, assume it (and say so) later."""

    question: str
    assumption: str  # empty when the output contract already settles it


@dataclass(frozen=True, slots=True)
class Guidance:
    role: str
    default_audience: str
    focus: tuple[str, ...]
    requirements: tuple[str, ...]
    gaps: tuple[Gap, ...]
    checks: tuple[str, ...]


def _join(items: tuple[str, ...] | list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _common_gaps(brief: IdeaBrief, default_audience: str) -> list[Gap]:
    gaps: list[Gap] = []
    if brief.audience is None:
        gaps.append(
            Gap(
                "Who will use the result, and how much do they already know?",
                f"If the audience matters and is not given, write for {default_audience}.",
            )
        )
    if brief.primary_format is None:
        gaps.append(Gap("What exact shape should the answer take (prose, list, table, JSON...)?", ""))
    return gaps


def _code(brief: IdeaBrief) -> Guidance:
    language = brief.language
    edge = "; ".join(brief.edge_cases) or "empty, missing, malformed and unusually large input"
    interface = re.sub(r"^(?:an?|some)\s+", "the ", brief.deliverable or "the code", flags=re.IGNORECASE)
    focus = [
        f"Language: {language}" if language else "Language: not stated",
        f"Interface: {interface}: its name, typed parameters and return value",
        f"Input -> output: {_join(list(brief.inputs)) or 'not stated'} -> {brief.output or 'not stated'}",
        f"Edge cases: {edge}",
        "Errors: how invalid input is reported",
        "Tests: unit tests for typical input and each edge case",
    ]
    requirements = [
        f"Write idiomatic {language}; use only the standard library unless a dependency is clearly justified."
        if language
        else "Use the language the user or the surrounding code names; if none, pick a mainstream one and state it.",
        f"Define a clear interface for {interface}: a descriptive name, typed parameters and the return type.",
        f"Handle these edge cases explicitly: {edge}.",
        "Reject invalid input with a specific, descriptive error instead of guessing.",
        "Add a short docstring; comment only where the logic is not obvious.",
        "Include unit tests that cover typical input and each edge case.",
    ]
    gaps = [
        *(
            []
            if language
            else [
                Gap("Which programming language and version?", "If no language is given, use Python 3.11+ and say so.")
            ]
        ),
        Gap(
            "What should happen on invalid input: raise an error, return a default, or skip it?",
            "On invalid input, raise a descriptive error.",
        ),
        Gap(
            "Are there performance, memory or input-size limits?",
            "Assume inputs fit in memory; prefer clarity over micro-optimisation.",
        ),
    ]
    checks = (
        "The code runs as written: imports included, no placeholders or pseudo-code.",
        "Every listed edge case is handled or explicitly rejected.",
        "The tests would pass against the code as written.",
    )
    role = f"You are a senior {language or 'software'} engineer who writes correct, readable, well-tested code."
    return Guidance(
        role, "developers who will call and maintain this code", tuple(focus), tuple(requirements), tuple(gaps), checks
    )


def _writing(brief: IdeaBrief) -> Guidance:
    tone = _join(list(brief.tones))
    audience = brief.audience or "a general, non-specialist reader"
    focus = [
        f"Tone: {tone}" if tone else "Tone: not stated",
        f"Audience: {audience}",
        f"Length: {brief.length}" if brief.length else "Length: not stated",
        "Structure: a strong opening, one idea per paragraph, a clear close or call to action",
    ]
    requirements = [
        f"Write for {audience}: use words they know and examples they recognise.",
        f"Use a {tone} tone throughout." if tone else "Use a clear, warm, professional tone unless told otherwise.",
        "Open with the main point; end with a clear takeaway or next step.",
        "Prefer concrete details to generic claims; cut clichés and filler.",
    ]
    if brief.length is None:
        requirements.append("Keep it as short as the message allows.")
    if brief.primary_format is not None and brief.primary_format.key == "email":
        requirements.append("Write a specific subject line that says what the email is about.")
    gaps = [
        *(
            []
            if tone
            else [
                Gap(
                    "What tone fits: formal, friendly, persuasive...?",
                    "If no tone is given, be clear, warm and professional.",
                )
            ]
        ),
        *(
            []
            if brief.length
            else [
                Gap("How long should it be?", "If no length is given, keep it brief: a few short paragraphs at most.")
            ]
        ),
        Gap(
            "What should the reader do, know or feel afterwards?",
            "Make the single most important takeaway unmistakable.",
        ),
    ]
    checks = (
        "Every sentence serves the reader's goal; nothing is padding.",
        "Tone and length match the brief.",
        "Any placeholder is clearly marked in [brackets].",
    )
    role = "You are an experienced writer and editor who adapts tone, structure and length to the reader."
    return Guidance(role, "a general, non-specialist reader", tuple(focus), tuple(requirements), tuple(gaps), checks)


def _analysis(brief: IdeaBrief) -> Guidance:
    data = _join(list(brief.inputs)) or "not stated"
    focus = [
        f"Data: {data}",
        "Method: the approach, stated before the findings",
        "Assumptions: listed explicitly",
        "Evidence: figures or quotes from the data behind every claim",
        "Uncertainty: a confidence level per conclusion and the limitations",
    ]
    requirements = [
        "Use only the data provided; say where it is insufficient instead of inventing figures.",
        "State your method before presenting findings.",
        "List your assumptions explicitly.",
        "Back every finding with specific evidence from the data (numbers, quotes or examples).",
        "Distinguish correlation from causation and give a confidence level for each conclusion.",
        "End with recommendations that follow from the findings.",
    ]
    gaps = [
        *(
            []
            if brief.inputs
            else [
                Gap(
                    "What data is available: source, time range, size?",
                    "Work only with data given in the conversation; ask for it if none is.",
                )
            ]
        ),
        Gap(
            "Which decision will this analysis inform?",
            "Assume the goal is a decision; lead with what matters most for it.",
        ),
        Gap(
            "Which metrics matter most?",
            "If metrics are not named, choose the few that best answer the question and say why.",
        ),
    ]
    checks = (
        "Every number comes from the data or is labelled as an estimate.",
        "Assumptions and limitations are stated.",
        "Conclusions follow from the evidence shown.",
    )
    role = "You are a rigorous analyst who separates evidence from assumptions and states uncertainty plainly."
    return Guidance(
        role,
        "decision-makers who need the conclusions and the evidence behind them",
        tuple(focus),
        tuple(requirements),
        tuple(gaps),
        checks,
    )


def _generic(brief: IdeaBrief) -> Guidance:
    focus = [
        f"Goal: {brief.task}",
        f"Audience: {brief.audience or 'not stated'}",
        "Success: what a complete, useful answer contains",
    ]
    requirements = [
        "Be specific and concrete; prefer examples to abstractions.",
        "Cover every part of the task; leave out what it does not ask for.",
        "If something is ambiguous, state the assumption you make and continue.",
    ]
    gaps = [
        Gap("What is the result for: who uses it, and how?", "Assume the reader will act on the answer directly."),
        Gap(
            "What does a great answer look like?",
            "Aim for complete but concise: depth where it helps, brevity elsewhere.",
        ),
    ]
    checks = (
        "The answer addresses every part of the task.",
        "Assumptions are stated, not hidden.",
    )
    return Guidance(
        "You are a knowledgeable, precise assistant.",
        "a capable non-specialist",
        tuple(focus),
        tuple(requirements),
        tuple(gaps),
        checks,
    )


_BUILDERS = {Persona.CODE: _code, Persona.WRITING: _writing, Persona.ANALYSIS: _analysis, Persona.GENERIC: _generic}


def guidance_for(brief: IdeaBrief) -> Guidance:
    """Guidance for the brief's (possibly inferred) persona, with the gaps common to all of them."""
    guidance = _BUILDERS[brief.persona](brief)
    gaps = _common_gaps(brief, guidance.default_audience) + list(guidance.gaps)
    return Guidance(
        guidance.role,
        guidance.default_audience,
        guidance.focus,
        guidance.requirements,
        tuple(gaps[:5]),
        guidance.checks,
    )
