"""Durability across restarts: nats-server restarted mid-stream, the SQLite log reopened mid-stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prompt_alchemy.bus import InMemoryBus, NatsBus
from prompt_alchemy.bus.streams import DurableConsumer, DurableStream, SqliteLog, StreamSpec, open_stream
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.testing.waiting import eventually

EVENTUALLY = 30.0
SPEC = StreamSpec(name="RESTART", subjects=("test.restart.events",))
TOTAL = 1000


async def publish_range(stream: DurableStream, start: int, stop: int) -> None:
    slots = asyncio.Semaphore(64)

    async def one(index: int) -> None:
        async with slots:
            await stream.publish(SPEC.subjects[0], json.dumps({"n": index}).encode(), msg_id=f"e-{index}")

    await asyncio.gather(*(one(index) for index in range(start, stop)))


async def consume(consumer: DurableConsumer, processed: set[str], until: int, *, ack: bool = True) -> int:
    """Process (de-duplicating by msg id) until ``until`` distinct ids are done; returns deliveries seen."""
    deliveries = 0
    async with asyncio.timeout(EVENTUALLY):
        while len(processed) < until:
            for delivery in await consumer.fetch(min(128, until - len(processed)), timeout=1.0):
                deliveries += 1
                assert delivery.msg_id is not None
                processed.add(delivery.msg_id)
                if ack:
                    await delivery.ack()
    return deliveries


async def wait_until_reachable(stream: DurableStream) -> None:
    """The NatsBus reconnects by itself; poll a cheap JetStream call until it answers."""
    await eventually(stream.info, ignoring=(AlchemyError,), what="JetStream reachable after the restart")


async def test_jetstream_survives_a_server_restart_mid_stream(private_nats_server: NatsServer) -> None:
    bus = await NatsBus.connect(private_nats_server.url)
    try:
        stream = await open_stream(bus, SPEC, data_dir=None)
        await publish_range(stream, 0, TOTAL // 2)
        consumer = await stream.consumer("workers", ack_wait=2.0, max_deliver=10)
        processed: set[str] = set()
        await consume(consumer, processed, TOTAL // 4)
        unacked = await consumer.fetch(50, timeout=5.0)  # in flight when the server goes down
        assert unacked

        private_nats_server.restart()  # same port, same JetStream store
        await wait_until_reachable(stream)

        await publish_range(stream, TOTAL // 2, TOTAL)  # the publishers carry on after the restart
        info = await stream.info()
        assert info.messages == TOTAL  # nothing stored before the restart was lost
        assert info.last_sequence == TOTAL
        await consume(consumer, processed, TOTAL)
        assert processed == {f"e-{index}" for index in range(TOTAL)}
        assert {delivery.msg_id for delivery in unacked} <= processed  # redelivered after ack_wait
        async with asyncio.timeout(EVENTUALLY):
            while (state := (await stream.info()).consumers["workers"]).ack_pending:
                for delivery in await consumer.fetch(128, timeout=1.0):
                    await delivery.ack()  # late duplicates of the unacked batch, already processed
        assert state.pending == 0
        await stream.close()
    finally:
        await bus.close()


async def test_sqlite_log_reopened_mid_stream_redelivers_the_unacked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stream = await open_stream(InMemoryBus(), SPEC, data_dir=data_dir)
    await publish_range(stream, 0, TOTAL)
    consumer = await stream.consumer("workers", ack_wait=3600.0, max_deliver=10)
    processed: set[str] = set()
    await consume(consumer, processed, TOTAL // 3)
    unacked = await consumer.fetch(100, timeout=5.0)  # delivered, never acked: the process "dies"
    assert len(unacked) == 100
    await stream.close()

    reopened = await open_stream(InMemoryBus(), SPEC, data_dir=data_dir)
    info = await reopened.info()
    assert info.messages == TOTAL
    assert info.consumers["workers"].ack_pending == 100
    consumer = await reopened.consumer("workers", ack_wait=3600.0, max_deliver=10)
    first = await consumer.fetch(100, timeout=5.0)
    # the unacked ones come back at once (not after the hour of ack_wait), as a second attempt
    assert [delivery.msg_id for delivery in first] == [delivery.msg_id for delivery in unacked]
    assert {delivery.attempt for delivery in first} == {2}
    for delivery in first:
        await delivery.ack()
    processed |= {delivery.msg_id for delivery in first if delivery.msg_id}
    await consume(consumer, processed, TOTAL)
    assert processed == {f"e-{index}" for index in range(TOTAL)}
    state = (await reopened.info()).consumers["workers"]
    assert state.pending == 0
    assert state.ack_pending == 0
    await reopened.close()


async def test_sqlite_log_without_data_dir_is_removed_on_close() -> None:
    stream = await open_stream(InMemoryBus(), SPEC, data_dir=None)
    await stream.publish(SPEC.subjects[0], b"x", msg_id="t1")
    assert isinstance(stream, SqliteLog)
    path = stream.path
    assert path.exists()
    await stream.close()
    assert not path.exists()
    assert not path.parent.exists()
