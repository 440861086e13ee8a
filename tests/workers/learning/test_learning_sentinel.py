"""The learning state behind Redis Sentinel: a primary SIGKILLed mid-apply loses no confirmed event
and applies none twice; a lock stranded by the failover does not stall learning."""

from __future__ import annotations

import asyncio
import time
import uuid

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.testing.redis_sentinel import RedisSentinelGroup
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.learning import FeedbackFact, RedisLearningState

EVENTUALLY = 60.0
EVENTS = 80


def fact(index: int) -> FeedbackFact:
    return FeedbackFact(
        event_id=f"e{index}", prompt_id=f"p{index % 7}", source="http", created_at=1_700_000_000.0, rating=index % 5 + 1
    )


async def apply_until_confirmed(state: RedisLearningState, index: int) -> float:
    """What the learning worker does: an event is acked only once its apply returned; else redelivered."""
    async with asyncio.timeout(EVENTUALLY):
        while True:
            try:
                await state.apply([fact(index)])
            except Unavailable:
                await asyncio.sleep(0.05)  # not synchronisation: the redelivery delay
                continue
            return time.monotonic()


async def test_a_failover_mid_apply_loses_no_confirmed_event_and_applies_none_twice(
    redis_sentinel_group: RedisSentinelGroup,
) -> None:
    group = redis_sentinel_group
    target = RedisTarget.sentinel(group.sentinels, group.service, wait_replicas=1)
    state = await RedisLearningState.open(target, prefix=f"test-learning-{uuid.uuid4().hex[:12]}")
    try:
        for index in range(EVENTS // 2):
            await apply_until_confirmed(state, index)
        old_primary = group.current_primary()

        async def the_rest() -> list[float]:
            return [await apply_until_confirmed(state, index) for index in range(EVENTS // 2, EVENTS)]

        applying = asyncio.create_task(the_rest())
        killed_at = time.monotonic()
        old_primary.kill()
        await asyncio.to_thread(group.wait_for_failover, old_primary.port)
        await asyncio.to_thread(group.restart, old_primary)  # back as the new primary's replica
        confirmed = await applying
        print(f"\nlearning applied and confirmed again {confirmed[0] - killed_at:.1f}s after the primary died")

        stats = await state.stats()
        assert stats.counters["events_processed"] == EVENTS  # each exactly once: none lost, none twice
        assert await state.unseen([f"e{index}" for index in range(EVENTS)]) == set()
        aggregates = await state.aggregates([f"p{n}" for n in range(7)])
        assert sum(aggregate.rating_count for aggregate in aggregates.values()) == EVENTS
    finally:
        await state.close()


async def test_a_lock_whose_release_was_lost_is_released_by_its_holder_not_waited_out(
    redis_server: RedisServer,
) -> None:
    prefix = f"test-learning-{uuid.uuid4().hex[:12]}"
    state = await RedisLearningState.open(redis_server.url, prefix=prefix)
    try:
        # What a failover leaves: the lock this state took reached the replica, its release did not.
        token = b"held-when-the-primary-died"
        assert await state._redis.lock(f"{prefix}:lock", timeout=60).acquire(token=token)
        state._orphaned_lock = token
        async with asyncio.timeout(10):  # the lock's own timeout is 60 s
            outcome = await state.apply([fact(1)])
        assert outcome.applied == 1
        await state.drop()
    finally:
        await state.close()
