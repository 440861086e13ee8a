"""The learning state after a Redis failover: a lock stranded on the promoted replica does not stall
learning (a failover mid-apply itself is proven with real processes in tests/e2e/test_e2e_ha.py)."""

from __future__ import annotations

import asyncio
import uuid

from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.learning import FeedbackFact, RedisLearningState


def fact(index: int) -> FeedbackFact:
    return FeedbackFact(
        event_id=f"e{index}", prompt_id=f"p{index % 7}", source="http", created_at=1_700_000_000.0, rating=index % 5 + 1
    )


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
