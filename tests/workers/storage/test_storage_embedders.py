"""Embedders: offline WordLlama, and provider embeddings through ``providers.embed`` on the bus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.errors import ProviderError
from prompt_alchemy.schemas.providers import EmbedReply, EmbedRequest
from prompt_alchemy.schemas.storage import ReembedRequest, SearchRequest, StoreRequest
from prompt_alchemy.workers.storage.embedders import (
    WORDLLAMA_MODEL,
    Embedder,
    ProviderEmbedder,
    WordLlamaEmbedder,
)
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore


async def test_wordllama_is_offline_256_dims_deterministic_and_shared() -> None:
    first, second = WordLlamaEmbedder(), WordLlamaEmbedder()
    assert isinstance(first, Embedder)
    vectors = await first.embed(["a cat sat on the mat", "quantum field theory"])
    again = await second.embed(["a cat sat on the mat"])
    assert first.name == WORDLLAMA_MODEL
    assert [vector.shape for vector in vectors] == [(256,), (256,)]
    assert vectors[0].dtype == np.float32
    np.testing.assert_array_equal(vectors[0], again[0])
    assert float(np.linalg.norm(vectors[0])) == pytest.approx(1.0, abs=1e-5)
    assert first.loaded
    assert second.loaded
    assert await first.embed([]) == []


def fake_vector(text: str, dimension: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return [float(x) for x in np.random.default_rng(seed).normal(size=dimension)]


async def serve_fake_provider(bus: Bus, dimension: int, calls: list[EmbedRequest]) -> None:
    """A stand-in for the providers worker (another worker's code must not be imported here)."""

    async def embed(request: EmbedRequest, _context: RequestContext) -> EmbedReply:
        calls.append(request)
        dim = dimension if request.texts[0] != "odd one" else dimension + 1
        return EmbedReply(
            provider=request.provider or "fake",
            model=request.model or "m",
            dimension=dim,
            vectors=[fake_vector(text, dim) for text in request.texts],
        )

    await bus.serve(schemas.PROVIDERS_EMBED, embed)


async def test_provider_embedder_learns_its_dimension_and_refuses_another(bus: Bus) -> None:
    calls: list[EmbedRequest] = []
    await serve_fake_provider(bus, 12, calls)
    embedder = ProviderEmbedder(bus, "fake", "emb-1")
    assert embedder.name == "fake/emb-1"
    await embedder.load()
    assert embedder.dimension == 12
    vectors = await embedder.embed(["x", "y"])
    assert [vector.shape for vector in vectors] == [(12,), (12,)]
    assert (calls[-1].provider, calls[-1].model, calls[-1].texts) == ("fake", "emb-1", ["x", "y"])
    with pytest.raises(ProviderError, match="13-dimension"):
        await embedder.embed(["odd one"])


async def test_reembed_to_a_provider_model_through_the_bus(bus: Bus, tmp_path: Path) -> None:
    calls: list[EmbedRequest] = []
    await serve_fake_provider(bus, 24, calls)
    memory = PromptMemory(SqlitePromptStore(tmp_path), WordLlamaEmbedder(), bus=bus)
    try:
        stored = [(await memory.store_prompt(StoreRequest(content=f"prompt {n}"))).id for n in range(5)]
        reply = await memory.reembed(ReembedRequest(model="fake/emb-2"))
        assert (reply.model, reply.dimension, reply.reembedded) == ("fake/emb-2", 24, 5)
        search = await memory.search(
            SearchRequest(vector=fake_vector("prompt 3", 24), embedding_model="fake/emb-2", limit=1)
        )
        assert search.hits[0].record.id == stored[3]
        assert search.hits[0].similarity == pytest.approx(1.0, abs=1e-5)
        # a query text is embedded by the store's model, i.e. through the provider now
        before = len(calls)
        assert (await memory.search(SearchRequest(query="prompt 1", limit=1))).hits[0].record.id == stored[1]
        assert len(calls) == before + 1
    finally:
        await memory.close()
