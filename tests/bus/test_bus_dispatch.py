"""Concurrent delivery on both buses: handlers start in delivery order, within the limit, in the subscriber's context.

The in-memory transport starts a handler straight from ``publish`` when nothing is queued and a slot
is free, and queues otherwise; these tests pin that neither path reorders, exceeds the limit or
leaks the publisher's context variables into a handler.
"""

from __future__ import annotations

import asyncio
import contextvars

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.transport import RawMessage

EVENTUALLY = 10.0  # liveness bound, never a statement about speed

caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")


async def test_handlers_start_in_delivery_order_and_never_beyond_the_limit(bus: Bus) -> None:
    limit, total = 3, 10
    started: list[int] = []
    active = peak = 0
    gate = asyncio.Event()
    saturated = asyncio.Event()
    finished = asyncio.Event()

    async def handle(message: RawMessage) -> None:
        nonlocal active, peak
        started.append(int(message.data))
        active += 1
        peak = max(peak, active)
        if active == limit:
            saturated.set()
        await gate.wait()
        active -= 1
        if len(started) == total and active == 0:
            finished.set()

    await bus.transport.subscribe("test.dispatch.order", handle, concurrency=limit)
    for index in range(total):
        await bus.transport.publish("test.dispatch.order", str(index).encode())
    async with asyncio.timeout(EVENTUALLY):
        await saturated.wait()
    assert started == [0, 1, 2]
    gate.set()
    async with asyncio.timeout(EVENTUALLY):
        await finished.wait()
    assert started == list(range(total))
    assert peak == limit


async def test_a_handler_does_not_see_the_publishers_context_variables(bus: Bus) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def handle(_message: RawMessage) -> None:
        seen.append(caller.get())
        done.set()

    await bus.transport.subscribe("test.dispatch.context", handle, concurrency=4)
    token = caller.set("publisher")
    try:
        await bus.transport.publish("test.dispatch.context", b"x")
    finally:
        caller.reset(token)
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert seen == ["nobody"]


async def test_a_request_handler_neither_sees_nor_changes_its_requesters_context_variables(bus: Bus) -> None:
    """In one process a request is handled in its requester's own task; its context stays its own all the same."""
    seen: list[str] = []

    async def handle(message: RawMessage) -> None:
        seen.append(caller.get())
        caller.set("handler")  # left set on purpose: it must not reach the requester
        await asyncio.sleep(0)  # and after a wait, the handler still runs in its own context
        seen.append(caller.get())
        assert message.reply is not None
        await bus.transport.reply(message.reply, b"done")

    await bus.transport.subscribe("test.dispatch.request", handle, queue="q", concurrency=4, backlog=4)
    await bus.transport.flush()
    token = caller.set("requester")
    try:
        reply = await bus.transport.request("test.dispatch.request", b"x", headers=None, timeout=EVENTUALLY)
        assert caller.get() == "requester"
    finally:
        caller.reset(token)
    assert reply.data == b"done"
    assert seen == ["nobody", "handler"]
