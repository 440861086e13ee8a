"""Durable events typed by their contract: validation, size limit, idempotency by event id, factory choice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus
from prompt_alchemy.bus.context import TRACEPARENT_HEADER, RequestContext, bound_context, new_traceparent
from prompt_alchemy.bus.streams import (
    DurableStream,
    JetStreamStream,
    SqliteLog,
    decode_delivery,
    open_stream,
    publish_event,
)
from prompt_alchemy.errors import BadRequest, PayloadTooLarge
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM


@pytest.fixture(params=["sqlite", "jetstream"])
async def feedback_stream(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DurableStream]:
    """The real FEEDBACK stream (on a server of the test's own: its subject is fixed)."""
    bus: Bus
    if request.param == "sqlite":
        bus = InMemoryBus(max_payload=64 * 1024)
    else:
        server: NatsServer = request.getfixturevalue("private_nats_server")
        bus = await NatsBus.connect(server.url, max_payload=64 * 1024)
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=tmp_path)
    yield stream
    await stream.close()
    await bus.close()


async def test_open_stream_matches_the_bus(feedback_stream: DurableStream, request: pytest.FixtureRequest) -> None:
    expected = SqliteLog if "sqlite" in request.node.callspec.id else JetStreamStream
    assert isinstance(feedback_stream, expected)
    assert feedback_stream.max_payload == 64 * 1024  # the bus's limit applies to durable events too


async def test_publish_event_returns_accepted_and_is_idempotent(feedback_stream: DurableStream) -> None:
    event = FeedbackEvent(prompt_id="p1", rating=5, source="http")
    accepted = await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, event)
    assert isinstance(accepted, FeedbackAccepted)
    assert accepted.event_id == event.event_id
    assert not accepted.duplicate
    again = await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, event.model_dump(mode="json"))
    assert again.duplicate
    assert again.sequence == accepted.sequence
    assert (await feedback_stream.info()).messages == 1


async def test_publish_event_validates_with_the_contract_model(feedback_stream: DurableStream) -> None:
    with pytest.raises(BadRequest) as caught:
        await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, {"prompt_id": "p1", "rating": 9})
    assert caught.value.details["errors"][0]["field"] == "rating"
    with pytest.raises(BadRequest):
        await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, {"prompt_id": "p1"})  # no signal at all
    assert (await feedback_stream.info()).messages == 0


async def test_publish_event_refuses_oversized_events(feedback_stream: DurableStream) -> None:
    big = FeedbackEvent(prompt_id="p1", rating=3, comment="x" * 4000, session_id="s" * 128)
    huge = big.model_copy(
        update={"comment": "x" * (70 * 1024)}
    )  # past the contract limit: only the size check stops it
    with pytest.raises(PayloadTooLarge):
        await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, huge)
    await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, big)
    assert (await feedback_stream.info()).messages == 1


async def test_only_durable_contracts_are_published(feedback_stream: DurableStream) -> None:
    with pytest.raises(TypeError, match="expected a durable event contract, got a request contract"):
        await publish_event(feedback_stream, schemas.STORAGE_GET, {"id": "p1"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got an event contract"):
        await publish_event(feedback_stream, schemas.EVENTS_LABEL_MOVED, {"id": "p1"})  # type: ignore[arg-type]


async def test_a_delivery_decodes_to_the_event_with_the_trace_of_the_publisher(feedback_stream: DurableStream) -> None:
    context = RequestContext(subject="alchemy.v1.gateway", traceparent=new_traceparent())
    event = FeedbackEvent(prompt_id="p1", chosen_over="p2", helpful=True, source="mcp")
    with bound_context(context):
        await publish_event(feedback_stream, schemas.LEARNING_FEEDBACK, event)
    consumer = await feedback_stream.consumer("learning", ack_wait=30, max_deliver=3)
    (delivery,) = await consumer.fetch(1, timeout=5.0)
    assert decode_delivery(schemas.LEARNING_FEEDBACK, delivery) == event
    assert delivery.msg_id == event.event_id
    assert delivery.headers[TRACEPARENT_HEADER].split("-")[1] == context.trace_id
    await delivery.ack()


async def test_decode_delivery_names_the_failing_field(feedback_stream: DurableStream) -> None:
    await feedback_stream.publish(schemas.FEEDBACK, b'{"prompt_id": "p1", "rating": "lots"}', msg_id="bad-1")
    consumer = await feedback_stream.consumer("learning", ack_wait=30, max_deliver=3)
    (delivery,) = await consumer.fetch(1, timeout=5.0)
    with pytest.raises(BadRequest) as caught:
        decode_delivery(schemas.LEARNING_FEEDBACK, delivery)
    assert caught.value.details["errors"][0]["field"] == "rating"
    await delivery.term(caught.value.message)
    (letter,) = await feedback_stream.dead_letters()
    assert "rating" in letter.reason
