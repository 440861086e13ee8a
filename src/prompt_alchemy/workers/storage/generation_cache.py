"""The semantic cache of generations: ideas embedded by storage's model, answers kept per shape.

``GenerationCache`` is what the storage worker serves: it embeds the idea with the store's active
model and asks its ``GenerationCacheStore`` for the nearest entry of the same shape and model at
or above the requested similarity that has not expired. Entries remember the stored prompts they
name; deleting one of those prompts drops them. Hits and misses are counted for ``/metrics``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.generation_cache import CacheLookupReply, CacheLookupRequest, CachePutReply, CachePutRequest
from prompt_alchemy.schemas.storage import EmbeddingsRequest
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory

__all__ = ["CacheEntry", "CacheMatch", "GenerationCache", "GenerationCacheStats", "GenerationCacheStore", "shape_key"]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    request_id: str
    shape: str
    """``shape_key``: the request's shape and the embedding model together."""
    idea: str
    vector: FloatVector
    reply_json: str
    prompt_ids: tuple[str, ...]
    ttl_s: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class CacheMatch:
    request_id: str
    similarity: float
    reply_json: str


class GenerationCacheStore(Protocol):
    async def nearest(self, shape: str, vector: FloatVector, min_similarity: float, now: float) -> CacheMatch | None:
        """The most similar unexpired entry of ``shape`` at or above ``min_similarity``."""

    async def put(self, entry: CacheEntry) -> None:
        """Insert or replace (by request id) an entry."""

    async def drop_prompt(self, prompt_id: str) -> int:
        """Drop every entry naming ``prompt_id``; how many went."""

    async def count(self) -> int: ...


def shape_key(shape: str, model: str) -> str:
    """Entries compare only within one request shape and one embedding model."""
    return hashlib.sha256(f"{shape}\x00{model}".encode()).hexdigest()[:32]


@dataclass(slots=True)
class GenerationCacheStats:
    hits: int = 0
    misses: int = 0
    stored: int = 0
    invalidated: int = 0


class GenerationCache:
    def __init__(
        self, store: GenerationCacheStore, memory: PromptMemory, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.memory = memory
        self.stats = GenerationCacheStats()
        self._clock = clock

    async def _embed(self, idea: str) -> tuple[str, FloatVector]:
        embedded = await self.memory.embeddings(EmbeddingsRequest(texts=[idea]))
        vector = np.asarray(embedded.vectors[0], dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return embedded.model, vector / norm if norm > 0 else vector

    async def lookup(self, request: CacheLookupRequest) -> CacheLookupReply:
        model, vector = await self._embed(request.idea)
        match = await self.store.nearest(shape_key(request.shape, model), vector, request.min_similarity, self._clock())
        if match is None:
            self.stats.misses += 1
            return CacheLookupReply(hit=False)
        self.stats.hits += 1
        return CacheLookupReply(
            hit=True,
            request_id=match.request_id,
            similarity=match.similarity,
            reply=GenerateReply.model_validate_json(match.reply_json),
        )

    async def put(self, request: CachePutRequest) -> CachePutReply:
        model, vector = await self._embed(request.idea)
        entry = CacheEntry(
            request_id=request.request_id,
            shape=shape_key(request.shape, model),
            idea=request.idea,
            vector=vector,
            reply_json=request.reply.model_dump_json(),
            prompt_ids=tuple(dict.fromkeys(request.prompt_ids)),
            ttl_s=request.ttl_s,
            expires_at=self._clock() + request.ttl_s,
        )
        await self.store.put(entry)
        self.stats.stored += 1
        return CachePutReply(stored=True)

    async def prompt_deleted(self, prompt_id: str) -> None:
        self.stats.invalidated += await self.store.drop_prompt(prompt_id)
