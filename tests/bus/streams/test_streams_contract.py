"""The durable-stream contract: every test runs on the SQLite log and on JetStream (real nats-server)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus.streams import Delivery, DurableConsumer, DurableStream, StreamSpec
from prompt_alchemy.errors import BadRequest, ConfigError, PayloadTooLarge
from prompt_alchemy.testing.waiting import eventually

StreamOpener = Callable[[], Awaitable[DurableStream]]

EVENTUALLY = 20.0  # liveness bound for something that must happen; never a statement about speed


def subject_of(spec: StreamSpec) -> str:
    return spec.subjects[0]


async def publish_many(stream: DurableStream, count: int, *, prefix: str = "e", concurrency: int = 64) -> None:
    slots = asyncio.Semaphore(concurrency)
    subject = subject_of(stream.spec)

    async def one(index: int) -> None:
        async with slots:
            await stream.publish(subject, json.dumps({"n": index}).encode(), msg_id=f"{prefix}-{index}")

    await asyncio.gather(*(one(index) for index in range(count)))


async def next_deliveries(consumer: DurableConsumer, *, batch: int = 10) -> list[Delivery]:
    """The next non-empty fetch, within the liveness bound."""
    return await eventually(lambda: consumer.fetch(batch, timeout=1.0), what=f"deliveries for {consumer.name}")


async def drain_exactly_once(consumer: DurableConsumer, expected: set[str], *, batch: int = 128) -> dict[str, int]:
    """Fetch and ack until every expected msg id was processed; returns deliveries per msg id."""
    seen: dict[str, int] = {}
    processed: set[str] = set()
    async with asyncio.timeout(EVENTUALLY * 3):
        while processed != expected:
            for delivery in await consumer.fetch(batch, timeout=1.0):
                assert delivery.msg_id is not None
                seen[delivery.msg_id] = seen.get(delivery.msg_id, 0) + 1
                processed.add(delivery.msg_id)  # the consumer side de-duplicates by msg id
                await delivery.ack()
    return seen


# -- publishing ----------------------------------------------------------------------------------
async def test_publish_returns_increasing_sequences(stream: DurableStream) -> None:
    first = await stream.publish(subject_of(stream.spec), b"one", msg_id="m1")
    second = await stream.publish(subject_of(stream.spec), b"two", msg_id="m2")
    assert first.stream == stream.spec.name
    assert second.sequence > first.sequence
    assert not first.duplicate


async def test_a_duplicate_msg_id_is_stored_once(stream: DurableStream) -> None:
    first = await stream.publish(subject_of(stream.spec), b"payload", msg_id="same")
    again = await stream.publish(subject_of(stream.spec), b"payload", msg_id="same")
    assert again.duplicate
    assert again.sequence == first.sequence
    info = await stream.info()
    assert info.messages == 1


async def test_refuses_foreign_subjects_and_oversized_messages(stream: DurableStream) -> None:
    with pytest.raises(BadRequest):
        await stream.publish("not.this.stream", b"x", msg_id="a")
    with pytest.raises(BadRequest):
        await stream.publish(subject_of(stream.spec), b"x", msg_id="")
    with pytest.raises(PayloadTooLarge):
        await stream.publish(subject_of(stream.spec), b"x" * (stream.max_payload + 1), msg_id="big")
    assert (await stream.info()).messages == 0


async def test_publish_keeps_headers(stream: DurableStream) -> None:
    await stream.publish(
        subject_of(stream.spec), b"x", msg_id="h1", headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    (delivery,) = await next_deliveries(consumer)
    assert delivery.headers["traceparent"].startswith("00-aaaa")
    assert delivery.msg_id == "h1"
    assert delivery.subject == subject_of(stream.spec)
    await delivery.ack()


# -- consuming -----------------------------------------------------------------------------------
async def test_fetch_returns_nothing_on_timeout(stream: DurableStream) -> None:
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    assert await consumer.fetch(10, timeout=0.2) == []


async def test_a_thousand_events_published_before_the_consumer_exists_are_processed_exactly_once(
    stream: DurableStream,
) -> None:
    await publish_many(stream, 1000)
    info = await stream.info()
    assert info.messages == 1000
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=5)
    seen = await drain_exactly_once(consumer, {f"e-{index}" for index in range(1000)})
    assert set(seen.values()) == {1}  # nothing delivered twice while all went well
    assert await consumer.fetch(10, timeout=0.2) == []
    state = (await stream.info()).consumers["workers"]
    assert state.pending == 0
    assert state.ack_pending == 0


async def test_first_deliveries_come_in_sequence_order(stream: DurableStream) -> None:
    for index in range(20):
        await stream.publish(subject_of(stream.spec), str(index).encode(), msg_id=f"o-{index}")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    got: list[int] = []
    async with asyncio.timeout(EVENTUALLY):
        while len(got) < 20:
            for delivery in await consumer.fetch(7, timeout=1.0):
                got.append(int(delivery.data))
                await delivery.ack()
    assert got == list(range(20))


async def test_two_durable_consumers_each_get_every_message(stream: DurableStream) -> None:
    await publish_many(stream, 50)
    expected = {f"e-{index}" for index in range(50)}
    first = await stream.consumer("learning", ack_wait=30, max_deliver=3)
    second = await stream.consumer("audit", ack_wait=30, max_deliver=3)
    assert set(await drain_exactly_once(first, expected)) == expected
    assert set(await drain_exactly_once(second, expected)) == expected


async def test_the_durable_consumer_resumes_where_it_stopped(open_test_stream: StreamOpener) -> None:
    stream = await open_test_stream()
    await publish_many(stream, 30)
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    acked: set[str] = set()
    async with asyncio.timeout(EVENTUALLY):
        while len(acked) < 10:
            for delivery in await consumer.fetch(10 - len(acked), timeout=1.0):
                assert delivery.msg_id is not None
                acked.add(delivery.msg_id)
                await delivery.ack()
    await consumer.close()
    other = await open_test_stream()  # another process opening the same stream
    rest = await drain_exactly_once(
        await other.consumer("workers", ack_wait=30, max_deliver=3), {f"e-{index}" for index in range(30)} - acked
    )
    assert not acked & set(rest)


# -- settling ------------------------------------------------------------------------------------
async def test_nak_redelivers_with_the_next_attempt(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"retry me", msg_id="n1")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=5)
    (first,) = await next_deliveries(consumer)
    assert first.attempt == 1
    await first.nak()
    (second,) = await next_deliveries(consumer)
    assert second.msg_id == "n1"
    assert second.attempt == 2
    assert second.data == b"retry me"
    await second.ack()
    assert await consumer.fetch(1, timeout=0.3) == []


async def test_nak_with_a_delay_still_redelivers(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"later", msg_id="d1")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=5)
    (first,) = await next_deliveries(consumer)
    await first.nak(delay=0.3)
    (second,) = await next_deliveries(consumer)
    assert second.attempt == 2
    await second.ack()


async def test_an_unacked_delivery_comes_back_after_ack_wait(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"slow", msg_id="w1")
    consumer = await stream.consumer("workers", ack_wait=0.5, max_deliver=5)
    (first,) = await next_deliveries(consumer)
    assert first.attempt == 1  # neither acked nor nak'd: the consumer "hangs"
    (second,) = await next_deliveries(consumer)
    assert second.msg_id == "w1"
    assert second.attempt == 2
    await second.ack()


async def test_in_progress_extends_ack_wait(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"busy", msg_id="p1")
    consumer = await stream.consumer("workers", ack_wait=2.0, max_deliver=5)
    (first,) = await next_deliveries(consumer)
    for _ in range(5):  # hold it for longer than ack_wait in all, telling the stream every 0.5 s
        await first.in_progress()
        assert await consumer.fetch(1, timeout=0.5) == []
    await first.ack()
    assert await consumer.fetch(1, timeout=0.5) == []


async def test_term_parks_the_message_with_its_reason(stream: DurableStream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="prompt_alchemy.bus.streams")
    await stream.publish(subject_of(stream.spec), b'{"bad": true}', msg_id="poison", headers={"x-origin": "test"})
    await stream.publish(subject_of(stream.spec), b"fine", msg_id="ok")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=5)
    deliveries = await next_deliveries(consumer)
    for delivery in deliveries:
        if delivery.msg_id == "poison":
            await delivery.term("invalid FeedbackEvent: prompt_id: Field required")
        else:
            await delivery.ack()
    assert await consumer.fetch(5, timeout=0.3) == []
    (letter,) = await stream.dead_letters()
    assert letter.msg_id == "poison"
    assert letter.data == b'{"bad": true}'
    assert letter.reason == "invalid FeedbackEvent: prompt_id: Field required"
    assert letter.attempts == 1
    assert letter.subject == subject_of(stream.spec)
    assert letter.headers["x-origin"] == "test"
    assert (await stream.info()).dead_letters == 1
    (warning,) = [record.getMessage() for record in caplog.records if "dead-lettered" in record.getMessage()]
    assert "poison" in warning
    assert "invalid FeedbackEvent: prompt_id: Field required" in warning


async def test_a_nak_on_the_last_attempt_dead_letters(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"always fails", msg_id="f1")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    attempts: list[int] = []
    async with asyncio.timeout(EVENTUALLY):
        while not (letters := await stream.dead_letters()):
            for delivery in await consumer.fetch(1, timeout=0.5):
                attempts.append(delivery.attempt)
                await delivery.nak(reason="storage says prompt not found")
    assert attempts == [1, 2, 3]
    assert letters[0].attempts == 3
    assert "storage says prompt not found" in letters[0].reason
    assert await consumer.fetch(1, timeout=0.3) == []


async def test_a_message_never_acked_is_dead_lettered_after_max_deliver(stream: DurableStream) -> None:
    """A consumer that crashes on a message every time: it ends in the dead letters, not in a loop."""
    await stream.publish(subject_of(stream.spec), b"crashes the consumer", msg_id="c1")
    await stream.publish(subject_of(stream.spec), b"innocent", msg_id="c2")
    consumer = await stream.consumer("workers", ack_wait=0.3, max_deliver=2)
    attempts: list[int] = []
    innocent_acked = False
    async with asyncio.timeout(EVENTUALLY):
        while not (letters := await stream.dead_letters()) or not innocent_acked:
            for delivery in await consumer.fetch(5, timeout=0.5):
                if delivery.msg_id == "c2":
                    await delivery.ack()
                    innocent_acked = True
                else:
                    attempts.append(delivery.attempt)  # and never settles it
    assert attempts == [1, 2]
    (letter,) = letters
    assert letter.msg_id == "c1"
    assert "not acknowledged after 2 deliveries" in letter.reason


async def test_settling_twice_does_nothing(stream: DurableStream) -> None:
    await stream.publish(subject_of(stream.spec), b"x", msg_id="s1")
    consumer = await stream.consumer("workers", ack_wait=30, max_deliver=3)
    (delivery,) = await next_deliveries(consumer)
    await delivery.ack()
    await delivery.nak()
    await delivery.term("too late")
    assert delivery.settled
    assert await stream.dead_letters() == []
    assert await consumer.fetch(1, timeout=0.3) == []


async def test_consumer_settings_are_checked(stream: DurableStream) -> None:
    with pytest.raises(ConfigError):
        await stream.consumer("workers", ack_wait=0, max_deliver=3)
    with pytest.raises(ConfigError):
        await stream.consumer("workers", ack_wait=1, max_deliver=0)


async def test_the_feedback_contract_is_durable() -> None:
    assert schemas.LEARNING_FEEDBACK.kind.value == "durable_event"
