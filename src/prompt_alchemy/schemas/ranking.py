"""The ranking features shared by the generation engine (which scores candidates) and the learning worker
(which learns their weights from feedback). Pure functions, no I/O: both sides must compute the very same
vector from the same candidate, or learned weights would mean nothing.

Conventions that keep learned weights meaningful:

- every feature is a float in [-1, 1]; one-hot groups (phase, persona, provider) are 0/1;
- optional signals are centred so that "unknown" is 0 and contributes nothing: ``judge_score`` is
  ``score - 0.5`` and ``historical_rating`` is ``(rating - 3) / 2``;
- ``similarity_to_input`` falls back to :func:`lexical_similarity` of content and input when the
  caller passes none. The learning worker trains on that lexical value (a stored record is all it
  has), so scorers that want learned weights to apply should leave it None too; an explicit value
  (e.g. an embedding cosine) is for callers using hand-set weights.

The score of a candidate is ``sigmoid(w . x + bias)`` (:func:`score`). :data:`DEFAULT_WEIGHTS` are
hand-set and used while learning is off (version 0); the learning worker regularises towards them, so a
feature the feedback says nothing about keeps its default weight.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StringConstraints

from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Persona, Phase, Request
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.storage import PromptRecord

__all__ = [
    "DEFAULT_WEIGHTS",
    "FEATURE_NAMES",
    "KNOWN_PROVIDERS",
    "RankingInput",
    "extract_features",
    "feature_vector",
    "lexical_similarity",
    "linear_margin",
    "provider_family",
    "score",
]

KNOWN_PROVIDERS: tuple[str, ...] = ("offline", "openai", "anthropic", "google", "ollama", "openrouter", "grok")
"""Provider families with a feature of their own; anything else is ``provider_other``."""

_PROVIDER_ALIASES: Mapping[str, str] = {"gemini": "google", "xai": "grok", "claude": "anthropic"}

_PHASE_FEATURES = tuple(f"phase_{phase.value.replace('-', '_')}" for phase in Phase)
_PERSONA_FEATURES = tuple(f"persona_{persona.value}" for persona in Persona)
_PROVIDER_FEATURES = (*(f"provider_{name}" for name in KNOWN_PROVIDERS), "provider_other")

FEATURE_NAMES: tuple[str, ...] = (
    *_PHASE_FEATURES,
    *_PERSONA_FEATURES,
    *_PROVIDER_FEATURES,
    "length",
    "length_fit",
    "structure",
    "has_examples",
    "has_constraints",
    "has_output_format",
    "similarity_to_input",
    "judge_score",
    "historical_rating",
)
"""Every feature, in the order of :func:`feature_vector`. Append new ones; never reorder or rename."""


class RankingInput(Request):
    """What the ranker knows about one candidate prompt."""

    content: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
    input: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)] | None = None
    phase: Phase | None = None
    provider: str | None = None
    persona: Persona | None = None
    similarity_to_input: float | None = Field(default=None, ge=-1.0, le=1.0)
    judge_score: float | None = Field(default=None, ge=0.0, le=1.0)
    historical_rating: float | None = Field(default=None, ge=1.0, le=5.0)

    @classmethod
    def from_record(
        cls,
        record: PromptRecord,
        *,
        similarity_to_input: float | None = None,
        judge_score: float | None = None,
        include_history: bool = True,
    ) -> RankingInput:
        """The ranking view of a stored prompt (its lineage gives phase, provider and persona)."""
        return cls(
            content=record.content,
            input=record.input,
            phase=record.lineage.phase,
            provider=record.lineage.provider,
            persona=record.lineage.persona,
            similarity_to_input=similarity_to_input,
            judge_score=judge_score,
            historical_rating=record.mean_rating if include_history else None,
        )


# Lengths in words: below the band a prompt is usually too thin to steer a model, above it usually padded.
_GOOD_LENGTH_WORDS = (40, 600)
_LENGTH_SCALE_WORDS = 1000
_WORD = re.compile(r"[A-Za-z0-9_']+")
_STRUCTURE_MARKERS = (
    re.compile(r"^\s*(#{1,6}\s|[A-Z][A-Za-z /]{1,40}:\s*$|[A-Z][A-Za-z ]{1,24}:\s)", re.MULTILINE),  # headings, labels
    re.compile(r"^\s*([-*\u2022]|\d+[.)])\s+\S", re.MULTILINE),  # bullet or numbered lists
    re.compile(r"<[A-Za-z_][\w-]*>.*?</[A-Za-z_][\w-]*>", re.DOTALL),  # XML-style sections
    re.compile(r"\{\{?\s*[A-Za-z_][\w]*\s*\}?\}|```"),  # placeholders or code fences
    re.compile(r"\n\s*\n"),  # more than one paragraph
)
_EXAMPLES = re.compile(r"\b(examples?|e\.g\.|for instance|such as|sample)\b", re.IGNORECASE)
_CONSTRAINTS = re.compile(
    r"\b(must|never|do not|don't|avoid|always|only|at most|at least|constraints?)\b", re.IGNORECASE
)
_OUTPUT_FORMAT = re.compile(
    r"\b(format|json|yaml|markdown|table|respond with|return (a|an|the|only)|output|bullet points?)\b", re.IGNORECASE
)


def provider_family(provider: str | None) -> str:
    """``provider_<family>`` feature name of a provider id such as ``openai`` or ``gemini``."""
    if not provider:
        return "provider_other"
    name = provider.strip().lower()
    name = _PROVIDER_ALIASES.get(name, name)
    return f"provider_{name}" if name in KNOWN_PROVIDERS else "provider_other"


def lexical_similarity(text: str, other: str) -> float:
    """Share of ``other``'s distinct words that ``text`` contains (0..1); the fallback similarity."""
    wanted = {word.lower() for word in _WORD.findall(other) if len(word) > 2}
    if not wanted:
        return 0.0
    present = {word.lower() for word in _WORD.findall(text)}
    return len(wanted & present) / len(wanted)


