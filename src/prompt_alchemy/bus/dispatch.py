"""Bounded concurrent handling of one subscription's messages.

nats-py calls a subscription's callback one message at a time; so does our in-memory
transport. A ``Dispatcher`` turns that into up to ``limit`` concurrent handler tasks, applies
back-pressure beyond it (the delivery loop waits for a free slot), keeps strong references to
its tasks, and lets ``drain`` wait for the in-flight ones. A handler's exception is logged and
never reaches the delivery loop, so one bad message cannot stop a subscription.

Handler tasks run in a copy of the subscriber's context (as of the subscription), never in the
context of whoever happened to deliver the message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from prompt_alchemy.bus.transport import RawHandler, RawMessage

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, handler: RawHandler, limit: int = 1) -> None:
        if limit < 1:
            raise ValueError("concurrency limit must be at least 1")
        self._handler = handler
        self._limit = limit
        self._origin = contextvars.copy_context()
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0  # handlers not yet finished (a finished task may wait a loop turn to be forgotten)
        self._slot_freed = asyncio.Event()
        self._waiting = False  # the delivery loop waits for a slot: later messages queue behind it
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def try_start(self, message: RawMessage) -> bool:
        """Start a handler task at once if that keeps delivery order and the limit; else False.

        Lets a transport skip its delivery loop when nothing is queued. Never for ``limit == 1``:
        those handlers run one after another in the delivery loop.
        """
        if self._limit == 1 or self._waiting or self._active >= self._limit:
            return False
        self._start(message)
        return True

    async def dispatch(self, message: RawMessage) -> None:
        if self._limit == 1:
            await self._run(message)
            return
        while self._active >= self._limit:
            self._waiting = True
            self._slot_freed.clear()
            try:
                await self._slot_freed.wait()
            finally:
                self._waiting = False
        self._start(message)

    def _start(self, message: RawMessage) -> None:
        self._active += 1
        task = asyncio.get_running_loop().create_task(self._run_and_release(message), context=self._origin.copy())
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._forget)

    async def _run_and_release(self, message: RawMessage) -> None:
        try:
            await self._run(message)
        finally:
            self._active -= 1
            self._slot_freed.set()

    async def _run(self, message: RawMessage) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no handler task is running."""
        await self._idle.wait()

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
