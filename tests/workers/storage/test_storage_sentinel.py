"""Storage behind Redis Sentinel: the primary is SIGKILLed mid-write and nothing acknowledged is lost.

A store is acknowledged only once the replica holds it (``RedisTarget.confirm_written``, i.e.
``WAIT``), so whatever the promoted replica lacks was never acknowledged; the caller got a
retriable ``Unavailable`` for it and may resend it (stores are deduplicated by content).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from prompt_alchemy.errors import NotFound, Unavailable
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.labels import PromptName
from prompt_alchemy.schemas.storage import GetRequest, SearchRequest, StoreReply, StoreRequest
from prompt_alchemy.testing.redis_sentinel import (
    HeldConfirmations,
    Probe,
    RedisSentinelGroup,
    write_across_a_failback,
)
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_names import RedisNameStore
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


async def store_a_prompt(store: RedisPromptStore) -> Probe:
    """Store a prompt (``Unavailable`` if not acknowledged); a probe of whether it is there."""
    reply = await store.store(StoreRequest(content="A prompt written just before the primary changes"), None)

    async def present() -> bool:
        try:
            await store.get(GetRequest(id=reply.id))
        except NotFound:
            return False
        return True

    return present


async def name_a_prompt(store: RedisPromptStore) -> Probe:
    """Create a name (a label move's compare-and-set); a probe of whether it is there. A resend finds
    the name there if an unacknowledged attempt landed (the compare-and-set fails): nothing to check."""
    names = RedisNameStore(store.client, prefix=store.keys.prefix, target=store.target)
    document = PromptName(name="greeting", versions=[], created_at=utc_now(), revision=1)
    await names.save(document, expected_revision=None, move=None)

    async def present() -> bool:
        return await names.load("greeting") is not None

    return present


@pytest.mark.parametrize("write", [store_a_prompt, name_a_prompt], ids=["prompt", "name"])
async def test_a_write_confirmed_after_a_failover_to_a_node_without_it_is_not_reported_saved(
    redis_sentinel_group: RedisSentinelGroup,
    held_confirmations: HeldConfirmations,
    write: Callable[[RedisPromptStore], Coroutine[Any, Any, Probe]],
) -> None:
    """A write lands on the primary; before it is confirmed the Sentinels fail over to a node that never
    got it, and the old primary resyncs from that node, dropping the write. A confirmation on the new
    primary (its replica in sync) must not acknowledge a write that node does not hold. (Both failed
    before the write was confirmed where it was taken: reported saved, then gone.)

    The failover is forced as in the learning double-failover test: the primary dies, the replica is
    promoted and holds back the old primary's full sync; the write reaches the promoted node alone,
    and ``SENTINEL FAILOVER`` goes back to the old primary, which never got it. The confirmation is
    held (``held_confirmations``) until then."""
    group = redis_sentinel_group
    first, second = await asyncio.to_thread(group.promote_replica_holding_back_old_primary)
    target = RedisTarget.sentinel(group.sentinels, group.service, wait_replicas=1, wait_timeout=0.5)
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    store = RedisPromptStore(target, prefix=prefix, socket_timeout=1.0, operation_timeout=60.0)
    try:
        await store.open()
        # The confirmation is held after the write when it goes first (a prompt's transaction), before
        # it when it goes in the confirming pipeline itself (a name's script).
        await write_across_a_failback(group, (first, second), held_confirmations, lambda: write(store), prefix)
    finally:
        await store.close()
