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
    STORAGE_DELETE,
    STORAGE_EMBEDDINGS,
    STORAGE_EXPORT,
    STORAGE_GET,
    STORAGE_IMPORT,
    STORAGE_LINEAGE,
    STORAGE_REEMBED,
    STORAGE_SEARCH,
    STORAGE_STATS,
    STORAGE_STORE,
    STORAGE_UPDATE,
)
from prompt_alchemy.schemas.storage import StorageStats, StorageStatsRequest
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import Embedder, WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory

__all__ = ["STORAGE_SERVICE_NAME", "STORAGE_SERVICE_VERSION", "build_storage_service"]

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


def build_storage_service(
    bus: Bus,
    store: PromptStore,
    embedder: Embedder | None = None,
    *,
    extra_embedders: Sequence[Embedder] = (),
    concurrency: int = 32,
    memory: PromptMemory | None = None,
) -> ServiceRunner:
    """A ServiceRunner serving every storage subject over ``store``; ``start()`` it to serve.

    ``embedder`` (WordLlama when None) is the model a new store starts with; a store keeps the
    model it has. ``<provider>/<model>`` embedders are reached through ``bus``. The caller
    owns ``store``: stop the runner, then ``await store.close()``.
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

    runner.add_endpoint(STORAGE_STORE, _within_deadline(memory.store_prompt))
    runner.add_endpoint(STORAGE_GET, _within_deadline(memory.get))
    runner.add_endpoint(STORAGE_UPDATE, _within_deadline(memory.update))
    runner.add_endpoint(STORAGE_AGGREGATES, _within_deadline(memory.set_aggregates))
    runner.add_endpoint(STORAGE_DELETE, _within_deadline(memory.delete))
    runner.add_endpoint(STORAGE_SEARCH, _within_deadline(memory.search))
    runner.add_endpoint(STORAGE_LINEAGE, _within_deadline(memory.lineage))
    runner.add_endpoint(STORAGE_EMBEDDINGS, _within_deadline(memory.embeddings))
    runner.add_endpoint(STORAGE_EXPORT, _within_deadline(memory.export), concurrency=4)
    runner.add_endpoint(STORAGE_IMPORT, _within_deadline(memory.import_lines), concurrency=4)
    # Re-embedding a whole store is long by nature: one at a time, and only the caller's deadline bounds it.
    runner.add_endpoint(STORAGE_REEMBED, _within_deadline(memory.reembed), concurrency=1)
    runner.add_endpoint(STORAGE_STATS, _within_deadline(stats), concurrency=4)
    return runner
