"""One loop timer for many deadlines: armed for the earliest, re-armed after each firing.

The bus's hot path waits on a deadline per request (a reply's timeout, a handler's deadline), and
almost every request ends long before it. A ``call_later`` per request buys a timer handle with
its own context copy, a heap entry, a cancel and a later pop, for nothing. Here each owner keeps
its deadlines itself and tells the timer about each new one; the timer calls ``due(now)`` at the
earliest, which handles what is due and returns the next deadline (``math.inf`` for none).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

__all__ = ["EarliestTimer"]


class EarliestTimer:
    def __init__(self, due: Callable[[float], float]) -> None:
        self._due = due
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next = math.inf

    def watch(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """A deadline at ``when`` (``loop.time()``); cheap unless it is the earliest."""
        if when < self._next or loop is not self._loop:
            self._arm(loop, when)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._next = None, math.inf

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next, self._loop = when, loop
        self._handle = loop.call_at(when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle, self._next = None, math.inf
        earliest = self._due(loop.time())
        if earliest < self._next:
            self._arm(loop, earliest)
