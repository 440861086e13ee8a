"""The structured brief: what the engine understood of an idea, before it writes any prompt.

``engine.analyze`` answers it; the generation engine asks for it to choose the persona a request
leaves open, and the front doors show it (``prompt-alchemy analyze``, ``POST /api/v1/prompts/analyze``,
the MCP tool ``analyze_idea``) so a user sees the reading before generating.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prompt_alchemy.schemas.common import Persona, Reply, Request
from prompt_alchemy.schemas.engine import InputText
from prompt_alchemy.schemas.providers import ModelName, ProviderName

__all__ = [
    "BRIEF_JSON_SCHEMA",
    "AnalyzeRequest",
    "Brief",
    "BriefConstraint",
    "BriefDraft",
    "ConstraintKind",
    "FormRules",
    "InputSlot",
]


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
    """``provider``/``model`` name who reads the idea (None: the providers' default). An LLM answers
    with the brief as structured output; the offline provider, or an LLM that fails to, leaves it
    to the offline analyser (the brief's ``warnings`` then say why)."""

    input: InputText
    persona: Persona = Persona.GENERIC  # generic: the reader chooses the persona from the idea
    provider: ProviderName | None = None
    model: ModelName | None = None


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
    source: str = "offline"  # who read the idea: "offline", or "<provider>/<model>" for an LLM's structured output


# -- the brief as an LLM writes it (structured output) ---------------------------------------------

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Short = Annotated[str, StringConstraints(max_length=300)]
_PLACEHOLDER = re.compile(r"^\{\{[a-z][a-z0-9_]{0,40}\}\}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DraftConstraint(_Strict):
    kind: ConstraintKind
    text: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class _DraftForm(_Strict):
    name: _Short
    rules: list[_Text] = Field(max_length=20)


class _DraftInput(_Strict):
    description: _Short
    placeholder: _Short


class BriefDraft(_Strict):
    """The brief an LLM returns, validated field by field against ``BRIEF_JSON_SCHEMA``.

    Every field is required (vendors' strict modes want that); "not stated" is an empty string,
    an empty list, or a form/input whose name/description is empty."""

    task: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    deliverable: _Short
    audience: _Short
    constraints: list[_DraftConstraint] = Field(max_length=40)
    details: list[_Text] = Field(max_length=40)
    tone: list[_Short] = Field(max_length=10)
    form: _DraftForm
    input: _DraftInput
    persona: Persona
    persona_reason: _Text
    code_language: _Short
    key_terms: list[_Short] = Field(max_length=30)

    def to_brief(self, idea: str, *, persona: Persona | None, source: str) -> Brief:
        """The contract ``Brief``; ``persona`` set is the caller's choice and overrides the draft's."""
        slot = None
        if self.input.description.strip():
            placeholder = self.input.placeholder.strip()
            if not _PLACEHOLDER.match(placeholder):
                words = re.findall(r"[a-z0-9]+", (placeholder or self.input.description).lower())[:4]
                placeholder = "{{" + ("_".join(words) or "input") + "}}"
            slot = InputSlot(description=self.input.description.strip(), placeholder=placeholder)
        chosen = persona or self.persona
        return Brief(
            idea=idea,
            task=self.task.strip(),
            deliverable=self.deliverable.strip() or None,
            audience=self.audience.strip() or None,
            constraints=[BriefConstraint(kind=item.kind, text=item.text.strip()) for item in self.constraints],
            details=[detail for detail in self.details if detail.strip()],
            tone=[tone for tone in self.tone if tone.strip()],
            form=FormRules(name=self.form.name.strip(), rules=list(self.form.rules))
            if self.form.name.strip()
            else None,
            input=slot,
            persona=chosen,
            persona_reason=self.persona_reason.strip() if chosen is self.persona else "the persona the request names",
            code_language=self.code_language.strip() or None,
            key_terms=[term for term in self.key_terms if term.strip()],
            source=source,
        )


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


_STRING: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STRING}

BRIEF_JSON_SCHEMA: dict[str, Any] = _object(
    {
        "task": {"type": "string", "description": "The task in one imperative sentence, in your own words."},
        "deliverable": {"type": "string", "description": "What the result is (a haiku, a SQL query, a plan)."},
        "audience": {"type": "string", "description": "Who the result is for, only if the idea says; else ''."},
        "constraints": {
            "type": "array",
            "description": "Every explicit constraint of the idea, one per item.",
            "items": _object(
                {"kind": {"type": "string", "enum": [kind.value for kind in ConstraintKind]}, "text": _STRING}
            ),
        },
        "details": {**_STRINGS, "description": "Every other detail the idea states, clause by clause."},
        "tone": {**_STRINGS, "description": "Tone words the idea asks for."},
        "form": {
            **_object({"name": _STRING, "rules": _STRINGS}),
            "description": "A fixed form (haiku, limerick, sonnet, tweet, SQL dialect) and its rules; name '' if none.",
        },
        "input": {
            **_object({"description": _STRING, "placeholder": _STRING}),
            "description": "What the prompt receives at run time, a {{snake_case}} placeholder; description '' if none",
        },
        "persona": {"type": "string", "enum": [persona.value for persona in Persona]},
        "persona_reason": {"type": "string", "description": "Why that persona, from what the idea is about."},
        "code_language": {"type": "string", "description": "The programming language for code work; else ''."},
        "key_terms": {**_STRINGS, "description": "The idea's key terms."},
    }
)
"""The JSON Schema an LLM's brief follows: the subset every vendor's structured output takes
(all properties required, no additional ones, no ``$ref``)."""