def _length_fit(words: int) -> float:
    low, high = _GOOD_LENGTH_WORDS
    if low <= words <= high:
        return 1.0
    if words < low:
        return words / low
    return max(0.0, 1.0 - math.log(words / high) / math.log(10))


def extract_features(candidate: RankingInput) -> dict[str, float]:
    """Every feature of :data:`FEATURE_NAMES` for one candidate (a fresh dict, all keys present)."""
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    if candidate.phase is not None:
        features[f"phase_{candidate.phase.value.replace('-', '_')}"] = 1.0
    features[f"persona_{(candidate.persona or Persona.GENERIC).value}"] = 1.0
    features[provider_family(candidate.provider)] = 1.0

    content = candidate.content
    words = len(_WORD.findall(content))
    features["length"] = min(1.0, math.log1p(words) / math.log1p(_LENGTH_SCALE_WORDS))
    features["length_fit"] = _length_fit(words)
    features["structure"] = sum(1.0 for marker in _STRUCTURE_MARKERS if marker.search(content)) / len(
        _STRUCTURE_MARKERS
    )
    features["has_examples"] = 1.0 if _EXAMPLES.search(content) else 0.0
    features["has_constraints"] = 1.0 if _CONSTRAINTS.search(content) else 0.0
    features["has_output_format"] = 1.0 if _OUTPUT_FORMAT.search(content) else 0.0

    if candidate.similarity_to_input is not None:
        features["similarity_to_input"] = candidate.similarity_to_input
    elif candidate.input:
        features["similarity_to_input"] = lexical_similarity(content, candidate.input)
    if candidate.judge_score is not None:
        features["judge_score"] = candidate.judge_score - 0.5
    if candidate.historical_rating is not None:
        features["historical_rating"] = (candidate.historical_rating - 3.0) / 2.0
    return features


def feature_vector(features: Mapping[str, float]) -> list[float]:
    """The features in :data:`FEATURE_NAMES` order (missing ones are 0), for numeric code."""
    return [float(features.get(name, 0.0)) for name in FEATURE_NAMES]


def linear_margin(features: Mapping[str, float], weights: Weights) -> float:
    """``w . x + bias``; weights naming no known feature are ignored, features without a weight count 0."""
    total = weights.bias
    for name, value in features.items():
        total += weights.weights.get(name, 0.0) * value
    return total


def score(features: Mapping[str, float], weights: Weights) -> float:
    """The learned score in (0, 1): the logistic of :func:`linear_margin`, overflow-safe."""
    margin = linear_margin(features, weights)
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    exp_margin = math.exp(margin)
    return exp_margin / (1.0 + exp_margin)


DEFAULT_WEIGHTS = Weights(
    version=0,
    weights={
        **dict.fromkeys(FEATURE_NAMES, 0.0),
        "phase_solutio": 0.25,
        "phase_coagulatio": 0.5,
        "length_fit": 0.5,
        "structure": 1.0,
        "has_examples": 0.25,
        "has_constraints": 0.25,
        "has_output_format": 0.25,
        "similarity_to_input": 1.5,
        "judge_score": 3.0,
        "historical_rating": 1.0,
    },
    bias=-1.5,
    trained_on=0,
)
"""Hand-set weights (version 0): judge first, then relevance to the input, structure, the final phase."""
