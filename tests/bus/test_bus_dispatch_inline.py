"""In one process, a request whose responder can start it at once runs in its requester's task.

``InMemoryBus`` hands such a request to ``Dispatcher.run_inline``: a direct await instead of a task
and two loop turns. These tests pin what that must not change: the handler holds a slot and ends
with its requester (timeout, the bus closing, the request failing as responder lost), its reply
is kept in the run (no reply future; the liveness watch only once the handler waits), and a
responder without a free slot still gets the request the usual way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from prompt_alchemy.bus import InMemoryBus
from prompt_alchemy.bus.liveness import LIVENESS_HEADER, Liveness
from prompt_alchemy.bus.memory_transport import InMemoryTransport
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import BusClosed, RequestTimeout, ResponderLost
from prompt_alchemy.testing.waiting import eventually

EVENTUALLY = 10.0  # liveness bound, never a statement about speed
SUBJECT = "test.inline"


async def test_a_request_that_can_start_at_once_runs_in_its_requesters_task() -> None:
    bus = InMemoryBus()
    handled_in: list[asyncio.Task[object] | None] = []

    async def handle(message: RawMessage) -> None:
        handled_in.append(asyncio.current_task())
        assert message.reply is not None
        await bus.transport.reply(message.reply, b"ok")

    await bus.transport.subscribe(SUBJECT, handle, queue="q", concurrency=1, backlog=1)
    reply = await bus.transport.request(SUBJECT, b"x", headers=None, timeout=EVENTUALLY)
    assert reply.data == b"ok"
    assert handled_in == [asyncio.current_task()]
    await bus.drain()


async def test_a_request_beyond_the_responders_limit_waits_for_a_slot_in_a_task_of_its_own() -> None:
    bus = InMemoryBus()
    gate, first_started = asyncio.Event(), asyncio.Event()
    handled_in: list[asyncio.Task[object] | None] = []

    async def handle(message: RawMessage) -> None:
        handled_in.append(asyncio.current_task())
        first_started.set()
        await gate.wait()
        assert message.reply is not None
        await bus.transport.reply(message.reply, message.data)

    await bus.transport.subscribe(SUBJECT, handle, queue="q", concurrency=1, backlog=1)
    first = asyncio.create_task(bus.transport.request(SUBJECT, b"1", headers=None, timeout=EVENTUALLY))
    second = asyncio.create_task(bus.transport.request(SUBJECT, b"2", headers=None, timeout=EVENTUALLY))
    async with asyncio.timeout(EVENTUALLY):
        await first_started.wait()
    gate.set()
    assert (await first).data == b"1"
    assert (await second).data == b"2"
    assert handled_in[0] is first
    assert handled_in[1] not in (first, second)  # queued behind the limit: started in a task of its own
    await bus.drain()


async def test_a_handler_running_in_its_requesters_task_is_cancelled_at_the_requests_timeout() -> None:
    bus = InMemoryBus()
    cancelled = asyncio.Event()
    handled_in: list[asyncio.Task[object] | None] = []

    async def stuck_once(message: RawMessage) -> None:
        handled_in.append(asyncio.current_task())
        if message.data == b"stuck":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
        assert message.reply is not None
        await bus.transport.reply(message.reply, b"ok")

    await bus.transport.subscribe(SUBJECT, stuck_once, queue="q", concurrency=1, backlog=1)
    with pytest.raises(RequestTimeout):
        await bus.transport.request(SUBJECT, b"stuck", headers=None, timeout=0.05)
    assert cancelled.is_set()
    # its slot is free again: the next request starts at once, in this task
    reply = await bus.transport.request(SUBJECT, b"next", headers=None, timeout=EVENTUALLY)
    assert reply.data == b"ok"
    assert handled_in == [asyncio.current_task(), asyncio.current_task()]
    await bus.drain()


async def test_closing_the_bus_stops_a_handler_running_in_its_requesters_task_and_tells_the_requester() -> None:
    bus = InMemoryBus()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(_message: RawMessage) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await bus.transport.subscribe(SUBJECT, stuck, queue="q", concurrency=1, backlog=1)
    request = asyncio.create_task(bus.transport.request(SUBJECT, b"x", headers=None, timeout=EVENTUALLY))
    async with asyncio.timeout(EVENTUALLY):
        await started.wait()
    async with asyncio.timeout(EVENTUALLY):
        await bus.close()
    with pytest.raises((ResponderLost, BusClosed)):
        await request
    assert cancelled.is_set()
    assert not request.cancelled()  # the requester was told, not cancelled


async def test_a_silent_responder_is_given_up_even_while_its_handler_runs_in_the_requesters_task() -> None:
    bus = InMemoryBus(liveness=Liveness(window=0.3))
    cancelled = asyncio.Event()

    async def frozen(_message: RawMessage) -> None:
        await bus.transport.heartbeats.close()  # no status ever again, as if the responder froze
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await bus.transport.subscribe(SUBJECT, frozen, queue="q", concurrency=1, backlog=1)
    async with asyncio.timeout(EVENTUALLY):  # the request's own timeout (120 s) is not what ends it
        with pytest.raises(ResponderLost):
            await bus.transport.request(SUBJECT, b"x", headers=None, timeout=120)
    assert cancelled.is_set()
    await bus.close()


def in_memory(bus: InMemoryBus) -> InMemoryTransport:
    assert isinstance(bus.transport, InMemoryTransport)
    return bus.transport


async def test_liveness_statuses_sent_while_a_handler_waits_in_its_requesters_task_are_not_its_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An inline run has no pending-reply entry: the transport keeps its reply in the run, and the
    # heartbeat's "running" statuses to the same inbox must not be taken for it.
    bus = InMemoryBus(liveness=Liveness(window=0.15))
    transport = in_memory(bus)
    statuses: list[str] = []
    send_reply = transport.reply

    async def spy(reply: str, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        if headers and LIVENESS_HEADER in headers:
            statuses.append(headers[LIVENESS_HEADER])
        await send_reply(reply, data, headers=headers)

    monkeypatch.setattr(transport, "reply", spy)

    async def waits_for_a_status(message: RawMessage) -> None:
        assert message.reply is not None
        await eventually(lambda: statuses, what="a liveness status for the running request")
        await send_reply(message.reply, b"done")

    await transport.subscribe(SUBJECT, waits_for_a_status, queue="q", concurrency=1, backlog=1)
    async with asyncio.timeout(EVENTUALLY):
        reply = await transport.request(SUBJECT, b"x", headers=None, timeout=EVENTUALLY)
    assert reply.data == b"done"
    assert statuses[0] == "running"
    assert transport.pending_requests == 0
    await bus.close()


async def test_a_handler_in_its_requesters_task_that_ends_without_replying_leaves_the_requester_to_its_timeout() -> (
    None
):
    # As on NATS: a responder whose reply could not be sent leaves the requester to its timeout
    # (another subscriber may still answer), and nothing is left pending.
    bus = InMemoryBus()

    async def no_reply(_message: RawMessage) -> None:
        await asyncio.sleep(0)  # it waits once: its run gets a timeout scope

    await bus.transport.subscribe(SUBJECT, no_reply, queue="q", concurrency=1, backlog=1)
    with pytest.raises(RequestTimeout):
        await bus.transport.request(SUBJECT, b"x", headers=None, timeout=0.05)
    assert in_memory(bus).pending_requests == 0
    await bus.close()


async def test_a_waiting_handler_in_its_requesters_task_whose_responder_aborts_leaves_nothing_pending() -> None:
    bus = InMemoryBus()
    started = asyncio.Event()

    async def stuck(_message: RawMessage) -> None:
        started.set()
        await asyncio.Event().wait()

    subscription = await bus.transport.subscribe(SUBJECT, stuck, queue="q", concurrency=1, backlog=1)
    request = asyncio.create_task(bus.transport.request(SUBJECT, b"x", headers=None, timeout=EVENTUALLY))
    async with asyncio.timeout(EVENTUALLY):
        await started.wait()
    assert in_memory(bus).pending_requests == 1
    async with asyncio.timeout(EVENTUALLY):
        await subscription.abort()
    with pytest.raises(ResponderLost):
        await request
    assert in_memory(bus).pending_requests == 0
    await bus.close()
