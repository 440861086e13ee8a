"""The structured brief: what the engine understood of an idea, before it writes any prompt.

``engine.analyze`` answers it; the generation engine asks for it to choose the persona a request
leaves open, and the front doors show it (``prompt-alchemy analyze``, ``POST /api/v1/prompts/analyze``,
the MCP tool ``analyze_idea``) so a user sees the reading before generating.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from prompt_alchemy.schemas.common import Persona, Reply, Request
from prompt_alchemy.schemas.engine import InputText

__all__ = ["AnalyzeRequest", "Brief", "BriefConstraint", "ConstraintKind", "FormRules", "InputSlot"]


class ConstraintKind(StrEnum):
    """What an explicit constraint of the idea is about."""

    LENGTH = "length"  # word, character, minute limits
    QUANTITY = "quantity"  # "5 captions", "8 questions"
    BUDGET = "budget"  # an amount with its currency
    NUMBER = "number"  # any other figure the idea states (headcount, years, version)
    LANGUAGE = "language"  # the natural language of the result
    FORMAT = "format"  # markdown table, JSON, CSV...
    FIELD = "field"  # named fields or columns
    EDGE_CASE = "edge_case"  # cases the result must handle
    EXCLUSION = "exclusion"  # "without X", "no X", "don't X"
    DEADLINE = "deadline"  # dates and days
    DETAIL = "detail"  # any other stated requirement


class BriefConstraint(Reply):
    kind: ConstraintKind
    text: str


class FormRules(Reply):
    """A fixed form the deliverable follows (haiku, limerick, sonnet, tweet, an SQL dialect...)."""

    name: str
    rules: list[str] = Field(default_factory=list)


class InputSlot(Reply):
    """What the prompt will receive at run time, and the placeholder standing for it."""

    description: str
    placeholder: str


class AnalyzeRequest(Request):
    input: InputText
    persona: Persona = Persona.GENERIC


class Brief(Reply):
    idea: str
    task: str
    deliverable: str | None = None
    audience: str | None = None  # only when the idea states one
    constraints: list[BriefConstraint] = Field(default_factory=list)
    details: list[str] = Field(default_factory=list)  # every detail the idea states, clause by clause
    tone: list[str] = Field(default_factory=list)
    form: FormRules | None = None
    input: InputSlot | None = None
    persona: Persona = Persona.GENERIC
    persona_reason: str = ""
    code_language: str | None = None
    key_terms: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
