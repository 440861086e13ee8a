"""One loop timer for many deadlines: each is handled, earliest first, whatever order they came in."""

from __future__ import annotations

import asyncio
import math

from prompt_alchemy.bus.earliest_timer import EarliestTimer

EVENTUALLY = 10.0  # liveness bound, never a statement about speed


async def test_every_deadline_is_handled_earliest_first_whatever_order_they_were_watched_in() -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    deadlines = [now + 0.06, now + 0.02, now + 0.09, now + 0.04]
    handled: list[float] = []
    done = asyncio.Event()

    def due(at: float) -> float:
        handled.extend(sorted(d for d in deadlines if d <= at and d not in handled))
        left = [d for d in deadlines if d not in handled]
        if not left:
            done.set()
        return min(left, default=math.inf)

    timer = EarliestTimer(due)
    for deadline in deadlines:
        timer.watch(loop, deadline)
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert handled == sorted(deadlines)
