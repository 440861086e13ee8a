"""The generation cache on Redis through redisvl's ``SemanticCache``, shared by every replica.

One ``SemanticCache`` per vector dimension under the prompt store's prefix, with the shape as a
tag filter. We always hand it the vectors (storage embeds the idea), so its vectorizer is only
asked for its dimension. Entries carry redisvl's TTL and their absolute expiry in metadata (a hit
refreshes redisvl's TTL; the expiry in metadata does not move). A set per prompt id lists the
entries naming it, for invalidation.

``SemanticCache`` builds its index synchronously, so that runs in a thread with a short-lived
client; afterwards it talks through the prompt store's async client, which the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redisvl.exceptions import RedisVLError
from redisvl.extensions.cache.llm import SemanticCache
from redisvl.query.filter import Tag
from redisvl.utils.vectorize import CustomVectorizer

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.redis_target import RedisTarget, close_blocking_client
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.generation_cache import CacheEntry, CacheMatch

__all__ = ["RedisGenerationCache"]

_CANDIDATES = 8


def _dimension_only(dimension: int) -> CustomVectorizer:
    """A vectorizer that only states the dimension: every call here passes its own vector."""

    def dimension_probe(_text: Any) -> list[float]:
        return [0.0] * dimension

    return CustomVectorizer(embed=dimension_probe)


class RedisGenerationCache:
    def __init__(self, client: aioredis.Redis, target: RedisTarget, *, prefix: str) -> None:
        self._client = client
        self._target = target
        self._prefix = prefix
        self._caches: dict[int, SemanticCache] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError) as error:
            raise Unavailable(f"Redis is unreachable for the generation cache: {error}") from error
        except RedisVLError as error:
            raise Unavailable(f"the generation cache on Redis failed: {error}") from error

    def _prompt_key(self, prompt_id: str) -> str:
        return f"{self._prefix}:gencache-prompt:{prompt_id}"

    async def _cache(self, dimension: int) -> SemanticCache:
        cache = self._caches.get(dimension)
        if cache is not None:
            return cache
        async with self._lock:
            if dimension not in self._caches:
                self._caches[dimension] = await asyncio.to_thread(self._build, dimension)
            return self._caches[dimension]

    def _build(self, dimension: int) -> SemanticCache:
        builder = self._target.blocking_client()
        try:
            cache = SemanticCache(
                name=f"{self._prefix}:gencache-{dimension}",
                distance_threshold=0.5,
                vectorizer=_dimension_only(dimension),
                filterable_fields=[{"name": "shape", "type": "tag"}],
                redis_client=builder,
            )
        finally:
            close_blocking_client(builder)
        # From here on it runs on the store's async client (redisvl's own attribute for it).
        cache._async_redis_client = self._client
        return cache

    async def nearest(self, shape: str, vector: FloatVector, min_similarity: float, now: float) -> CacheMatch | None:
        async with self._guard():
            cache = await self._cache(int(vector.size))
            hits = await cache.acheck(
                vector=[float(value) for value in vector],
                num_results=_CANDIDATES,
                filter_expression=Tag("shape") == shape,
                distance_threshold=max(0.0, 1.0 - min_similarity),
            )
        for hit in sorted(hits, key=lambda item: float(item["vector_distance"])):
            metadata = hit.get("metadata") or {}
            if float(metadata.get("expires_at", 0.0)) <= now:
                continue
            similarity = 1.0 - float(hit["vector_distance"])
            if similarity < min_similarity:
                continue
            return CacheMatch(str(metadata["request_id"]), similarity, str(hit["response"]))
        return None

    async def put(self, entry: CacheEntry) -> None:
        async with self._guard():
            cache = await self._cache(int(entry.vector.size))
            key = await cache.astore(
                prompt=entry.idea,
                response=entry.reply_json,
                vector=[float(value) for value in np.asarray(entry.vector, dtype=np.float32)],
                metadata={"request_id": entry.request_id, "expires_at": entry.expires_at},
                filters={"shape": entry.shape},
                ttl=entry.ttl_s,
            )
            pipe = self._client.pipeline(transaction=True)
            for prompt_id in entry.prompt_ids:
                pipe.sadd(self._prompt_key(prompt_id), key)
                pipe.expire(self._prompt_key(prompt_id), entry.ttl_s, gt=True)
                pipe.expire(self._prompt_key(prompt_id), entry.ttl_s, nx=True)
            await pipe.execute()

    async def drop_prompt(self, prompt_id: str) -> int:
        async with self._guard():
            raw = await self._client.smembers(self._prompt_key(prompt_id))
            keys = [item.decode() if isinstance(item, bytes) else str(item) for item in raw]
            dropped = 0
            if keys:
                dropped = int(await self._client.unlink(*keys))
            await self._client.unlink(self._prompt_key(prompt_id))
        return dropped

    async def count(self) -> int:
        total = 0
        async with self._guard():
            for dimension in list(self._caches):
                async for _key in self._client.scan_iter(match=f"{self._prefix}:gencache-{dimension}:*", count=500):
                    total += 1
        return total
