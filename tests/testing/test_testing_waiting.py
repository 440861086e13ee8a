"""``eventually``: returns the first value that holds, and fails naming the wait and what it last saw."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.testing.waiting import eventually

GIVE_UP_S = 0.2  # a wait that must fail: its bound, not a claim about speed


async def test_a_sync_condition_is_polled_until_it_holds() -> None:
    polls: list[int] = []

    def third_poll() -> int:
        polls.append(len(polls))
        return len(polls) if len(polls) >= 3 else 0

    assert await eventually(third_poll) == 3
    assert len(polls) == 3


async def test_an_async_probe_with_accept_returns_the_accepted_value() -> None:
    counter = iter(range(100))

    async def next_value() -> int:
        await asyncio.sleep(0)
        return next(counter)

    assert await eventually(next_value, lambda value: value >= 5) == 5


async def test_giving_up_names_the_wait_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"^the count: not reached within 0.2 s; last seen: 0$"):
        await eventually(lambda: 0, timeout=GIVE_UP_S, what="the count")


async def test_the_probe_name_is_the_default_description() -> None:
    def nothing_yet() -> list[str]:
        return []

    with pytest.raises(AssertionError, match=r"nothing_yet: not reached .* last seen: \[\]"):
        await eventually(nothing_yet, timeout=GIVE_UP_S)


async def test_ignored_exceptions_mean_not_yet_and_the_last_one_is_reported() -> None:
    attempts: list[int] = []

    async def restarting() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("still restarting")
        return "up"

    assert await eventually(restarting, ignoring=(OSError,)) == "up"

    async def down() -> str:
        raise ConnectionRefusedError("down for good")

    with pytest.raises(AssertionError, match="last seen: ConnectionRefusedError") as failed:
        await eventually(down, timeout=GIVE_UP_S, ignoring=(OSError,))
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)


async def test_other_exceptions_fail_at_once() -> None:
    def broken() -> bool:
        raise ValueError("a bug, not a wait")

    with pytest.raises(ValueError, match="a bug"):
        await eventually(broken, ignoring=(OSError,))


async def test_the_probes_own_timeout_is_not_mistaken_for_giving_up() -> None:
    async def times_out() -> bool:
        raise TimeoutError("the probe's request timed out")

    with pytest.raises(TimeoutError, match="the probe's request timed out"):
        await eventually(times_out)


async def test_a_probe_that_never_answers_is_reported_as_such() -> None:
    never = asyncio.Event()

    async def hangs() -> bool:
        await never.wait()
        return True

    with pytest.raises(AssertionError, match=r"last seen: nothing \(the first poll never finished\)"):
        await eventually(hangs, timeout=GIVE_UP_S)
