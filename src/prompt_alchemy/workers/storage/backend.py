"""The contract both storage backends implement: persistence and vector search, nothing else.

Embedding is not the store's business: callers (``PromptMemory``) hand it unit vectors tagged
with their model. The store records one *active* embedding model; only vectors of that model are
searched, so vectors of two models are never compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.storage import (
    DeleteReply,
    DeleteRequest,
    ExportRequest,
    GetReply,
    GetRequest,
    LineageReply,
    LineageRequest,
    PromptRecord,
    PromptVersion,
    SearchReply,
    SearchRequest,
    StorageStats,
    StoreReply,
    StoreRequest,
    UpdateReply,
)
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.records import PromptEdit

__all__ = [
    "Embedding",
    "EmbeddingSpec",
    "ExportPage",
    "ImportOutcome",
    "ImportStatus",
    "PromptStore",
    "StoredPrompt",
    "check_embedding",
]


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    """An embedding model and the dimension of its vectors."""

    model: str
    dimension: int


@dataclass(frozen=True, slots=True)
class Embedding:
    """A unit vector and the model that made it."""

    model: str
    vector: FloatVector

    @property
    def spec(self) -> EmbeddingSpec:
        return EmbeddingSpec(self.model, int(self.vector.size))


@dataclass(slots=True)
class StoredPrompt:
    """A prompt as export and import move it: record, older versions, vector."""

    record: PromptRecord
    history: list[PromptVersion] = field(default_factory=list)
    embedding: Embedding | None = None


@dataclass(frozen=True, slots=True)
class ExportPage:
    prompts: list[StoredPrompt]
    next_cursor: str | None


class ImportStatus(StrEnum):
    IMPORTED = "imported"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    status: ImportStatus
    message: str = ""


class PromptStore(Protocol):
    """Persistence of prompts with lineage, history, vectors and the embedding cache.

    Unknown ids raise ``NotFound``; a dimension or model that does not match the active model
    raises ``BadRequest`` naming the field; a backend that cannot be reached raises the
    retriable ``Unavailable``.
    """

    @property
    def backend(self) -> str: ...

    async def open(self) -> None:
        """Connect and create what is missing (tables, index). Idempotent."""

    async def close(self) -> None: ...

    async def active_model(self) -> EmbeddingSpec | None:
        """The model whose vectors are searched; None for a store that never had one."""

    async def set_active_model(self, spec: EmbeddingSpec) -> None:
        """Make ``spec`` the searched model (re-indexing the vectors already of that model)."""

    async def find_by_hash(self, content_hash: str) -> PromptRecord | None: ...

    async def find_many_for_store(
        self, content_hashes: Sequence[str]
    ) -> tuple[list[PromptRecord | None], EmbeddingSpec | None]:
        """What storing prompts reads first, together: the prompt already holding each content (in
        order; None where none does) and the active model."""

    async def store(self, request: StoreRequest, embedding: Embedding | None) -> StoreReply:
        """Insert, or return the existing prompt with the same content (created=False)."""

    async def store_many(self, items: Sequence[tuple[StoreRequest, Embedding | None]]) -> list[StoreReply]:
        """``store`` for each item, together (one transaction on Redis); the replies in order. The
        items are independent: none names another as its parent."""

    async def get(self, request: GetRequest) -> GetReply: ...

    async def update(self, request: PromptEdit, embedding: Embedding | None) -> UpdateReply:
        """Apply ``records.apply_update``; ``embedding`` is the new content's vector, if any."""

    async def delete(self, request: DeleteRequest) -> DeleteReply: ...

    async def search(self, request: SearchRequest, query: Embedding | None) -> SearchReply:
        """Filter, then rank by similarity to ``query`` (or newest first without it); paginated."""

    async def lineage(self, request: LineageRequest) -> LineageReply: ...

    async def export_page(self, request: ExportRequest) -> ExportPage:
        """Oldest first, keyset-paginated; embeddings when ``include_embeddings``."""

    async def import_prompts(self, prompts: Sequence[StoredPrompt]) -> list[ImportOutcome]:
        """Insert keeping ids, history and timestamps; one outcome per prompt, in order."""

    async def ids_not_embedded_with(self, model: str) -> list[str]:
        """Ids (sorted) of the prompts whose vector is not of ``model`` or that have none."""

    async def contents(self, prompt_ids: Sequence[str]) -> dict[str, str]:
        """Content of each existing prompt among ``prompt_ids``."""

    async def put_embeddings(self, vectors: Mapping[str, Embedding]) -> int:
        """Replace the vectors of existing prompts; returns how many were replaced."""

    async def cached_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, FloatVector]: ...

    async def active_and_cached(
        self, default_model: str, text_hashes: Sequence[str]
    ) -> tuple[EmbeddingSpec | None, dict[str, FloatVector]]:
        """``active_model`` and ``cached_embeddings`` of its model (``default_model`` for a store without
        one) together: what embedding a query text reads first (one round trip)."""

    async def cache_embeddings(self, model: str, vectors: Mapping[str, FloatVector]) -> None: ...

    async def stats(self) -> StorageStats: ...

    async def health(self) -> dict[str, CheckResult]: ...


def check_embedding(active: EmbeddingSpec | None, embedding: Embedding, *, vector_field: str) -> None:
    """BadRequest unless ``embedding`` is of the active model and dimension."""
    if active is None:
        return
    if embedding.model != active.model:
        raise BadRequest(
            f"embedding_model {embedding.model!r} is not the store's model {active.model!r}",
            details={"field": "embedding_model", "expected": active.model},
        )
    if embedding.vector.size != active.dimension:
        raise BadRequest(
            f"{vector_field} has {embedding.vector.size} dimensions, the model {active.model!r} has {active.dimension}",
            details={"field": vector_field, "expected": active.dimension},
        )
