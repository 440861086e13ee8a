"""Contracts of the generation engine: generate, optimize, batch, select (judge), capabilities."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from prompt_alchemy.schemas.common import (
    LEGACY_PHASE_NAMES,
    MAX_INPUT_CHARS,
    MAX_PROMPT_CHARS,
    Identifier,
    Persona,
    Phase,
    PhaseSelection,
    Reply,
    Request,
    Tag,
    TargetModel,
    Usage,
)
from prompt_alchemy.schemas.errors import ErrorBody
from prompt_alchemy.schemas.providers import ProviderName
from prompt_alchemy.schemas.storage import Lineage

__all__ = [
    "BatchItemResult",
    "BatchReply",
    "BatchRequest",
    "CapabilitiesReply",
    "CapabilitiesRequest",
    "GenerateReply",
    "GenerateRequest",
    "GeneratedPrompt",
    "JudgeScore",
    "OptimizeIteration",
    "OptimizeReply",
    "OptimizeRequest",
    "PhaseSettings",
    "Scores",
    "SelectReply",
    "SelectRequest",
]

InputText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_INPUT_CHARS)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ProgressToken = Annotated[str, StringConstraints(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def _named_phase(value: Any) -> Any:
    """Name an unknown phase in the 400 answer (the generic enum message does not show the value)."""
    if isinstance(value, str) and not isinstance(value, Phase):
        try:
            return Phase(value)
        except ValueError:
            known = ", ".join(phase.value for phase in Phase)
            legacy = ", ".join(LEGACY_PHASE_NAMES)
            raise ValueError(f"unknown phase {value!r}; expected one of {known} (legacy names: {legacy})") from None
    return value


PhaseName = Annotated[Phase, BeforeValidator(_named_phase)]


class PhaseSettings(Request):
    """Per-phase overrides; anything unset falls back to the request, then to the defaults."""

    provider: ProviderName | None = None
    model: ModelName | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)


class GenerateRequest(Request):
    input: InputText
    phases: list[PhaseName] = Field(
        default_factory=lambda: list(Phase), min_length=1, max_length=3, json_schema_extra={"uniqueItems": True}
    )
    count: int = Field(default=3, ge=1, le=10)
    # None: the engine chooses the persona from what the idea is about (``engine.analyze``), and
    # every prompt of the reply names the persona actually used.
    persona: Persona | None = None
    target_model: TargetModel | None = None
    # None: the engine's per-phase default (exploratory first phase, precise last). A value sent
    # here applies to every phase; phase_settings override it per phase. (Every field travels on the
    # bus, so "unset" must be None: the engine cannot tell a sent default from a chosen value.)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    phase_selection: PhaseSelection = PhaseSelection.BEST
    provider: ProviderName | None = None
    phase_settings: dict[PhaseName, PhaseSettings] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    use_history: bool = True
    history_min_similarity: float | None = Field(default=None, ge=0.0, le=1.0)  # None: the engine's threshold
    judge: bool = False
    save: bool = True
    cache: bool = True
    """False: never answer from the semantic cache of earlier generations (still fills it)."""
    request_id: Identifier | None = None
    # Where the engine publishes this request's progress and streamed text
    # (``events.generation.<progress_token>``). A front door sets a fresh random one for every
    # request it follows, so a second request reusing a ``request_id`` can neither read nor inject
    # into the first one's stream. None: nobody follows the request; nothing is published and the
    # completions are not streamed from the vendor.
    progress_token: ProgressToken | None = None

    @field_validator("phases")
    @classmethod
    def _distinct_in_order(cls, phases: list[Phase]) -> list[Phase]:
        if len(set(phases)) != len(phases):
            raise ValueError("phases must not repeat")
        return sorted(phases, key=lambda phase: phase.order)


class Scores(Reply):
    ranker: float = 0.0
    judge: float | None = None
    combined: float = 0.0
    features: dict[str, float] = Field(default_factory=dict)


class GeneratedPrompt(Reply):
    id: str | None = None
    content: str
    phase: Phase
    chain: int = 0
    provider: str
    model: str
    persona: Persona = Persona.GENERIC
    target_model: str | None = None
    parent_id: str | None = None
    saved: bool = False
    scores: Scores = Field(default_factory=Scores)
    judge_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    lineage: Lineage = Field(default_factory=Lineage)


class GenerateReply(Reply):
    request_id: str
    input: str
    prompts: list[GeneratedPrompt]
    best: GeneratedPrompt | None = None
    selected: list[GeneratedPrompt] = Field(default_factory=list)
    history_used: list[str] = Field(default_factory=list)
    weights_version: int = 0
    offline: bool = False
    warnings: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_ms: float = 0.0
    cached: bool = False
    """True: answered from an earlier generation of a near-identical idea, ``cached_from``."""
    cached_from: str | None = None
    cache_similarity: float | None = None


class JudgeScore(Reply):
    index: int
    score: float = Field(ge=0.0, le=1.0)
    reason: str


class SelectRequest(Request):
    """Ask an LLM judge to score candidate prompts for a task."""

    input: InputText
    candidates: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]] = Field(
        min_length=1, max_length=30
    )
    persona: Persona = Persona.GENERIC
    target_model: TargetModel | None = None
    provider: ProviderName | None = None
    model: ModelName | None = None
    criteria: Annotated[str, StringConstraints(max_length=4000)] | None = None


class SelectReply(Reply):
    scores: list[JudgeScore]
    best_index: int
    provider: str
    model: str
    warnings: list[str] = Field(default_factory=list)


class OptimizeRequest(Request):
    """Meta-prompt optimisation: judge, critique, rewrite, until the target score or max iterations.

    The prompt comes as text (``prompt``) or by id (``prompt_id``): one of them is required.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
                {"required": ["prompt_id"], "properties": {"prompt_id": {"type": "string"}}},
            ]
        }
    )

    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)] | None = None
    prompt_id: Identifier | None = None
    task: InputText | None = None
    persona: Persona = Persona.GENERIC
    target_model: TargetModel | None = None
    target_score: float = Field(default=0.85, ge=0.0, le=1.0)
    max_iterations: int = Field(default=3, ge=1, le=10)
    provider: ProviderName | None = None
    model: ModelName | None = None
    save: bool = True

    @model_validator(mode="after")
    def _names_a_prompt(self) -> OptimizeRequest:
        if self.prompt is None and self.prompt_id is None:
            raise ValueError("give the prompt to optimise, as text (prompt) or by id (prompt_id)")
        return self


