"""Contracts of the storage worker: prompts with lineage, semantic search, embeddings, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from prompt_alchemy.schemas.common import (
    MAX_PROMPT_CHARS,
    Identifier,
    NonEmptyText,
    Persona,
    Phase,
    Reply,
    Request,
    Tag,
    TargetModel,
    Vector,
    utc_now,
)

__all__ = [
    "MAX_COUNT",
    "AggregatesRequest",
    "DeleteReply",
    "DeleteRequest",
    "EmbeddingsReply",
    "EmbeddingsRequest",
    "ExportReply",
    "ExportRequest",
    "GetReply",
    "GetRequest",
    "ImportLineError",
    "ImportReply",
    "ImportRequest",
    "Lineage",
    "LineageReply",
    "LineageRequest",
    "PromptRecord",
    "PromptVersion",
    "ReembedReply",
    "ReembedRequest",
    "SearchBatchReply",
    "SearchBatchRequest",
    "SearchFilters",
    "SearchHit",
    "SearchReply",
    "SearchRequest",
    "StorageStats",
    "StorageStatsRequest",
    "StoreBatchItem",
    "StoreBatchReply",
    "StoreBatchRequest",
    "StoreReply",
    "StoreRequest",
    "UpdateReply",
    "UpdateRequest",
]

Source = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")]


class Lineage(Request):
    """Where a prompt came from: enough to replay, audit and learn from it."""

    parent_id: Identifier | None = None
    generation_request_id: Identifier | None = None
    phase: Phase | None = None
    chain: int | None = Field(default=None, ge=0)
    provider: str | None = None
    model: str | None = None
    persona: Persona | None = None
    target_model: TargetModel | None = None
    optimiser_step: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    latency_ms: float = Field(default=0.0, ge=0.0)


class PromptRecord(Reply):
    id: str
    content: str
    content_hash: str
    version: int = 1
    input: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str = "generate"
    lineage: Lineage = Field(default_factory=Lineage)
    embedding_model: str | None = None
    embedding_dim: int | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    usage_count: int = 0
    rating_count: int = 0
    mean_rating: float | None = None
    relevance_score: float | None = None


class PromptVersion(Reply):
    version: int
    content: str
    content_hash: str
    updated_at: datetime


class StoreRequest(Request):
    """Store a prompt. A prompt whose content hash exists already returns the existing id."""

    content: NonEmptyText
    input: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    source: Source = "generate"
    lineage: Lineage = Field(default_factory=Lineage)
    embedding: Vector | None = None
    embedding_model: str | None = None

    @model_validator(mode="after")
    def _embedding_has_model(self) -> StoreRequest:
        if self.embedding is not None and not self.embedding_model:
            raise ValueError("embedding_model is required when embedding is given")
        return self


class StoreReply(Reply):
    id: str
    created: bool
    record: PromptRecord


class StoreBatchItem(Request):
    """One prompt of a batch. ``parent``: the index of an earlier item of the batch, whose id
    becomes this prompt's ``lineage.parent_id`` (a generation's chains, stored in one request)."""

    prompt: StoreRequest
    parent: int | None = Field(default=None, ge=0)


MAX_STORE_BATCH = 64


class StoreBatchRequest(Request):
    """Store prompts in order, each as ``storage.store`` would (deduplicated by content)."""

    items: list[StoreBatchItem] = Field(min_length=1, max_length=MAX_STORE_BATCH)

    @model_validator(mode="after")
    def _parents_come_first(self) -> StoreBatchRequest:
        for index, item in enumerate(self.items):
            if item.parent is None:
                continue
            if item.parent >= index:
                raise ValueError(f"items[{index}].parent must be the index of an earlier item, not {item.parent}")
            if item.prompt.lineage.parent_id is not None:
                raise ValueError(f"items[{index}] names its parent twice: give parent or lineage.parent_id")
        return self


class StoreBatchReply(Reply):
    results: list[StoreReply]
    """One per item, in the order of the request."""


class GetRequest(Request):
    id: Identifier
    include_history: bool = False


class GetReply(Reply):
    record: PromptRecord
    history: list[PromptVersion] = Field(default_factory=list)


MAX_COUNT = 2**53  # a count any store (SQLite INTEGER, JSON numbers) holds exactly, increments included


class UpdateRequest(Request):
    """Edit content or tags; the old content stays reachable as a version.

    The feedback aggregates are not editable here: only learning writes them (``AggregatesRequest``).
    """

    id: Identifier
    content: NonEmptyText | None = None
    tags: list[Tag] | None = Field(default=None, max_length=32)


class AggregatesRequest(Request):
    """Learning's per-prompt aggregates (absolute values) written back to storage.

    A subject of its own, so that no front door that forwards ``storage.update`` can reach it and a
    NATS deployment can grant it to the learning service alone.
    """

    id: Identifier
    usage_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    increment_usage: int = Field(default=0, ge=0, le=1_000_000)
    rating_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    mean_rating: float | None = Field(default=None, ge=1.0, le=5.0)
    relevance_score: float | None = Field(default=None, ge=0.0, le=1.0)


class UpdateReply(Reply):
    record: PromptRecord


class DeleteRequest(Request):
    id: Identifier


class DeleteReply(Reply):
    id: str
    deleted: bool


# A filter value is matched as a RediSearch tag: no control characters (they are a query syntax error there).
FilterName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class SearchFilters(Request):
    phase: Phase | None = None
    provider: FilterName | None = None
    persona: Persona | None = None
    target_model: TargetModel | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    created_since: datetime | None = None
    source: Source | None = None
    parent_id: Identifier | None = None


class SearchRequest(Request):
    """Semantic search by ``query`` text or a ``vector``; ``text`` is a plain substring match.

    With neither query nor vector the newest prompts matching the filters come first.
    """

    query: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)] | None = None
    vector: Vector | None = None
    embedding_model: str | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    min_similarity: float = Field(default=0.0, ge=-1.0, le=1.0)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    limit: int = Field(default=10, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None

    @model_validator(mode="after")
    def _one_of_query_or_vector(self) -> SearchRequest:
        if self.query is not None and self.vector is not None:
            raise ValueError("give either query or vector, not both")
        if self.vector is not None and not self.embedding_model:
            raise ValueError("embedding_model is required when vector is given")
        return self


class SearchHit(Reply):
    record: PromptRecord
    similarity: float | None = None


class SearchReply(Reply):
    hits: list[SearchHit]
    next_cursor: str | None = None
    embedding_model: str | None = None


class SearchBatchRequest(Request):
    """Several searches in one request (a generation's history, one per phase); a query text that
    repeats is embedded once."""

    searches: list[SearchRequest] = Field(min_length=1, max_length=16)


class SearchBatchReply(Reply):
    replies: list[SearchReply]
    """One per search, in the order of the request."""


class LineageRequest(Request):
    id: Identifier
    direction: Literal["ancestors", "descendants", "both"] = "both"
    max_depth: int = Field(default=16, ge=1, le=64)


class LineageReply(Reply):
    id: str
    ancestors: list[PromptRecord] = Field(default_factory=list)
    descendants: list[PromptRecord] = Field(default_factory=list)


class EmbeddingsRequest(Request):
    texts: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]] = Field(
        min_length=1, max_length=256
    )
    model: str | None = None


class EmbeddingsReply(Reply):
    model: str
    dimension: int
    vectors: list[list[float]]
    cached: list[bool] = Field(default_factory=list)


class ExportRequest(Request):
    """One page of a JSON Lines export; page on with ``cursor`` until it comes back None."""

    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    include_embeddings: bool = True
    filters: SearchFilters = Field(default_factory=SearchFilters)


class ExportReply(Reply):
    lines: list[str]
    next_cursor: str | None = None


class ImportRequest(Request):
    lines: list[Annotated[str, StringConstraints(min_length=2, max_length=4 * MAX_PROMPT_CHARS)]] = Field(
        min_length=1, max_length=1000
    )


class ImportLineError(Reply):
    line: int
    message: str


class ImportReply(Reply):
    imported: int
    duplicates: int
    errors: list[ImportLineError] = Field(default_factory=list)


class ReembedRequest(Request):
    """Move every stored vector to another embedding model."""

    model: str


class ReembedReply(Reply):
    model: str
    dimension: int
    reembedded: int


class StorageStatsRequest(Request):
    pass


class StorageStats(Reply):
    backend: str
    prompts: int
    versions: int
    embedding_models: dict[str, int] = Field(default_factory=dict)
    embedding_cache_entries: int = 0
    size_bytes: int | None = None
