"""The storage worker on the bus: every STORAGE_* contract mapped onto ``PromptMemory``.

Store errors are already contract errors (NotFound, BadRequest, Conflict, Unavailable) and
travel to the caller as they are. The caller's deadline bounds each handler through the bus's
middleware chain (composed by the runtime); ``<service>.health`` and ADR-32 discovery come from
``ServiceRunner``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus import Bus, RequestContext, RequestHandler, ServiceRunner
from prompt_alchemy.errors import Unavailable
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.registry import (
    STORAGE_AGGREGATES,
    STORAGE_CACHE_LOOKUP,
    STORAGE_CACHE_PUT,
    STORAGE_DELETE,
    STORAGE_EMBEDDINGS,
    STORAGE_EXPORT,
    STORAGE_GET,
    STORAGE_HEALTH,
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
    STORAGE_SEARCH_BATCH,
    STORAGE_STATS,
    STORAGE_STORE,
    STORAGE_STORE_BATCH,
    STORAGE_UPDATE,
)
from prompt_alchemy.schemas.storage import DeleteReply, DeleteRequest, StorageStats, StorageStatsRequest
from prompt_alchemy.workers.lifecycle import WORKER_VERSION, Worker
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
    "StorageWorker",
    "build_storage_service",
    "generation_cache_for",
    "name_store_for",
]

log = logging.getLogger(__name__)

STORAGE_SERVICE_NAME = "storage"

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)


def _handler(operation: Callable[[ReqT], Awaitable[RepT]]) -> RequestHandler[ReqT, RepT]:
    """A store operation as a bus handler: storage needs nothing of the request's context."""

    async def handle(request: ReqT, _context: RequestContext) -> RepT:
        return await operation(request)

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


class StorageWorker(Worker):
    """The storage worker over ``store`` (the caller's: it closes it after ``stop()``).

    ``embedder`` (WordLlama when None) is the model a new store starts with; a store keeps the
    model it has. ``<provider>/<model>`` embedders are reached through ``bus``. Named prompts
    and labels are kept in ``names``, by default beside the prompts (``name_store_for``) and
    closed with them; so is the semantic cache of generations (``generation_cache_for``), whose
    hit and miss counts go to ``cache_stats`` when given.
    """

    name = STORAGE_SERVICE_NAME

    def __init__(
        self,
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
    ) -> None:
        super().__init__()
        self.store = store
        self.memory = memory or PromptMemory(
            store, embedder or WordLlamaEmbedder(), bus=bus, extra_embedders=extra_embedders
        )
        self.service = _service(
            bus,
            store,
            self.memory,
            concurrency=concurrency,
            names=names,
            generation_cache=generation_cache,
            cache_stats=cache_stats,
        )

    async def _open(self, resources: AsyncExitStack) -> None:
        try:
            await self.memory.start()
        except Unavailable as error:  # serve anyway: the store opens on first use once it is back
            log.warning("storage starts without its store: %s", error)
        await self.service.start()
        resources.push_async_callback(self.service.stop)

    async def health(self) -> dict[str, CheckResult]:
        return await self.memory.health()


build_storage_service = StorageWorker
"""The storage worker's constructor by its older name (``async with`` it, or ``start()``/``stop()``)."""


def _service(
    bus: Bus,
    store: PromptStore,
    memory: PromptMemory,
    *,
    concurrency: int,
    names: NameStore | None,
    generation_cache: GenerationCacheStore | None,
    cache_stats: GenerationCacheStats | None,
) -> ServiceRunner:
    runner = ServiceRunner(
        bus,
        name=STORAGE_SERVICE_NAME,
        version=WORKER_VERSION,
        description="Prompts with lineage, history and embeddings; semantic search; JSON Lines export/import.",
        metadata={"backend": store.backend},
        health=memory.health,
        health_contract=STORAGE_HEALTH,
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

    runner.add_endpoint(STORAGE_STORE, _handler(memory.store_prompt))
    runner.add_endpoint(STORAGE_STORE_BATCH, _handler(memory.store_batch))
    runner.add_endpoint(STORAGE_GET, _handler(memory.get))
    runner.add_endpoint(STORAGE_UPDATE, _handler(memory.update))
    runner.add_endpoint(STORAGE_AGGREGATES, _handler(memory.set_aggregates))
    runner.add_endpoint(STORAGE_DELETE, _handler(delete))
    runner.add_endpoint(STORAGE_SEARCH, _handler(memory.search))
    runner.add_endpoint(STORAGE_SEARCH_BATCH, _handler(memory.search_batch))
    runner.add_endpoint(STORAGE_LINEAGE, _handler(memory.lineage))
    runner.add_endpoint(STORAGE_EMBEDDINGS, _handler(memory.embeddings))
    runner.add_endpoint(STORAGE_EXPORT, _handler(memory.export), concurrency=4)
    runner.add_endpoint(STORAGE_IMPORT, _handler(memory.import_lines), concurrency=4)
    # Re-embedding a whole store is long by nature: one at a time, and only the caller's deadline bounds it.
    runner.add_endpoint(STORAGE_REEMBED, _handler(memory.reembed), concurrency=1)
    runner.add_endpoint(STORAGE_STATS, _handler(stats), concurrency=4)
    runner.add_endpoint(STORAGE_NAME_SET, _handler(registry.name_set))
    runner.add_endpoint(STORAGE_NAME_GET, _handler(registry.name_get))
    runner.add_endpoint(STORAGE_LABEL_SET, _handler(registry.label_set))
    runner.add_endpoint(STORAGE_LABEL_GET, _handler(registry.label_get))
    runner.add_endpoint(STORAGE_LABEL_HISTORY, _handler(registry.label_history))
    runner.add_endpoint(STORAGE_LABEL_SERVED, _handler(registry.label_served))
    runner.add_endpoint(STORAGE_LABEL_POLICIES, _handler(registry.label_policies), concurrency=2)
    runner.add_endpoint(STORAGE_CACHE_LOOKUP, _handler(cache.lookup))
    runner.add_endpoint(STORAGE_CACHE_PUT, _handler(cache.put))
    return runner
