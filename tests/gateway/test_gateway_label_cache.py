"""The gateway's label cache on a real bus and storage worker: staleness bound, invalidation,
and served counts that survive a storage outage."""

from __future__ import annotations

from pathlib import Path

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.label_cache import LabelCache
from prompt_alchemy.schemas.labels import LabelSetRequest, NameGetRequest
from prompt_alchemy.schemas.storage import StoreRequest
from prompt_alchemy.workers.storage import SqlitePromptStore, WordLlamaEmbedder, build_storage_service

T = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def label(bus: Bus, content: str, name: str = "faq") -> str:
    prompt_id = (await bus.request(schemas.STORAGE_STORE, StoreRequest(content=content), timeout=T)).id
    await bus.request(
        schemas.STORAGE_LABEL_SET, LabelSetRequest(name=name, label="prod", prompt_id=prompt_id), timeout=T
    )
    return prompt_id


async def test_entries_are_refetched_after_max_age_and_dropped_by_a_move(gateway_bus: Bus, tmp_path: Path) -> None:
    store = SqlitePromptStore(tmp_path / "storage")
    storage = build_storage_service(gateway_bus, store, WordLlamaEmbedder())
    await storage.start()
    clock = Clock()
    cache = LabelCache(gateway_bus, max_age=5.0, clock=clock)
    try:
        first = await label(gateway_bus, "Answer a billing question")
        assert (await cache.serve("faq", "prod")).prompt_id == first
        clock.now += 4.9
        assert (await cache.serve("faq", "prod")).prompt_id == first
        assert (cache.stats.misses, cache.stats.hits) == (1, 1)
        clock.now += 0.2
        await cache.serve("faq", "prod")
        assert cache.stats.misses == 2
        cache.invalidate("faq")  # what a labels.moved event does (the HTTP tests send real ones)
        await cache.serve("faq", "prod")
        assert (cache.stats.misses, cache.stats.invalidations) == (3, 1)
    finally:
        await cache.close()
        await storage.stop()
        await store.close()


async def test_served_counts_are_kept_through_a_storage_outage(gateway_bus: Bus, tmp_path: Path) -> None:
    store = SqlitePromptStore(tmp_path / "storage")
    storage = build_storage_service(gateway_bus, store, WordLlamaEmbedder())
    await storage.start()
    cache = LabelCache(gateway_bus)
    try:
        await label(gateway_bus, "Answer a shipping question", name="ship")
        for _ in range(3):
            await cache.serve("ship", "prod")
        await storage.stop()
        await cache.report()
        assert cache.stats.report_failures == 1
        await storage.start()
        await cache.report()
        named = await gateway_bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="ship"), timeout=T)
        assert named.labels["prod"].served == {1: 3}
        await cache.report()  # nothing new: nothing sent twice
        named = await gateway_bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="ship"), timeout=T)
        assert named.labels["prod"].served == {1: 3}
    finally:
        await cache.close()
        await storage.stop()
        await store.close()
