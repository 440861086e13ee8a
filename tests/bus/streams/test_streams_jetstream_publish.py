"""A JetStream publish: its ack comes to the connection's one reply inbox, and a publish that the
server refuses or nobody stores is translated into our errors."""

from __future__ import annotations

import nats
import pytest
from nats.aio.msg import Msg

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.liveness import follows_statuses
from prompt_alchemy.bus.nats_transport import flush_in_order
from prompt_alchemy.bus.streams import StreamSpec
from prompt_alchemy.bus.streams.jetstream import JetStreamStream
from prompt_alchemy.errors import BusError, Unavailable
from prompt_alchemy.testing.servers import NatsServer


async def test_a_publish_no_stream_captures_is_unavailable(nats_server: NatsServer, stream_spec: StreamSpec) -> None:
    bus = await NatsBus.connect(nats_server.url)
    try:
        stream = await JetStreamStream.open(bus.transport, stream_spec)
        js = bus.transport.client.jetstream()
        for name in (stream_spec.name, stream_spec.dead_letter_name):
            await js.delete_stream(name)
        with pytest.raises(Unavailable, match="JetStream did not answer"):
            await stream.publish(stream_spec.subjects[0], b"{}", msg_id="m1")
    finally:
        await bus.close()


async def test_an_error_ack_is_a_bus_error_naming_it(nats_server: NatsServer, stream_spec: StreamSpec) -> None:
    """The subject is stored by another stream than the one expected: the server answers an error."""
    bus = await NatsBus.connect(nats_server.url)
    try:
        stream = await JetStreamStream.open(bus.transport, stream_spec)
        client = bus.transport.client
        elsewhere = StreamSpec(name=f"{stream_spec.name}X", subjects=stream_spec.subjects)
        misdirected = JetStreamStream(bus.transport, client.jetstream(), elsewhere, max_payload=stream.max_payload)
        with pytest.raises(BusError, match="JetStream error 10060") as refused:
            await misdirected.publish(stream_spec.subjects[0], b"{}", msg_id="m1")
        assert not isinstance(refused.value, Unavailable)
        assert (await stream.publish(stream_spec.subjects[0], b"{}", msg_id="m1")).sequence == 1
    finally:
        js = bus.transport.client.jetstream()
        for name in (stream_spec.name, stream_spec.dead_letter_name):
            await js.delete_stream(name)
        await bus.close()


async def test_the_ack_comes_to_the_connection_reply_inbox(nats_server: NatsServer, stream_spec: StreamSpec) -> None:
    """No nats-py ``request`` (a random inbox, a future and a ``wait_for`` per publish): the ack is
    addressed to the inbox that every bus request of the connection already shares."""
    bus = await NatsBus.connect(nats_server.url)
    spy = await nats.connect(nats_server.url)
    publishes: list[Msg] = []

    async def seen(msg: Msg) -> None:
        publishes.append(msg)

    await spy.subscribe(stream_spec.subjects[0], cb=seen)
    await flush_in_order(spy)
    try:
        stream = await JetStreamStream.open(bus.transport, stream_spec)
        acks = [await stream.publish(stream_spec.subjects[0], b"{}", msg_id=f"m{n}") for n in (1, 2)]
        assert [(ack.sequence, ack.duplicate) for ack in acks] == [(1, False), (2, False)]
        assert (await stream.publish(stream_spec.subjects[0], b"{}", msg_id="m1")).duplicate
        await flush_in_order(spy)
        replies = [msg.reply for msg in publishes]
        assert len(replies) == 3
        assert all(follows_statuses(reply) for reply in replies)  # the bus's inbox: its liveness token
        assert len({reply.rsplit(".", 1)[0] for reply in replies}) == 1  # one inbox, one token per publish
        assert bus.transport.pending_requests == 0
    finally:
        await spy.close()
        js = bus.transport.client.jetstream()
        for name in (stream_spec.name, stream_spec.dead_letter_name):
            await js.delete_stream(name)
        await bus.close()
