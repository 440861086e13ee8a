"""The engine's provider calls: a phase's batch takes as many slots as it has calls, together, and
is split only when it would not fit one message."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.bus import DEFAULT_MAX_PAYLOAD
from prompt_alchemy.schemas.providers import MAX_COMPLETION_BATCH, ChatMessage, CompletionRequest, ResponseSchema
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.generation.completions import CallSlots, message_batches


def completion(chars: int, max_tokens: int = 1024) -> CompletionRequest:
    """A request of about ``chars`` characters (in messages of at most 50,000)."""
    parts = [50_000] * (chars // 50_000) + ([chars % 50_000] if chars % 50_000 else [])
    messages = [ChatMessage(role="user", content="x" * part) for part in parts]
    return CompletionRequest(messages=messages, max_tokens=max_tokens)


def test_a_phases_chains_go_in_one_batch_unless_it_would_not_fit_a_message() -> None:
    assert message_batches([completion(5_000)] * 3, DEFAULT_MAX_PAYLOAD) == [[0, 1, 2]]
    assert message_batches([completion(5_000)] * 20, DEFAULT_MAX_PAYLOAD) == [
        list(range(MAX_COMPLETION_BATCH)),
        list(range(MAX_COMPLETION_BATCH, 20)),
    ]
    long = message_batches([completion(200_000)] * 10, DEFAULT_MAX_PAYLOAD)  # 10 x 200 kB does not fit 1 MiB
    assert [index for batch in long for index in batch] == list(range(10))
    assert len(long) > 2
    assert all(len(batch) * 200_000 < DEFAULT_MAX_PAYLOAD for batch in long)
    # a structured-output schema's size is measured, not guessed
    schema = ResponseSchema(name="brief", json_schema={"type": "object", "description": "x" * 40_000})
    structured = completion(100).model_copy(update={"response_schema": schema})
    assert message_batches([structured] * 3, DEFAULT_MAX_PAYLOAD) == [[0, 1, 2]]
    many = message_batches([structured] * 30, DEFAULT_MAX_PAYLOAD)  # 30 x ~40 kB does not fit 1 MiB
    assert len(many) >= 2
    assert [index for batch in many for index in batch] == list(range(30))
    # the reply may be long even when the request is short: max_tokens bounds it
    assert len(message_batches([completion(100, max_tokens=32_768)] * 3, DEFAULT_MAX_PAYLOAD)) == 3


class Holder:
    """A task that takes ``calls`` slots and keeps them until released."""

    def __init__(self, slots: CallSlots, calls: int, started: list[str], name: str) -> None:
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._hold(slots, calls, started, name))

    async def _hold(self, slots: CallSlots, calls: int, started: list[str], name: str) -> None:
        async with slots.take(calls):
            started.append(name)
            await self.release.wait()

    async def done(self) -> None:
        self.release.set()
        await self.task


async def line_up(slots: CallSlots, started: list[str], *takers: tuple[str, int]) -> list[Holder]:
    """The first taker holds its slots; each next one is in line (in this order) before the next comes."""
    (first_name, first_calls), *rest = takers
    holders = [Holder(slots, first_calls, started, first_name)]
    await eventually(lambda: started == [first_name])
    for name, calls in rest:
        holders.append(Holder(slots, calls, started, name))
        await eventually(lambda: slots.waiting, lambda waiting: waiting == len(holders) - 1)
    return holders


async def test_a_batch_waits_for_all_its_slots_without_holding_some_meanwhile() -> None:
    slots = CallSlots(4)
    started: list[str] = []
    first, batch, single = await line_up(slots, started, ("first", 2), ("batch", 3), ("single", 1))
    assert started == ["first"]  # 2 slots are free, but the batch of 3 is first in line: the single waits behind it
    assert slots.free == 2

    await first.done()
    await eventually(lambda: started == ["first", "batch", "single"])  # the batch's 3 at once, then the last one
    assert slots.free == 0
    await batch.done()
    await single.done()
    assert (slots.free, slots.waiting) == (4, 0)


async def test_a_batch_bigger_than_the_limit_runs_alone() -> None:
    slots = CallSlots(2)
    async with slots.take(5):
        assert slots.free == 0
    assert slots.free == 2


async def test_a_cancelled_waiter_leaves_the_line_and_returns_nothing_it_did_not_take() -> None:
    slots = CallSlots(2)
    started: list[str] = []
    # "behind" fits, but keeps its place behind the waiting batch
    held, waiting, behind = await line_up(slots, started, ("held", 1), ("waiting", 2), ("behind", 1))
    waiting.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting.task
    await eventually(lambda: started == ["held", "behind"])  # the line moved on to the single, which fits
    await held.done()
    await behind.done()
    assert (slots.free, slots.waiting) == (2, 0)


def test_at_least_one_call_must_be_allowed() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CallSlots(0)
