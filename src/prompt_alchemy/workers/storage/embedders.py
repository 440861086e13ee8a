"""Embedders: turn texts into float32 vectors, offline (WordLlama) or through a provider on the bus.

Every vector carries the name of the model that made it; the store never compares vectors of
two models. WordLlama ships its weights inside the wheel, so the embedded default needs no key
and no network; its weights are loaded once per process, lazily, in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from prompt_alchemy.embeddings import (
    WORDLLAMA_DIMENSION,
    WORDLLAMA_MODEL,
    embed_wordllama,
    load_wordllama,
    wordllama_loaded,
)
from prompt_alchemy.errors import BadRequest, ConfigError, ProviderError
from prompt_alchemy.schemas.providers import EmbedRequest
from prompt_alchemy.schemas.registry import PROVIDERS_EMBED

if TYPE_CHECKING:
    from prompt_alchemy.bus import Bus

__all__ = [
    "WORDLLAMA_MODEL",
    "Embedder",
    "FloatVector",
    "ProviderEmbedder",
    "WordLlamaEmbedder",
    "as_unit_vector",
    "provider_model_name",
]

FloatVector = npt.NDArray[np.float32]

# Up to this many characters a batch is embedded on the event loop: that costs less CPU than the
# hand-off to a thread and back (about 0.1 ms, more than embedding a 200-character text), and
# blocks the loop for under half a millisecond. Longer batches go to a thread.
_INLINE_CHARS = 1_000


@runtime_checkable
class Embedder(Protocol):
    """Something that embeds texts. ``dimension`` is valid once ``load()`` has returned."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def load(self) -> None:
        """Make the embedder ready (load weights, learn the dimension). Idempotent."""

    async def embed(self, texts: Sequence[str]) -> list[FloatVector]:
        """One float32 vector per text, in order."""


def as_unit_vector(values: Sequence[float] | npt.NDArray[np.floating[Any]], *, field: str) -> FloatVector:
    """L2-normalised float32 copy; cosine similarity is then a dot product.

    Raises BadRequest naming ``field`` for zero or non-finite vectors.
    """
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    if vector.size == 0:
        raise BadRequest(f"{field} is empty", details={"field": field})
    if not np.all(np.isfinite(vector)):
        raise BadRequest(f"{field} has a component that is not a finite number", details={"field": field})
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not np.isfinite(norm):
        raise BadRequest(f"{field} has no direction (zero vector)", details={"field": field})
    unit: FloatVector = (vector / np.float32(norm)).astype(np.float32, copy=False)
    return unit


class WordLlamaEmbedder:
    """Offline 256-dimension static embeddings (WordLlama l2_supercat), the embedded default."""

    def __init__(self) -> None:
        self._load_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return WORDLLAMA_MODEL

    @property
    def dimension(self) -> int:
        return WORDLLAMA_DIMENSION

    @property
    def loaded(self) -> bool:
        return wordllama_loaded()

    async def load(self) -> None:
        if wordllama_loaded():
            return
        async with self._load_lock:
            await asyncio.to_thread(load_wordllama)

    async def embed(self, texts: Sequence[str]) -> list[FloatVector]:
        if not texts:
            return []
        await self.load()
        batch = list(texts)
        if sum(len(text) for text in batch) <= _INLINE_CHARS:
            matrix = embed_wordllama(batch)
        else:
            matrix = await asyncio.to_thread(embed_wordllama, batch)
        return [np.ascontiguousarray(row, dtype=np.float32) for row in matrix]


def provider_model_name(provider: str, model: str) -> str:
    """The model name a provider embedding is recorded under: ``<provider>/<model>``."""
    return f"{provider}/{model}"


class ProviderEmbedder:
    """Embeddings from a configured provider through ``providers.embed`` on the bus.

    The dimension is given or learned from the provider on ``load()`` (one tiny request);
    a reply of another dimension later is a ProviderError, never a silently mixed index.
    """

    _PROBE_TEXT = "dimension probe"

    def __init__(self, bus: Bus, provider: str, model: str, *, dimension: int | None = None) -> None:
        if not provider or not model:
            raise ConfigError("ProviderEmbedder needs a provider and a model name")
        self._bus = bus
        self.provider = provider
        self.model = model
        self._dimension = dimension
        self._timeout_s = 30.0

    @property
    def name(self) -> str:
        return provider_model_name(self.provider, self.model)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise ConfigError(f"the dimension of {self.name} is known only after load()")
        return self._dimension

    async def load(self) -> None:
        if self._dimension is None:
            await self.embed([self._PROBE_TEXT])

    async def embed(self, texts: Sequence[str]) -> list[FloatVector]:
        if not texts:
            return []
        reply = await self._bus.request(
            PROVIDERS_EMBED,
            EmbedRequest(provider=self.provider, model=self.model, texts=list(texts)),
            timeout=self._timeout_s,
        )
        if len(reply.vectors) != len(texts):
            raise ProviderError(
                f"{self.name} returned {len(reply.vectors)} vectors for {len(texts)} texts", retriable=True
            )
        vectors = [np.asarray(row, dtype=np.float32) for row in reply.vectors]
        for vector in vectors:
            if self._dimension is None:
                self._dimension = int(vector.size)
            if vector.size != self._dimension:
                raise ProviderError(
                    f"{self.name} returned a {vector.size}-dimension vector, expected {self._dimension}",
                    details={"model": self.name},
                )
        return vectors
