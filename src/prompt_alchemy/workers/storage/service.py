"""The storage worker on the bus: every STORAGE_* contract mapped onto ``PromptMemory``.

Each handler runs within the caller's deadline (``DeadlineExceeded`` when it passes); store
errors are already contract errors (NotFound, BadRequest, Conflict, Unavailable) and travel to
the caller as they are. ``<service>.health`` and ADR-32 discovery come from ``ServiceRunner``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus import Bus, RequestContext, RequestHandler, ServiceRunner
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas.registry import (
    STORAGE_AGGREGATES,
    STORAGE_CACHE_LOOKUP,
    STORAGE_CACHE_PUT,
    STORAGE_DELETE,
    STORAGE_EMBEDDINGS,
    STORAGE_EXPORT,
    STORAGE_GET,
    STORAGE_IMPORT,
    STORAGE_LABEL_GET,
    STORAGE_LABEL_HISTORY,
    STORAGE_LABEL_POLICIES,
    STORAGE_LABEL_SERVED,
    STORAGE_LABEL_SET,
    STORAGE_LINEAGE,
    STORAGE_NAME_GET,
    STORAGE_NAME_SET,
    STORAGE_REEMBED,
    STORAGE_SEARCH,
    STORAGE_STATS,
    STORAGE_STORE,
    STORAGE_UPDATE,
)
from prompt_alchemy.schemas.storage import DeleteReply, DeleteRequest, StorageStats, StorageStatsRequest
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import Embedder, WordLlamaEmbedder
from prompt_alchemy.workers.storage.generation_cache import GenerationCache, GenerationCacheStats, GenerationCacheStore
from prompt_alchemy.workers.storage.name_store import NameStore
from prompt_alchemy.workers.storage.names import NameRegistry
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.sqlite_generation_cache import SqliteGenerationCache
from prompt_alchemy.workers.storage.sqlite_names import SqliteNameStore
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

__all__ = [
    "STORAGE_SERVICE_NAME",
    "STORAGE_SERVICE_VERSION",
    "build_storage_service",
    "generation_cache_for",
    "name_store_for",
]

STORAGE_SERVICE_NAME = "storage"
STORAGE_SERVICE_VERSION = "0.1.0"

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)


def _within_deadline(operation: Callable[[ReqT], Awaitable[RepT]]) -> RequestHandler[ReqT, RepT]:
    async def handle(request: ReqT, context: RequestContext) -> RepT:
        remaining = context.remaining()
        try:
            async with asyncio.timeout(None if remaining is None else max(remaining, 0.0)) as scope:
                return await operation(request)
        except TimeoutError as error:
            if scope.expired():
                raise DeadlineExceeded(f"the caller's deadline passed during {context.subject}") from error
            raise

    return handle


def name_store_for(store: PromptStore) -> NameStore:
    """Named prompts live beside the prompts: the same SQLite folder, the same Redis and prefix."""
    if isinstance(store, SqlitePromptStore):
        return SqliteNameStore(store)
    # redis and redisvl load only for a Redis store: an embedded (SQLite) start does not pay for them
    from prompt_alchemy.workers.storage.redis_names import RedisNameStore
    from prompt_alchemy.workers.storage.redis_store import RedisPromptStore

    if isinstance(store, RedisPromptStore):
        return RedisNameStore(store.client, prefix=store.keys.prefix, target=store.target)
    raise TypeError(f"no name store for a {type(store).__name__}: pass names=")


def generation_cache_for(store: PromptStore) -> GenerationCacheStore:
    """The generation cache beside the prompts: redisvl's SemanticCache on Redis, numpy embedded."""
    if isinstance(store, SqlitePromptStore):
        return SqliteGenerationCache(store)
    from prompt_alchemy.workers.storage.redis_generation_cache import RedisGenerationCache
    from prompt_alchemy.workers.storage.redis_store import RedisPromptStore

    if isinstance(store, RedisPromptStore):
        return RedisGenerationCache(store.client, store.target, prefix=store.keys.prefix)
    raise TypeError(f"no generation cache for a {type(store).__name__}: pass generation_cache=")


