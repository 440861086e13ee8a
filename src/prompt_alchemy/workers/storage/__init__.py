"""The storage worker: prompts with lineage and history, embeddings and semantic search.

Two backends behind one ``PromptStore`` contract: ``SqlitePromptStore`` (embedded default,
exact numpy search) and ``RedisPromptStore`` (shared by any number of replicas, redisvl HNSW).
``StorageWorker`` serves them on the bus.
"""

from typing import TYPE_CHECKING, Any

from prompt_alchemy.workers.storage.backend import Embedding, EmbeddingSpec, PromptStore, StoredPrompt
from prompt_alchemy.workers.storage.embedders import (
    WORDLLAMA_MODEL,
    Embedder,
    ProviderEmbedder,
    WordLlamaEmbedder,
)
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.service import STORAGE_SERVICE_NAME, StorageWorker, build_storage_service
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore
from prompt_alchemy.workers.storage.vector_index import ExactVectorIndex

if TYPE_CHECKING:
    from prompt_alchemy.workers.storage.redis_schema import HnswParams
    from prompt_alchemy.workers.storage.redis_store import RedisPromptStore

_REDIS_EXPORTS = {
    "HnswParams": "prompt_alchemy.workers.storage.redis_schema",
    "RedisPromptStore": "prompt_alchemy.workers.storage.redis_store",
}


def __getattr__(name: str) -> Any:
    """The Redis backend loads on first use (PEP 562): redis and redisvl cost an embedded start time."""
    module = _REDIS_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "STORAGE_SERVICE_NAME",
    "WORDLLAMA_MODEL",
    "Embedder",
    "Embedding",
    "EmbeddingSpec",
    "ExactVectorIndex",
    "HnswParams",
    "PromptMemory",
    "PromptStore",
    "ProviderEmbedder",
    "RedisPromptStore",
    "SqlitePromptStore",
    "StorageWorker",
    "StoredPrompt",
    "WordLlamaEmbedder",
    "build_storage_service",
]
