"""The work budget: no new call after the deadline, work cancelled at it, a clear DeadlineExceeded."""

from __future__ import annotations

import asyncio
import time

import pytest

from prompt_alchemy.bus import RequestContext
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.workers.generation.deadline import Budget


def context(seconds_left: float | None) -> RequestContext:
    deadline = None if seconds_left is None else time.time() + seconds_left
    return RequestContext(
        subject="alchemy.v1.engine.generate", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01", deadline=deadline
    )


async def test_without_deadline_nothing_is_limited() -> None:
    budget = Budget.from_context(context(None), 0.25)
    assert budget.remaining() is None
    budget.check("anything")
    async with budget.scope("work"):
        await asyncio.sleep(0)


def test_the_margin_stops_work_before_the_callers_deadline_but_never_eats_the_budget() -> None:
    generous = Budget.from_context(context(30.0), 0.25)
    remaining = generous.remaining()
    assert remaining is not None
    assert 29.0 < remaining < 29.76
    tight = Budget.from_context(context(0.5), 0.25)
    tight_remaining = tight.remaining()
    assert tight_remaining is not None
    assert tight_remaining > 0.4  # at most a tenth is reserved


def test_a_passed_deadline_refuses_new_work_naming_the_stage() -> None:
    budget = Budget.from_context(context(-1.0), 0.25, what="generation r1")
    with pytest.raises(DeadlineExceeded) as caught:
        budget.check("solutio chain 2")
    assert "solutio chain 2" in caught.value.message
    assert caught.value.code == 504


async def test_the_scope_cancels_running_work_and_raises_deadline_exceeded() -> None:
    budget = Budget.from_context(context(0.3), 0.0)
    cancelled = asyncio.Event()
    never = asyncio.Event()

    async def work() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(DeadlineExceeded):
        async with budget.scope("the generation finished"):
            await work()
    assert cancelled.is_set()


async def test_other_timeouts_inside_the_scope_are_not_mistaken_for_the_deadline() -> None:
    budget = Budget.from_context(context(30.0), 0.25)
    with pytest.raises(TimeoutError):
        async with budget.scope("work"):
            raise TimeoutError("someone else's timeout")
