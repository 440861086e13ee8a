"""Bounded concurrent handling of one subscription's messages.

nats-py calls a subscription's callback one message at a time; so does our in-memory
transport. A ``Dispatcher`` turns that into up to ``limit`` concurrent handler tasks, keeps
strong references to them, and lets a drain wait for them. A handler's exception is logged and
never reaches the delivery loop, so one bad message cannot stop a subscription.

Two disciplines:

- events (``backlog=None``): beyond the limit the delivery loop waits for a free slot
  (back-pressure; with ``limit == 1`` handlers run one after another, in order);
- requests (a ``backlog`` and a liveness ``signal``): delivery never waits. A request starts
  now, or waits in a bounded backlog where the heartbeat reports it ``queued``, or is
  ``declined`` at once so its requester resends it to another instance of the queue group.
  A replica therefore holds only what it can start soon, and what it holds is visible to the
  requesters: if it dies, nothing waits out a deadline.

Handler tasks run in a copy of the subscriber's context (as of the subscription), never in the
context of whoever happened to deliver the message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Iterator

from prompt_alchemy.bus.liveness import DECLINED, LOST, QUEUED, RUNNING, Signal
from prompt_alchemy.bus.transport import RawHandler, RawMessage

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self, handler: RawHandler, limit: int = 1, *, backlog: int | None = None, signal: Signal | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("concurrency limit must be at least 1")
        if (backlog is None) != (signal is None):
            raise TypeError("a request dispatcher needs both a backlog and a liveness signal")
        if backlog is not None and backlog < 0:
            raise ValueError("backlog must not be negative")
        self._handler = handler
        self._limit = limit
        self._backlog = backlog
        self._signal = signal
        self._origin = contextvars.copy_context()
        self._tasks: dict[asyncio.Task[None], RawMessage] = {}
        self._queued: deque[RawMessage] = deque()
        self._signals: set[asyncio.Task[None]] = set()
        self._active = 0  # handlers not yet finished (a finished task may wait a loop turn to be forgotten)
        self._slot_freed = asyncio.Event()
        self._waiting = False  # the delivery loop waits for a slot: later messages queue behind it
        self._idle = asyncio.Event()
        self._idle.set()
        self._intake = True
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        return len(self._queued)

    @property
    def serves_requests(self) -> bool:
        return self._backlog is not None

    # -- intake ----------------------------------------------------------------------------
    def try_start(self, message: RawMessage) -> bool:
        """Take ``message`` now if that keeps delivery order and the limit; else False.

        Lets a transport skip its delivery loop when nothing is queued. A request dispatcher
        always takes it (started, queued or declined); an event dispatcher with ``limit == 1``
        never does: those handlers run one after another in the delivery loop.
        """
        if self._backlog is not None:
            self._offer(message)
            return True
        if self._limit == 1 or self._waiting or self._active >= self._limit:
            return False
        self._start(message)
        return True

    async def dispatch(self, message: RawMessage) -> None:
        if self._backlog is not None:
            self._offer(message)
            return
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

    def _offer(self, message: RawMessage) -> None:
        assert self._backlog is not None
        if self._intake and self._active < self._limit and not self._queued:
            self._start(message)
        elif self._intake and (len(self._queued) < self._backlog or not message.reply):
            self._queued.append(message)
            self._idle.clear()
        else:
            self._send(message, DECLINED)

    def _start(self, message: RawMessage) -> None:
        self._active += 1
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        task = self._loop.create_task(self._run_and_release(message), context=self._origin.copy())
        self._tasks[task] = message
        self._idle.clear()
        task.add_done_callback(self._forget)

    async def _run_and_release(self, message: RawMessage) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)
        finally:
            self._active -= 1
            if self._waiting:
                self._slot_freed.set()
            if self._queued and self._active < self._limit:
                self._start(self._queued.popleft())

    async def _run(self, message: RawMessage) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._tasks and not self._queued and not self._signals:
            self._idle.set()

    def _send(self, message: RawMessage, status: str) -> None:
        if not message.reply or self._signal is None:
            return
        task = asyncio.get_running_loop().create_task(self._signal(message.reply, status))
        self._signals.add(task)
        self._idle.clear()
        task.add_done_callback(self._signal_sent)

    def _signal_sent(self, task: asyncio.Task[None]) -> None:
        self._signals.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("liveness status not sent: %s", task.exception())
        self._check_idle()

    # -- liveness (HeldRequests) -----------------------------------------------------------
    def held(self) -> Iterator[tuple[str, str]]:
        for message in list(self._tasks.values()):
            if message.reply:
                yield message.reply, RUNNING
        for message in list(self._queued):
            if message.reply:
                yield message.reply, QUEUED

    # -- stopping --------------------------------------------------------------------------
    def stop_intake(self) -> None:
        """Take nothing more; requests waiting for a slot are declined, to be resent elsewhere."""
        self._intake = False
        while self._queued:
            message = self._queued.popleft()
            if message.reply:
                self._send(message, DECLINED)
            else:
                self._start(message)  # nobody would resend it: it was accepted, so it runs
        self._check_idle()

    async def wait_idle(self) -> None:
        """Return once no handler task is running and every status is sent."""
        await self._idle.wait()

    async def abort(self) -> None:
        """Cancel every running handler (requesters told ``lost``) and decline the queued ones."""
        queued = [message for message in self._queued if message.reply]
        self._queued.clear()
        for message in queued:
            self._send(message, DECLINED)
        running = dict(self._tasks)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for message in running.values():
            self._send(message, LOST)
        if self._signals:
            await asyncio.gather(*list(self._signals), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop at once: take nothing more, abort what is held."""
        self._intake = False
        await self.abort()
