"""The semantic generation cache, on both backends (SQLite + numpy, Redis + redisvl SemanticCache).

Ideas are embedded by the store's own model (WordLlama). Measured with it: rewordings of one idea
score 0.96-0.99, a changed detail ("monthly" -> "yearly") 0.95, another idea far below; the
engine's strict default threshold is 0.96.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.generation_cache import CacheLookupRequest, CachePutRequest
from prompt_alchemy.schemas.storage import DeleteRequest, StoreRequest
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.generation_cache import GenerationCache, shape_key
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore
from prompt_alchemy.workers.storage.service import build_storage_service, generation_cache_for

STRICT = 0.96
SHAPE = "a1b2c3"
OTHER_SHAPE = "d4e5f6"
IDEA = "Write a SQL query for monthly sales"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(memory: PromptMemory, clock: Clock) -> GenerationCache:
    return GenerationCache(generation_cache_for(memory.store), memory, clock=clock)


def reply(request_id: str, idea: str = IDEA) -> GenerateReply:
    return GenerateReply.model_validate(
        {
            "request_id": request_id,
            "input": idea,
            "prompts": [
                {
                    "id": f"{request_id}-p",
                    "content": "SELECT 1",
                    "phase": "coagulatio",
                    "provider": "offline",
                    "model": "offline-1",
                }
            ],
        }
    )


def put(
    request_id: str, idea: str = IDEA, *, shape: str = SHAPE, prompts: tuple[str, ...] = ("p1",), ttl: int = 3600
) -> CachePutRequest:
    return CachePutRequest(
        idea=idea,
        shape=shape,
        request_id=request_id,
        reply=reply(request_id, idea),
        prompt_ids=list(prompts),
        ttl_s=ttl,
    )


def lookup(idea: str, *, shape: str = SHAPE, threshold: float = STRICT) -> CacheLookupRequest:
    return CacheLookupRequest(idea=idea, shape=shape, min_similarity=threshold)


async def test_a_reworded_idea_hits_and_a_different_one_misses(cache: GenerationCache) -> None:
    await cache.put(put("gen-1"))
    await cache.put(put("gen-2", "a bedtime story about a lighthouse"))
    for reworded in ("write an SQL query for the monthly sales", "Write a SQL query for monthly sales"):
        found = await cache.lookup(lookup(reworded))
        assert found.hit, reworded
        assert found.request_id == "gen-1"
        assert found.similarity is not None
        assert found.similarity >= STRICT
        assert found.reply == reply("gen-1")
    for different in ("Write a SQL query for yearly sales", "a haiku about volcanoes"):
        assert not (await cache.lookup(lookup(different))).hit, different
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stored) == (2, 2, 2)


async def test_only_the_same_shape_is_answered(cache: GenerationCache) -> None:
    await cache.put(put("gen-1"))
    assert not (await cache.lookup(lookup(IDEA, shape=OTHER_SHAPE))).hit
    await cache.put(put("gen-2", shape=OTHER_SHAPE))
    assert (await cache.lookup(lookup(IDEA, shape=OTHER_SHAPE))).request_id == "gen-2"
    assert (await cache.lookup(lookup(IDEA))).request_id == "gen-1"


async def test_entries_expire(cache: GenerationCache, clock: Clock, memory: PromptMemory) -> None:
    await cache.put(put("gen-1", ttl=60))
    clock.now += 59
    assert (await cache.lookup(lookup(IDEA))).hit
    clock.now += 2
    assert not (await cache.lookup(lookup(IDEA))).hit
    await cache.put(put("gen-2", ttl=60))
    assert (await cache.lookup(lookup(IDEA))).request_id == "gen-2"
    if not isinstance(memory.store, RedisPromptStore):
        assert await cache.store.count() == 1  # the expired entry does not linger
    if isinstance(memory.store, RedisPromptStore):
        # Redis also forgets the entry by itself: redisvl set its TTL
        keys = [key async for key in memory.store.client.scan_iter(match=f"{memory.store.keys.prefix}:gencache-*")]
        assert keys
        for key in keys:
            assert 0 < await memory.store.client.ttl(key) <= 60


async def test_deleting_a_source_prompt_drops_its_entries(cache: GenerationCache) -> None:
    await cache.put(put("gen-1", prompts=("p1", "p2")))
    await cache.put(put("gen-2", "a bedtime story about a lighthouse", prompts=("p3",)))
    await cache.prompt_deleted("p2")
    assert not (await cache.lookup(lookup(IDEA))).hit
    assert (await cache.lookup(lookup("a bedtime story about a lighthouse"))).hit
    assert cache.stats.invalidated == 1
    await cache.prompt_deleted("p2")  # nothing left to drop
    assert cache.stats.invalidated == 1


async def test_a_second_put_of_a_generation_replaces_it(cache: GenerationCache) -> None:
    await cache.put(put("gen-1", prompts=("p1",)))
    await cache.put(put("gen-1", prompts=("p9",)))
    assert (await cache.lookup(lookup(IDEA))).request_id == "gen-1"
    await cache.prompt_deleted("p9")
    assert not (await cache.lookup(lookup(IDEA))).hit


def test_shapes_of_other_models_never_meet() -> None:
    assert shape_key(SHAPE, "wordllama") != shape_key(SHAPE, "openai/text-embedding-3-small")


async def test_over_the_bus_a_deleted_prompt_takes_its_entry_along(
    bus: Bus, store_factory: Callable[[str], PromptStore]
) -> None:
    """The served subjects on both buses: put, a reworded hit, a miss, then storage.delete invalidates."""
    store = store_factory("served")
    runner = build_storage_service(bus, store, WordLlamaEmbedder())
    await runner.start()
    try:
        kept = await bus.request(schemas.STORAGE_STORE, StoreRequest(content="SELECT region, SUM(total)"), timeout=30)
        await bus.request(schemas.STORAGE_CACHE_PUT, put("gen-1", prompts=(kept.id,)), timeout=30)
        hit = await bus.request(
            schemas.STORAGE_CACHE_LOOKUP, lookup("write an SQL query for the monthly sales"), timeout=30
        )
        assert (hit.hit, hit.request_id) == (True, "gen-1")
        assert hit.reply == reply("gen-1")
        assert not (await bus.request(schemas.STORAGE_CACHE_LOOKUP, lookup("a haiku about volcanoes"), timeout=30)).hit
        await bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=kept.id), timeout=30)
        assert not (await bus.request(schemas.STORAGE_CACHE_LOOKUP, lookup(IDEA), timeout=30)).hit
    finally:
        await runner.stop()
        await store.close()
