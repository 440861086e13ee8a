"""JetStream on a three-node cluster: the feedback streams at R3 lose nothing when a node dies.

The stream leader, then (once it is back) the node the client is connected to are SIGKILLed
mid-stream: every
acknowledged publish is delivered, the durable consumer keeps its acked floor across the leader
change (nothing acked comes back as a first delivery of a new consumer), and the client fails
over to another node by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import nats
import pytest

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.streams import DurableConsumer, DurableStream, StreamSpec, open_stream
from prompt_alchemy.errors import AlchemyError, ConfigError
from prompt_alchemy.testing.nats_cluster import NatsCluster
from prompt_alchemy.testing.servers import _port_open
from prompt_alchemy.testing.waiting import eventually

EVENTUALLY = 60.0
SPEC = StreamSpec(name="HA", subjects=("test.ha.events",))
TOTAL = 600


async def publish_acknowledged(stream: DurableStream, indexes: range, acked: set[str]) -> None:
    """Publish each index, retrying (same msg id) until JetStream acknowledges it."""
    slots = asyncio.Semaphore(32)

    async def one(index: int) -> None:
        msg_id = f"e-{index}"
        async with slots, asyncio.timeout(EVENTUALLY):
            while True:
                try:
                    await stream.publish(SPEC.subjects[0], json.dumps({"n": index}).encode(), msg_id=msg_id)
                except AlchemyError:
                    await asyncio.sleep(0.05)  # not synchronisation: the pause before a retry
                    continue
                acked.add(msg_id)
                return

    await asyncio.gather(*(one(index) for index in indexes))


async def drain(consumer: DurableConsumer, processed: dict[str, int], until: set[str]) -> None:
    async with asyncio.timeout(EVENTUALLY):
        while not until <= set(processed):
            try:
                deliveries = await consumer.fetch(64, timeout=1.0)
            except AlchemyError:
                continue  # a leader election in progress: fetch again
            for delivery in deliveries:
                assert delivery.msg_id is not None
                processed[delivery.msg_id] = processed.get(delivery.msg_id, 0) + 1
                with contextlib.suppress(AlchemyError):  # unacked: it comes back, and the count shows it
                    await delivery.ack()


async def stream_leader(cluster: NatsCluster, name: str) -> str:
    client = await nats.connect(servers=cluster.urls)
    try:
        info = await client.jetstream().stream_info(name)
    finally:
        await client.close()
    assert info.cluster is not None
    assert info.cluster.leader is not None
    return info.cluster.leader


async def test_an_r3_stream_loses_no_acknowledged_event_when_its_leader_and_the_clients_node_die(
    nats_cluster: NatsCluster,
) -> None:
    bus = await NatsBus.connect(nats_cluster.urls)
    try:
        stream = await open_stream(bus, SPEC, data_dir=None, replicas=3)
        info = await bus.transport.client.jetstream().stream_info(SPEC.name)
        assert info.config.num_replicas == 3
        dead_letters = await bus.transport.client.jetstream().stream_info(SPEC.dead_letter_name)
        assert dead_letters.config.num_replicas == 3
        consumer = await stream.consumer("learning", ack_wait=2.0, max_deliver=100)
        acked: set[str] = set()
        processed: dict[str, int] = {}
        await publish_acknowledged(stream, range(TOTAL // 3), acked)
        await drain(consumer, processed, set(acked))

        leader = await stream_leader(nats_cluster, SPEC.name)
        publishing = asyncio.create_task(publish_acknowledged(stream, range(TOTAL // 3, 2 * TOTAL // 3), acked))
        nats_cluster.node(leader).kill()
        await publishing
        await drain(consumer, processed, set(acked))
        assert await stream_leader(nats_cluster, SPEC.name) != leader
        nats_cluster.node(leader).restart()  # one node lost at a time: it rejoins and catches up

        connected = nats_cluster.node_on_port(int(bus.transport.client.connected_url.port))
        publishing = asyncio.create_task(publish_acknowledged(stream, range(2 * TOTAL // 3, TOTAL), acked))
        connected.kill()
        await publishing
        await drain(consumer, processed, set(acked))
        assert bus.transport.client.connected_url.port != connected.port

        assert set(processed) == acked == {f"e-{index}" for index in range(TOTAL)}
        # at-least-once: a redelivery is possible when an ack was lost with a node, never a loss
        assert sum(processed.values()) >= TOTAL
        # the dead-letter stream may still be electing its leader
        state = await eventually(stream.info, ignoring=(AlchemyError,), what="the stream's info after the failover")
        assert state.messages == TOTAL
        assert state.consumers["learning"].pending == 0
    finally:
        await bus.drain()


async def test_replicas_beyond_the_cluster_size_are_refused_at_open(nats_cluster: NatsCluster) -> None:
    bus = await NatsBus.connect(nats_cluster.urls)
    try:
        with pytest.raises(ConfigError, match="HA"):
            await open_stream(bus, SPEC, data_dir=None, replicas=5)
    finally:
        await bus.drain()


async def test_a_stream_opened_while_the_cluster_is_still_forming_is_created_once_it_can_be(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "forming")
    try:
        for node in cluster.nodes:  # started, not waited for: processes and servers boot together
            node.start()
        for node in cluster.nodes:
            node._wait_until(lambda node=node: _port_open(node.port))
        bus = await NatsBus.connect(cluster.urls)
        try:
            await open_stream(bus, SPEC, data_dir=None, replicas=3)
            info = await bus.transport.client.jetstream().stream_info(SPEC.name)
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert len(info.cluster.replicas or []) == 2
        finally:
            await bus.drain()
    finally:
        cluster.stop()
