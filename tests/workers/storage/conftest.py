"""Storage fixtures: one ``memory`` per backend (SQLite, Redis) and a test-only embedder.

The Redis store of every test has its own key prefix, so tests sharing the session's Redis
never see each other's prompts; the prefix is dropped at teardown.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import FloatVector, WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

BACKENDS = ["sqlite", "redis"]


class HashingEmbedder:
    """Test helper only: bag-of-words hashed into ``dimension`` buckets (deterministic, no model).

    Texts sharing words are close, which is all the re-embedding tests need; the product default
    is WordLlama.
    """

    def __init__(self, dimension: int = 16) -> None:
        self._dimension = dimension
        self.calls = 0

    @property
    def name(self) -> str:
        return f"test-hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    async def load(self) -> None:
        return None

    async def embed(self, texts: Sequence[str]) -> list[FloatVector]:
        self.calls += 1
        vectors = []
        for text in texts:
            vector = np.full(self._dimension, 1e-3, dtype=np.float32)
            for word in text.lower().split():
                bucket = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little") % self._dimension
                vector[bucket] += 1.0
            vectors.append(vector)
        return vectors


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store_factory(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str], PromptStore]]:
    """Makes stores of the parametrised backend; ``name`` picks a separate store of that kind."""
    made: list[PromptStore] = []

    def make(name: str = "main") -> PromptStore:
        store: PromptStore
        if backend_kind == "sqlite":
            store = SqlitePromptStore(tmp_path / name)
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            store = RedisPromptStore(server.url, prefix=f"test-{uuid.uuid4().hex[:12]}-{name}")
        made.append(store)
        return store

    yield make
    for store in made:
        if isinstance(store, RedisPromptStore):
            await store.drop()
        await store.close()


@pytest.fixture
async def memory(store_factory: Callable[[str], PromptStore]) -> AsyncIterator[PromptMemory]:
    """PromptMemory over a fresh store of the parametrised backend, WordLlama as its model."""
    prompt_memory = PromptMemory(store_factory("main"), WordLlamaEmbedder(), extra_embedders=[HashingEmbedder()])
    await prompt_memory.start()
    yield prompt_memory
    await prompt_memory.close()


@pytest.fixture
def other_backend_memory(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], Awaitable[PromptMemory]]:
    """A PromptMemory on the OTHER backend (for export/import round trips); closed by the test."""

    async def make() -> PromptMemory:
        store: PromptStore
        if backend_kind == "redis":
            store = SqlitePromptStore(tmp_path / "other")
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            store = RedisPromptStore(server.url, prefix=f"test-{uuid.uuid4().hex[:12]}-other")
        prompt_memory = PromptMemory(store, WordLlamaEmbedder())
        await prompt_memory.start()
        return prompt_memory

    return make
