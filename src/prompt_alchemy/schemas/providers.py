"""Contracts of the providers worker: completion, embeddings, provider catalogue."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from prompt_alchemy.schemas.common import (
    MAX_PROMPT_CHARS,
    Persona,
    Phase,
    Reply,
    Request,
    TargetFamily,
    Usage,
)
from prompt_alchemy.schemas.errors import ErrorBody

__all__ = [
    "MAX_COMPLETION_BATCH",
    "ChatMessage",
    "CircuitState",
    "CompletionBatchReply",
    "CompletionBatchRequest",
    "CompletionOutcome",
    "CompletionReply",
    "CompletionRequest",
    "EmbedReply",
    "EmbedRequest",
    "GenerationHints",
    "ProviderCapabilities",
    "ProviderGetRequest",
    "ProviderInfo",
    "ProviderName",
    "ProviderTestReply",
    "ProviderTestRequest",
    "ProvidersListReply",
    "ProvidersListRequest",
    "ResponseSchema",
    "TokenStream",
]

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChatMessage(Request):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]


class GenerationHints(Request):
    """What the engine knows about the call; the offline provider builds its answer from it."""

    phase: Phase | None = None
    persona: Persona = Persona.GENERIC
    persona_fixed: bool = False  # the engine chose ``persona`` (generic included): infer no other one
    target_family: TargetFamily = TargetFamily.GENERIC
    idea: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)] | None = None
    task: Literal["generate", "judge", "optimize"] = "generate"


class TokenStream(Request):
    """Where the text of a completion goes as the vendor streams it: ``TOKEN`` events on the
    generation events subject of ``progress_token`` (or of ``request_id`` without one), labelled
    with the phase and chain."""

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:\-]+$")]
    progress_token: (
        Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")] | None
    ) = None
    phase: Phase
    chain: int = Field(ge=0, le=1000)


class ResponseSchema(Request):
    """Structured output: the reply must be one JSON object following ``json_schema``.

    Each wire format asks its vendor in the vendor's documented way (OpenAI ``response_format``
    json_schema, Anthropic a forced tool, Gemini ``responseSchema``, Ollama ``format``); the
    reply's ``content`` is then that JSON text. Keep the schema to the subset every vendor takes:
    objects with every property required and ``additionalProperties: false``, no ``$ref``.
    """

    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    json_schema: dict[str, Any]


class CompletionRequest(Request):
    """One chat completion. ``provider`` None means the configured default and fallback order.

    ``stream`` set: the reply is streamed from the vendor and its deltas are published as it comes.
    """

    provider: ProviderName | None = None
    model: ModelName | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=64)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1, le=32_768)
    fallback: bool = True
    use_cache: bool = True
    hints: GenerationHints | None = None
    stream: TokenStream | None = None
    response_schema: ResponseSchema | None = None

    @model_validator(mode="after")
    def _structured_is_whole(self) -> CompletionRequest:
        if self.stream is not None and self.response_schema is not None:
            raise ValueError("a structured-output completion (response_schema) cannot be streamed")
        return self


class CompletionReply(Reply):
    provider: str
    model: str
    content: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = Field(default=0.0, ge=0.0)
    latency_ms: float = Field(default=0.0, ge=0.0)
    attempts: int = Field(default=1, ge=1)
    fallback_from: list[str] = Field(default_factory=list)
    cached: bool = False
    offline: bool = False


MAX_COMPLETION_BATCH = 16


class CompletionBatchRequest(Request):
    """Completions asked together (one generation phase's chains): each answered as
    ``providers.complete`` would answer it alone, all at once; one that fails fails only itself."""

    items: list[CompletionRequest] = Field(min_length=1, max_length=MAX_COMPLETION_BATCH)


class CompletionOutcome(Reply):
    """One item's answer: its ``reply``, or the ``error`` ``providers.complete`` would have raised."""

    reply: CompletionReply | None = None
    error: ErrorBody | None = None

    @model_validator(mode="after")
    def _reply_or_error(self) -> CompletionOutcome:
        if (self.reply is None) == (self.error is None):
            raise ValueError("an outcome holds either a reply or an error")
        return self


class CompletionBatchReply(Reply):
    """One outcome per item, in the order of the items."""

    results: list[CompletionOutcome]


class EmbedRequest(Request):
    provider: ProviderName | None = None
    model: ModelName | None = None
    texts: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]] = Field(
        min_length=1, max_length=256
    )


class EmbedReply(Reply):
    provider: str
    model: str
    dimension: int = Field(ge=1)
    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ProviderCapabilities(Reply):
    generation: bool = True
    embeddings: bool = False


class ProviderInfo(Reply):
    name: str
    kind: str
    available: bool
    reason: str | None = None
    capabilities: ProviderCapabilities = Field(default_factory=ProviderCapabilities)
    models: list[str] = Field(default_factory=list)
    default_model: str | None = None
    embedding_model: str | None = None
    base_url: str | None = None
    circuit: CircuitState = CircuitState.CLOSED
    offline: bool = False


class ProvidersListRequest(Request):
    pass


class ProvidersListReply(Reply):
    providers: list[ProviderInfo]
    default: str
    fallback_order: list[str] = Field(default_factory=list)


class ProviderGetRequest(Request):
    name: ProviderName


class ProviderTestRequest(Request):
    name: ProviderName
    model: ModelName | None = None


class ProviderTestReply(Reply):
    name: str
    ok: bool
    model: str | None = None
    latency_ms: float = 0.0
    message: str = ""
