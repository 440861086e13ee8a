"""A JetStream publish that the server refuses or nobody stores is translated into our errors."""

from __future__ import annotations

import pytest

from prompt_alchemy.bus import NatsBus
from prompt_alchemy.bus.streams import StreamSpec
from prompt_alchemy.bus.streams.jetstream import JetStreamStream
from prompt_alchemy.errors import BusError, Unavailable
from prompt_alchemy.testing.servers import NatsServer


async def test_a_publish_no_stream_captures_is_unavailable(nats_server: NatsServer, stream_spec: StreamSpec) -> None:
    bus = await NatsBus.connect(nats_server.url)
    try:
        stream = await JetStreamStream.open(bus.transport.client, stream_spec)
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
        stream = await JetStreamStream.open(bus.transport.client, stream_spec)
        client = bus.transport.client
        elsewhere = StreamSpec(name=f"{stream_spec.name}X", subjects=stream_spec.subjects)
        misdirected = JetStreamStream(client, client.jetstream(), elsewhere, max_payload=stream.max_payload)
        with pytest.raises(BusError, match="JetStream error 10060") as refused:
            await misdirected.publish(stream_spec.subjects[0], b"{}", msg_id="m1")
        assert not isinstance(refused.value, Unavailable)
        assert (await stream.publish(stream_spec.subjects[0], b"{}", msg_id="m1")).sequence == 1
    finally:
        js = bus.transport.client.jetstream()
        for name in (stream_spec.name, stream_spec.dead_letter_name):
            await js.delete_stream(name)
        await bus.close()
