"""The learning state after Redis failovers: a lock stranded on the promoted replica does not stall
learning, and a failover back to a primary that never resynced loses no accepted event (a single
failover mid-apply is also proven with real processes in tests/e2e/test_e2e_ha.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.bus.streams import open_stream, publish_event
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.schemas.learning import FeedbackEvent, LearningStatsRequest
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS
from prompt_alchemy.testing.redis_sentinel import (
    HeldConfirmations,
    Probe,
    RedisSentinelGroup,
    redis_command,
    write_across_a_failback,
)
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.learning import FeedbackFact, LearningSettings, RedisLearningState, build_learning_worker
from prompt_alchemy.workers.learning.ledger import DUPLICATES
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM

_RESTORED_LEASE_S = 3600  # longer than the wait for a lock: only releasing it lets apply through
SETTINGS = LearningSettings(outage_backoff=0.1, fetch_timeout=0.2, retry_delay=0.05)


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
        state._remember_finished(token)
        async with asyncio.timeout(10):  # the lock's own timeout is 60 s
            outcome = await state.apply([fact(1)])
        assert outcome.applied == 1
        await state.drop()
    finally:
        await state.close()


async def test_a_lock_released_once_and_restored_by_a_second_failover_is_released_again(
    redis_server: RedisServer,
) -> None:
    """The double failover: the lock held when the primary died is released on the promoted replica,
    then comes back with the old primary's data when the Sentinels fail over to it again."""
    prefix = f"test-learning-{uuid.uuid4().hex[:12]}"
    state = await RedisLearningState.open(redis_server.url, prefix=prefix)
    lock = state._redis.lock(f"{prefix}:lock", timeout=_RESTORED_LEASE_S)
    try:
        token = b"held-when-the-primary-died"
        assert await lock.acquire(token=token)
        state._remember_finished(token)
        assert (await state.apply([fact(1)])).applied == 1  # released on the promoted replica
        assert await lock.acquire(token=token)  # ... and back, from the old primary's AOF
        # A lock held by anyone else is waited for (and given up on, Unavailable) for 60 s.
        assert (await state.apply([fact(2)])).applied == 1
        await state.drop()
    finally:
        await state.close()


class WatchedState(RedisLearningState):
    """The real Redis learning state, counting the reads that decide which events were applied before."""

    dedup_reads = 0

    async def unseen(self, event_ids: Sequence[str]) -> set[str]:
        self.dedup_reads += 1
        return await super().unseen(event_ids)