def build_storage_service(
    bus: Bus,
    store: PromptStore,
    embedder: Embedder | None = None,
    *,
    extra_embedders: Sequence[Embedder] = (),
    concurrency: int = 32,
    memory: PromptMemory | None = None,
    names: NameStore | None = None,
    generation_cache: GenerationCacheStore | None = None,
    cache_stats: GenerationCacheStats | None = None,
) -> ServiceRunner:
    """A ServiceRunner serving every storage subject over ``store``; ``start()`` it to serve.

    ``embedder`` (WordLlama when None) is the model a new store starts with; a store keeps the
    model it has. ``<provider>/<model>`` embedders are reached through ``bus``. The caller
    owns ``store``: stop the runner, then ``await store.close()``. Named prompts and labels are
    kept in ``names``, by default beside the prompts (``name_store_for``) and closed with them;
    so is the semantic cache of generations (``generation_cache_for``), whose hit and miss
    counts go to ``cache_stats`` when given.
    """
    memory = memory or PromptMemory(store, embedder or WordLlamaEmbedder(), bus=bus, extra_embedders=extra_embedders)
    runner = ServiceRunner(
        bus,
        name=STORAGE_SERVICE_NAME,
        version=STORAGE_SERVICE_VERSION,
        description="Prompts with lineage, history and embeddings; semantic search; JSON Lines export/import.",
        metadata={"backend": store.backend},
        health=memory.health,
        default_concurrency=concurrency,
    )

    async def stats(_request: StorageStatsRequest) -> StorageStats:
        return await memory.stats()

    registry = NameRegistry(names or name_store_for(store), memory, bus=bus)
    cache = GenerationCache(generation_cache or generation_cache_for(store), memory)
    if cache_stats is not None:
        cache.stats = cache_stats

    async def delete(request: DeleteRequest) -> DeleteReply:
        reply = await memory.delete(request)
        await cache.prompt_deleted(request.id)
        return reply

    runner.add_endpoint(STORAGE_STORE, _within_deadline(memory.store_prompt))
    runner.add_endpoint(STORAGE_GET, _within_deadline(memory.get))
    runner.add_endpoint(STORAGE_UPDATE, _within_deadline(memory.update))
    runner.add_endpoint(STORAGE_AGGREGATES, _within_deadline(memory.set_aggregates))
    runner.add_endpoint(STORAGE_DELETE, _within_deadline(delete))
    runner.add_endpoint(STORAGE_SEARCH, _within_deadline(memory.search))
    runner.add_endpoint(STORAGE_LINEAGE, _within_deadline(memory.lineage))
    runner.add_endpoint(STORAGE_EMBEDDINGS, _within_deadline(memory.embeddings))
    runner.add_endpoint(STORAGE_EXPORT, _within_deadline(memory.export), concurrency=4)
    runner.add_endpoint(STORAGE_IMPORT, _within_deadline(memory.import_lines), concurrency=4)
    # Re-embedding a whole store is long by nature: one at a time, and only the caller's deadline bounds it.
    runner.add_endpoint(STORAGE_REEMBED, _within_deadline(memory.reembed), concurrency=1)
    runner.add_endpoint(STORAGE_STATS, _within_deadline(stats), concurrency=4)
    runner.add_endpoint(STORAGE_NAME_SET, _within_deadline(registry.name_set))
    runner.add_endpoint(STORAGE_NAME_GET, _within_deadline(registry.name_get))
    runner.add_endpoint(STORAGE_LABEL_SET, _within_deadline(registry.label_set))
    runner.add_endpoint(STORAGE_LABEL_GET, _within_deadline(registry.label_get))
    runner.add_endpoint(STORAGE_LABEL_HISTORY, _within_deadline(registry.label_history))
    runner.add_endpoint(STORAGE_LABEL_SERVED, _within_deadline(registry.label_served))
    runner.add_endpoint(STORAGE_LABEL_POLICIES, _within_deadline(registry.label_policies), concurrency=2)
    runner.add_endpoint(STORAGE_CACHE_LOOKUP, _within_deadline(cache.lookup))
    runner.add_endpoint(STORAGE_CACHE_PUT, _within_deadline(cache.put))
    return runner
