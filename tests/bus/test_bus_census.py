"""A census of a service's other instances: taken when an endpoint is full, one at a time, at most
once per interval; until it answers, and when it fails, the instance assumes it has peers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from prompt_alchemy.bus.census import Census
from prompt_alchemy.errors import BusClosed
from prompt_alchemy.testing.waiting import eventually


class Counting:
    """A peer count that answers only when the test says how many peers there are."""

    def __init__(self) -> None:
        self.asked = 0
        self.answers: asyncio.Queue[int | BaseException] = asyncio.Queue()

    async def __call__(self) -> int:
        self.asked += 1
        answer = await self.answers.get()
        if isinstance(answer, BaseException):
            raise answer
        return answer


def census_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "prompt_alchemy.bus.census"]


async def test_a_census_is_taken_when_full_one_at_a_time_and_not_again_within_the_interval() -> None:
    count = Counting()
    census = Census(count, name="engine", interval=3600)
    assert census.alone is False  # peers assumed: a full endpoint declines, as without a census
    census.full()
    census.full()  # one is under way
    await eventually(lambda: count.asked == 1)
    assert census.alone is False
    count.answers.put_nowait(0)
    await eventually(lambda: census.taken == 1)
    assert census.alone is True
    census.full()  # within the interval: the answer stands
    assert count.asked == 1
    await census.close()


async def test_a_census_taken_again_finds_a_replica_that_joined() -> None:
    count = Counting()
    census = Census(count, name="engine", interval=0)
    census.full()
    count.answers.put_nowait(0)
    await eventually(lambda: census.taken == 1)
    assert census.alone is True
    census.full()
    count.answers.put_nowait(1)
    await eventually(lambda: census.taken == 2)
    assert census.alone is False
    assert count.asked == 2
    await census.close()


async def test_an_instance_that_found_peers_counts_again_less_often() -> None:
    """Every instance answers every count: full replicas counting each other often would cost the
    square of their number in messages. Finding none, an instance counts again soon, to notice a
    replica that joins."""
    count = Counting()
    census = Census(count, name="engine", interval=0, with_peers=3600)
    census.full()
    count.answers.put_nowait(1)
    await eventually(lambda: census.taken == 1)
    assert census.alone is False
    census.full()  # peers found less than an hour ago
    assert count.asked == 1
    await census.close()
    census = Census(count, name="engine", interval=0, with_peers=3600)
    census.full()
    count.answers.put_nowait(0)
    await eventually(lambda: census.taken == 1)
    census.full()  # alone: the short interval
    await eventually(lambda: count.asked == 3)
    await census.close()


async def test_a_census_that_fails_keeps_the_last_answer(caplog: pytest.LogCaptureFixture) -> None:
    count = Counting()
    census = Census(count, name="engine", interval=0)
    census.full()
    count.answers.put_nowait(0)
    await eventually(lambda: census.taken == 1)
    census.full()
    with caplog.at_level(logging.WARNING, logger="prompt_alchemy.bus.census"):
        count.answers.put_nowait(BusClosed("the bus is draining"))
        await eventually(lambda: "census of engine failed" in caplog.text)
    await eventually(lambda: count.asked == 2)
    assert census.alone is True
    assert census.taken == 1
    census.full()  # the failed one is over: another may start
    await eventually(lambda: count.asked == 3)
    await census.close()


async def test_a_census_that_breaks_is_logged_and_keeps_the_last_answer(caplog: pytest.LogCaptureFixture) -> None:
    """Nobody awaits the census task: an unexpected failure is logged where it happens."""
    count = Counting()
    census = Census(count, name="engine", interval=0)
    with caplog.at_level(logging.ERROR, logger="prompt_alchemy.bus.census"):
        census.full()
        count.answers.put_nowait(ValueError("a peer answered nonsense"))
        await eventually(
            lambda: census_failures(caplog) == ["census of engine failed, keeping declines what it cannot hold"]
        )
    assert "a peer answered nonsense" in caplog.text  # with its traceback
    assert census.alone is False
    census.full()
    await eventually(lambda: count.asked == 2)
    await census.close()


async def test_close_cancels_a_census_under_way() -> None:
    count = Counting()
    census = Census(count, name="engine")
    census.full()
    await eventually(lambda: count.asked == 1)
    await census.close()
    assert census.taken == 0
    assert census.alone is False
