"""The work budget: what the bus's Deadline layer leaves a handler, no new call once it is spent,
and the layer's cancellation answered as a DeadlineExceeded naming the stage."""

from __future__ import annotations

import asyncio
import time

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus.codec import error_from_reply
from prompt_alchemy.bus.context import DEADLINE_HEADER
from prompt_alchemy.bus.middleware import Deadline, HandlerDeadline
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas.storage import GetReply, GetRequest
from prompt_alchemy.workers.generation.deadline import Budget

EVENTUALLY = 10.0  # a liveness bound, never a statement about speed


def bound_in(seconds: float) -> HandlerDeadline:
    """A bound on the running task, as the layer would give it, ``seconds`` from now."""
    task = asyncio.current_task()
    assert task is not None
    return HandlerDeadline(task, task.get_loop().time() + seconds)


async def test_without_a_bound_nothing_is_limited() -> None:
    budget = Budget.current()  # no Deadline layer around this code
    assert budget.bound is None
    assert budget.remaining() is None
    budget.check("anything")
    with budget.stops("work"):
        await asyncio.sleep(0)


async def test_a_spent_budget_refuses_new_work_naming_the_stage() -> None:
    budget = Budget(bound_in(-1.0), what="generation r1")
    with pytest.raises(DeadlineExceeded) as caught:
        budget.check("solutio chain 2")
    assert "solutio chain 2" in caught.value.message
    assert "generation r1" in caught.value.message
    assert caught.value.code == 504


async def test_the_layers_cancellation_is_answered_naming_the_stage(bus: Bus) -> None:
    cancelled = asyncio.Event()

    async def work(request: GetRequest, _context: RequestContext) -> GetReply:
        budget = Budget.current(what="generation r1")
        assert budget.bound is not None
        try:
            with budget.stops("the generation finished"):
                await asyncio.Event().wait()  # never set: only the deadline ends it
        finally:
            cancelled.set()
        raise AssertionError("the deadline did not stop the work")

    bus.use(Deadline())
    runner = ServiceRunner(bus, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_GET, work)
    await runner.start()
    deadline = str(int((time.time() + 0.3) * 1000))
    # through the transport: the requester's own timer must not race the answer under test
    raw = await bus.transport.request(
        schemas.STORAGE_GET.subject, b'{"id": "p1"}', headers={DEADLINE_HEADER: deadline}, timeout=EVENTUALLY
    )
    failure = error_from_reply(raw.data, raw.headers)
    assert isinstance(failure, DeadlineExceeded)
    assert failure.details["stage"] == "the generation finished"
    assert "generation r1 stopped" in failure.message
    assert cancelled.is_set()


async def test_another_cancellation_inside_the_scope_is_not_mistaken_for_the_deadline() -> None:
    budget = Budget(bound_in(EVENTUALLY * 6), what="work")
    started = asyncio.Event()

    async def work() -> None:
        with budget.stops("work"):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()  # a shutdown, not the deadline
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not budget.expired()
