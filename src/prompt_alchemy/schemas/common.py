"""Shared vocabulary of every contract: base models, enums, bounded scalar types."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "LEGACY_PHASE_NAMES",
    "MAX_INPUT_CHARS",
    "MAX_PROMPT_CHARS",
    "Event",
    "Identifier",
    "NonEmptyText",
    "Persona",
    "Phase",
    "PhaseSelection",
    "Reply",
    "Request",
    "TargetFamily",
    "TargetModel",
    "Usage",
    "Vector",
    "utc_now",
]

MAX_INPUT_CHARS = 20_000
MAX_PROMPT_CHARS = 100_000
MAX_VECTOR_DIM = 4096


def utc_now() -> datetime:
    return datetime.now(UTC)


class Request(BaseModel):
    """Base of every request: unknown fields are rejected, strings are stripped of nothing."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_default=True)


class Reply(BaseModel):
    """Base of every reply: tolerant of fields a newer worker adds."""

    model_config = ConfigDict(extra="ignore")


class Event(BaseModel):
    """Base of every pub/sub or durable event: strict, like requests."""

    model_config = ConfigDict(extra="forbid")


class Phase(StrEnum):
    """The three alchemical phases, in order."""

    PRIMA_MATERIA = "prima-materia"
    SOLUTIO = "solutio"
    COAGULATIO = "coagulatio"

    @classmethod
    def _missing_(cls, value: object) -> Phase | None:
        if isinstance(value, str):
            key = value.strip().lower().replace("_", "-")
            if key in LEGACY_PHASE_NAMES:
                return cls(LEGACY_PHASE_NAMES[key])
            for member in cls:
                if member.value == key:
                    return member
        return None

    @property
    def order(self) -> int:
        return list(Phase).index(self)


LEGACY_PHASE_NAMES: dict[str, str] = {
    "idea": "prima-materia",
    "human": "solutio",
    "precision": "coagulatio",
}


class Persona(StrEnum):
    CODE = "code"
    WRITING = "writing"
    ANALYSIS = "analysis"
    GENERIC = "generic"


class TargetFamily(StrEnum):
    CLAUDE = "claude"
    GPT = "gpt"
    GEMINI = "gemini"
    GROK = "grok"
    GENERIC = "generic"

    @classmethod
    def for_model(cls, model: str | None) -> TargetFamily:
        """Infer the family from a model name such as ``claude-sonnet-4`` or ``gpt-4o``."""
        if not model:
            return cls.GENERIC
        name = model.lower()
        for family, needles in (
            (cls.CLAUDE, ("claude", "anthropic")),
            (cls.GPT, ("gpt", "openai", "o1", "o3", "o4")),
            (cls.GEMINI, ("gemini", "google")),
            (cls.GROK, ("grok", "xai")),
        ):
            if any(needle in name for needle in needles):
                return family
        return cls.GENERIC


class PhaseSelection(StrEnum):
    """Which candidates a generation returns as its result.

    best: the best-ranked prompt of the final phase; cascade: the best of each phase;
    all: every candidate of every phase.
    """

    BEST = "best"
    CASCADE = "cascade"
    ALL = "all"


def _check_finite(vector: list[float]) -> list[float]:
    for index, value in enumerate(vector):
        if not math.isfinite(value):
            raise ValueError(f"vector component {index} is not a finite number")
    return vector


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
Vector = Annotated[list[float], Field(min_length=1, max_length=MAX_VECTOR_DIM), AfterValidator(_check_finite)]
# No comma, no control character, no whitespace, spelt out: regex engines disagree on ``\s``
# (Python counts U+001C-U+001F, Rust and ECMAScript do not), and a schema must mean one thing.
TAG_PATTERN = r"^[^,\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+$"
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TAG_PATTERN)]
# A model name as vendors spell them ("gpt-4o", "models/gemini-1.5-pro", "llama3:8b"): it is written
# into system and judge prompts, so nothing but these characters.
TargetModel = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]*$")
]


class Usage(Reply):
    """Token usage as the vendor reported it; ``estimated`` when counted locally."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            estimated=self.estimated or other.estimated,
        )


JsonDict = dict[str, Any]