async def test_a_failover_back_to_a_primary_that_never_resynced_loses_no_accepted_event(
    tmp_path: Path,
    redis_sentinel_group: RedisSentinelGroup,
    storage_starter: Callable[[Bus, Path], Awaitable[Any]],
    seed: Callable[[Bus, int], Awaitable[list[str]]],
) -> None:
    """The double failover of a loaded e2e run, forced: the primary is SIGKILLed, the replica promoted,
    the old primary restarted from its AOF — and promoted again before it had synced from the replica
    (the Sentinels, 1 s down-after on a loaded machine, did that on their own). Events the replica
    took meanwhile were never confirmed (WAIT found no synced replica); they must not be acked on
    the strength of that replica's unconfirmed data: each is applied once on the primary that stays."""
    group = redis_sentinel_group
    first = group.current_primary()
    second = group.replica if first is group.primary else group.primary
    bus = InMemoryBus()
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path / "streams")
    target = RedisTarget.sentinel(group.sentinels, group.service, wait_replicas=1, wait_timeout=0.5)
    state = await WatchedState.open(target, prefix=f"test-learning-{uuid.uuid4().hex[:12]}")
    published = 0

    async def publish(count: int) -> None:
        nonlocal published
        for _ in range(count):
            event = FeedbackEvent(prompt_id=prompt_ids[published % len(prompt_ids)], rating=published % 5 + 1)
            await publish_event(stream, schemas.LEARNING_FEEDBACK, event)
            published += 1

    async def drained() -> bool:
        consumer = (await stream.info()).consumers.get(SETTINGS.durable_name)
        return consumer is not None and consumer.pending == 0 and consumer.ack_pending == 0

    def facts_on(node: RedisServer) -> int:
        return int(redis_command(node.port, "HLEN", f"{state.prefix}:facts"))

    async def retried(what: str) -> None:
        """Until learning has gone through its batch once more, from its first read (or acked it all)."""
        reads = state.dedup_reads

        async def probe() -> bool:
            return state.dedup_reads >= reads + 2 or await drained()

        await eventually(probe, what=what)

    worker = build_learning_worker(bus, stream, state, SETTINGS)
    try:
        await storage_starter(bus, tmp_path / "storage")
        prompt_ids = await seed(bus, 5)
        await worker.start()
        await publish(40)
        await eventually(lambda: facts_on(first) == 40 and facts_on(second) == 40, what="40 events applied")

        # 1. The primary dies; the replica is promoted; the old primary comes back with its AOF data
        #    and waits for a full sync that the new primary holds back.
        first.kill()
        await asyncio.to_thread(group.wait_for_failover, first.port)
        group.delay_full_syncs(second, 3600)
        await asyncio.to_thread(group.restart, first)
        await eventually(lambda: group.knows_replica(first.port), what="the old primary known as replica")

        # 2. Learning takes new events while nothing can be confirmed (the only replica never synced):
        #    what it writes meanwhile stays on the new primary alone.
        await publish(20)
        await retried("learning tried its batch on the new primary")

        # 3. Failover back to the old primary, its data as it was when it died; the demoted one keeps its
        #    own data (its resync held back) while learning retries the batch it holds.
        group.delay_full_syncs(first, 3600)
        await eventually(group.request_failover, what="SENTINEL FAILOVER accepted")
        await asyncio.to_thread(group.wait_for_failover, second.port)
        await retried("learning tried its batch again after the failover back")
        group.delay_full_syncs(first, 0)

        # 4. Every accepted event applied exactly once on the surviving data, and learning goes on.
        await eventually(drained, what="every delivered event acknowledged")
        await publish(10)
        await eventually(drained, what="learning applies new events after the failovers")
        stats = await bus.request(schemas.LEARNING_STATS, LearningStatsRequest())
        assert len(await state.facts()) == published
        assert stats.events_processed == published
        assert sum(stats.rating_distribution.values()) + stats.ignored_votes == published
        assert stats.dead_lettered == 0
    finally:
        await worker.stop()
        await stream.close()
        await state.close()
        await bus.close()


async def count_duplicates(state: RedisLearningState) -> Probe:
    """Count redelivered events (``Unavailable`` if not acknowledged); a probe of whether they are counted."""
    await state.count_duplicates(3)

    async def present() -> bool:
        return (await state.stats()).counters.get(DUPLICATES, 0) >= 3

    return present


async def refit_weights(state: RedisLearningState) -> Probe:
    """Refit the weights; a probe of whether that version is the current one."""
    weights = await state.refit(lambda _facts, version: DEFAULT_WEIGHTS.model_copy(update={"version": version}))

    async def present() -> bool:
        return (await state.weights()).version >= weights.version

    return present


@pytest.mark.parametrize("write", [count_duplicates, refit_weights], ids=["duplicates", "refit"])
async def test_a_learning_write_confirmed_after_a_failover_to_a_node_without_it_is_not_reported_done(
    redis_sentinel_group: RedisSentinelGroup,
    held_confirmations: HeldConfirmations,
    write: Callable[[RedisLearningState], Coroutine[Any, Any, Probe]],
) -> None:
    """As storage's (tests/workers/storage/test_storage_sentinel.py): a write whose confirmation is held
    while the Sentinels fail over to a node that never got it is not reported done — or is there.
    (The duplicates count was not confirmed at all before: reported done, then gone. A lost refit was
    reported failed before too, though only because its lock, also lost, could not be released.)"""
    group = redis_sentinel_group
    first, second = await asyncio.to_thread(group.promote_replica_holding_back_old_primary)
    target = RedisTarget.sentinel(group.sentinels, group.service, wait_replicas=1, wait_timeout=0.5)
    state = await RedisLearningState.open(target, prefix=f"test-learning-{uuid.uuid4().hex[:12]}")
    try:
        await write_across_a_failback(group, (first, second), held_confirmations, lambda: write(state), state.prefix)
    finally:
        await state.close()
