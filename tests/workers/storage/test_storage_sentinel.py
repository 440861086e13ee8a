"""Storage behind Redis Sentinel: the primary is SIGKILLed mid-write and nothing acknowledged is lost.

A store is acknowledged only once the replica holds it (``RedisTarget.confirm_replicated``, i.e.
``WAIT``), so whatever the promoted replica lacks was never acknowledged; the caller got a
retriable ``Unavailable`` for it and may resend it (stores are deduplicated by content).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.schemas.storage import GetRequest, SearchRequest, StoreReply, StoreRequest
from prompt_alchemy.testing.redis_sentinel import RedisSentinelGroup
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore

IDEAS = 60


@pytest.fixture
async def memory(redis_sentinel_group: RedisSentinelGroup) -> AsyncIterator[PromptMemory]:
    target = RedisTarget.sentinel(redis_sentinel_group.sentinels, redis_sentinel_group.service, wait_replicas=1)
    store = RedisPromptStore(target, prefix=f"test-{uuid.uuid4().hex[:12]}", socket_timeout=1.0)
    memory = PromptMemory(store, WordLlamaEmbedder())
    await memory.start()
    yield memory
    await memory.close()


def idea(index: int) -> str:
    return f"Prompt number {index} about migrating bird species and their routes"


async def store_until_acknowledged(memory: PromptMemory, index: int) -> tuple[str, float]:
    """Resend one store until it is acknowledged: its id and when (monotonic)."""

    async def store() -> StoreReply | None:
        try:
            return await memory.store_prompt(StoreRequest(content=idea(index)))
        except Unavailable as error:
            if not error.retriable:
                raise
            return None  # a failover in progress: resend

    reply = await eventually(store, what=f"store {index} acknowledged")
    return reply.id, time.monotonic()


async def test_acknowledged_stores_survive_a_primary_sigkill_and_writes_resume(
    memory: PromptMemory, redis_sentinel_group: RedisSentinelGroup
) -> None:
    group = redis_sentinel_group
    before = [await store_until_acknowledged(memory, index) for index in range(IDEAS // 2)]

    old_primary = group.current_primary()

    async def the_rest() -> list[tuple[str, float]]:
        return [await store_until_acknowledged(memory, index) for index in range(IDEAS // 2, IDEAS)]

    writing = asyncio.create_task(the_rest())
    killed_at = time.monotonic()
    old_primary.kill()
    promoted = await asyncio.to_thread(group.wait_for_failover, old_primary.port)
    assert promoted is not old_primary
    # its supervisor brings it back; it rejoins as the new primary's replica
    await asyncio.to_thread(group.restart, old_primary)
    after = await writing
    resumed_in = min(at for _, at in after) - killed_at
    print(f"\nstorage writes resumed {resumed_in:.1f}s after the primary was SIGKILLed")

    acknowledged = {prompt_id for prompt_id, _ in before + after}
    assert len(acknowledged) == IDEAS  # one prompt per idea: resends were deduplicated by content
    for prompt_id in acknowledged:
        assert (await memory.get(GetRequest(id=prompt_id))).record.id == prompt_id
    found = await memory.search(SearchRequest(query="migrating bird species routes", limit=IDEAS))
    assert {hit.record.id for hit in found.hits} == acknowledged  # the index answers on the promoted primary
    assert (await memory.stats()).prompts == IDEAS


async def test_a_write_no_replica_confirms_is_not_acknowledged(redis_server: RedisServer) -> None:
    target = RedisTarget(url=redis_server.url, wait_replicas=1, wait_timeout=0.05)
    store = RedisPromptStore(target, prefix=f"test-{uuid.uuid4().hex[:12]}")
    memory = PromptMemory(store, WordLlamaEmbedder())
    try:
        with pytest.raises(Unavailable, match="reached 0 of the 1 Redis replica") as caught:
            await memory.store_prompt(StoreRequest(content="held by the primary alone"))
        assert caught.value.retriable
        await store.drop()
    finally:
        await memory.close()