class OptimizeIteration(Reply):
    iteration: int
    prompt: str
    score: float
    reasoning: str
    improvements: list[str] = Field(default_factory=list)


class OptimizeReply(Reply):
    original: str
    best: OptimizeIteration
    iterations: list[OptimizeIteration]
    improved: bool
    stored_id: str | None = None
    parent_id: str | None = None
    usage: Usage = Field(default_factory=Usage)
    warnings: list[str] = Field(default_factory=list)


class BatchRequest(Request):
    """Many generations. Each item's reply lists only its selected prompts (its ``phase_selection``)
    unless ``candidates`` asks for every candidate: a hundred full replies would not fit in one
    message. Every candidate is stored either way, findable by the item's ``request_id``."""

    items: list[GenerateRequest] = Field(min_length=1, max_length=100)
    concurrency: int = Field(default=4, ge=1, le=16)
    candidates: bool = False


class BatchItemResult(Reply):
    index: int
    ok: bool
    reply: GenerateReply | None = None
    error: ErrorBody | None = None


class BatchReply(Reply):
    results: list[BatchItemResult]
    succeeded: int
    failed: int


class CapabilitiesRequest(Request):
    pass


class CapabilitiesReply(Reply):
    phases: list[Phase]
    legacy_phase_names: dict[str, str]
    personas: list[Persona]
    target_families: list[str]
    phase_selections: list[str]
    providers: list[str]
    default_provider: str | None = None
    judge_available: bool = True
    version: str
    limits: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


_ = MAX_PROMPT_CHARS
