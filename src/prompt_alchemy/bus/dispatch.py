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
  requesters: if it dies, nothing waits out a deadline. The backlog is served earliest deadline
  first, and a request with an earlier deadline than the latest one waiting takes its place
  (that one is declined instead): under overload, a request declined before does not lose the
  freed places again and again to newer ones while it waits out its resend pause.
  A request declined ``QUEUE_AFTER_DECLINES`` times (its ``Alchemy-Declined`` header) found every
  instance it reached full: it waits here even beyond the backlog (up to ``OVERFLOW_PER_SLOT``
  places per slot more), in deadline order, reported ``queued`` like the rest. Resending it again
  and again would not start it sooner; it would only cost each hop a message every resend pause
  (~9 resends per generation at one engine replica and 16 clients). An instance whose ``Census``
  finds no other instance holds every request that way at once: nobody else could take it.

Handler tasks run in a copy of the subscriber's context (as of the subscription), never in the
context of whoever happened to deliver the message.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import itertools
import logging
import math
import types
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.context import header_deadline
from prompt_alchemy.bus.liveness import (
    DECLINED,
    DECLINED_HEADER,
    LOST,
    QUEUED,
    RUNNING,
    Signal,
    Waiting,
    follows_statuses,
)
from prompt_alchemy.bus.transport import RawHandler, RawMessage
from prompt_alchemy.errors import RequestTimeout, ResponderLost

__all__ = ["Dispatcher", "InlineRun"]

log = logging.getLogger(__name__)


@types.coroutine
def _resume(
    handling: Coroutine[Any, Any, None], waiting_for: Any, context: contextvars.Context
) -> Generator[Any, Any, None]:
    """Await the rest of a coroutine whose first step already ran and yielded ``waiting_for``.

    What ``await`` does for a coroutine it starts (``yield from``), for one started by hand, and
    with every step run in ``context`` (as a task would): each value it yields goes to the running
    task, and what the task sends or throws back (a result, a cancellation) goes into it.
    """
    while True:
        try:
            sent = yield waiting_for
        except BaseException as error:  # thrown in by the task: a cancellation, or GeneratorExit
            try:
                waiting_for = context.run(handling.throw, error)
            except StopIteration:
                return
        else:
            try:
                waiting_for = context.run(handling.send, sent)
            except StopIteration:
                return


class InlineRun:
    """A handler running in its requester's task, and how to stop it (its timeout scope).

    ``on_wait(run, timeout)`` is called once if the handler waits (its first step did not finish
    it): what only a waiting handler needs, such as the watch on its responder's liveness, is set
    up then, so a handler that answers at once costs none of it.
    """

    __slots__ = ("aborted", "finished", "given_up", "message", "on_wait", "reply", "scope", "waiting")

    def __init__(self, message: RawMessage, on_wait: Callable[[InlineRun, float], None] | None = None) -> None:
        self.message = message
        self.on_wait = on_wait
        self.reply: RawMessage | None = None  # kept here by the transport when it arrives
        self.waiting: Waiting[RawMessage] | None = None  # what on_wait set up, if it did
        self.scope: asyncio.Timeout | None = None
        self.aborted = False  # the dispatcher aborted it
        self.given_up = False  # its requester gave it up (the reply can no longer be delivered)
        self.finished: asyncio.Future[None] | None = None  # made by abort, to wait for the run to end

    def give_up(self) -> None:
        """Cancel the handler, not its requester (the request failed elsewhere: see ``on_failure``)."""
        self.given_up = True
        self._stop()

    def _stop(self) -> None:
        if self.scope is not None and self.finished is None and not self.scope.expired():
            self.scope.reschedule(asyncio.get_running_loop().time())


QUEUE_AFTER_DECLINES = 2  # declines after which a request waits beyond the backlog
OVERFLOW_PER_SLOT = 16  # how many such requests may wait beyond it, per handler slot


def _declines(message: RawMessage) -> int:
    """How often instances declined this request before (its requester's count; 0 if unreadable)."""
    raw = message.headers.get(DECLINED_HEADER) if message.headers else None
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


class _Backlog(list[tuple[float, int, RawMessage]]):
    """Requests waiting for a slot, earliest deadline first; in arrival order among equal deadlines
    (and after every deadline, those without one). A list, so that asking whether anything waits
    costs no Python call on the hot path."""

    __slots__ = ("_arrivals",)

    def __init__(self) -> None:
        super().__init__()
        self._arrivals = itertools.count()

    def messages(self) -> list[RawMessage]:
        return [message for _, _, message in self]

    def _entry(self, message: RawMessage) -> tuple[float, int, RawMessage]:
        deadline = header_deadline(message.headers) if message.headers else None
        return (math.inf if deadline is None else deadline, next(self._arrivals), message)

    def push(self, message: RawMessage) -> None:
        bisect.insort(self, self._entry(message))

    def take(self) -> RawMessage:
        return self.pop(0)[2]

    def displace(self, message: RawMessage, follows: Callable[[RawMessage], bool]) -> RawMessage | None:
        """Queue ``message`` in place of the waiting request with the latest deadline, if that is
        later than its own and it can be resent (its requester ``follows`` statuses); that request
        is returned. None: nothing later waits, and ``message`` is not queued."""
        entry = self._entry(message)
        for index in range(len(self) - 1, -1, -1):
            later = self[index]
            if later[0] <= entry[0]:
                return None
            if follows(later[2]):
                del self[index]
                bisect.insort(self, entry)
                return later[2]
        return None


class Dispatcher:
    def __init__(
        self,
        handler: RawHandler,
        limit: int = 1,
        *,
        backlog: int | None = None,
        signal: Signal | None = None,
        every_requester_follows: bool = False,
        census: Census | None = None,
    ) -> None:
        """``every_requester_follows``: every request with a reply subject comes from a requester that
        reads liveness statuses (the in-memory bus); else only those whose reply subject says so.
        ``census``: whether other instances share the queue group (none: assume they do)."""
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
        self._inline: dict[InlineRun, RawMessage] = {}  # handlers running in their requester's task
        self._queued = _Backlog()
        self._signals: set[asyncio.Task[None]] = set()
        self._active = 0  # handlers started and not yet finished (tasks and inline runs)
        self._slot_freed = asyncio.Event()
        self._waiting = False  # the delivery loop waits for a slot: later messages queue behind it
        self._idle: asyncio.Event | None = None  # made by wait_idle: most dispatchers are never waited for
        self._intake = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._every_requester_follows = every_requester_follows
        self._census = census

    @property
    def in_flight(self) -> int:
        return len(self._tasks) + len(self._inline)

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

    def follows(self, message: RawMessage) -> bool:
        """Whether the requester of ``message`` reads liveness statuses: only such a request is sent
        statuses, declined or displaced (anyone else would take a status for its reply)."""
        if not message.reply:
            return False
        return self._every_requester_follows or follows_statuses(message.reply)

    def _offer(self, message: RawMessage) -> None:
        assert self._backlog is not None
        if self._intake and self._active < self._limit and not self._queued:
            self._start(message)
        elif self._intake and (
            len(self._queued) < self._backlog
            or not self.follows(message)  # nothing could tell its requester to go elsewhere: it waits
            or (len(self._queued) < self._backlog + OVERFLOW_PER_SLOT * self._limit and self._no_one_else(message))
        ):
            self._queued.push(message)
        elif self._intake and (displaced := self._queued.displace(message, self.follows)) is not None:
            self._send(displaced, DECLINED)  # its requester resends it; an earlier deadline waits in its place
        else:
            self._send(message, DECLINED)

    def _no_one_else(self, message: RawMessage) -> bool:
        """Beyond the backlog: whether no other instance could take ``message`` — every instance it
        reached was full, or this one has no peer. Being full here is what keeps a census going."""
        census = self._census
        if census is not None:
            census.full()
            if census.alone:
                return True
        return _declines(message) >= QUEUE_AFTER_DECLINES

    def _start(self, message: RawMessage) -> None:
        # No done callback (one more loop turn per message): the task forgets itself as it ends.
        self._active += 1
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        # Filled before the task first runs (Python 3.11 starts no task eagerly): cheaper than current_task().
        itself: list[asyncio.Task[None]] = []
        task = loop.create_task(self._run_and_release(message, itself), context=self._origin.copy())
        itself.append(task)
        self._tasks[task] = message

    async def _run_and_release(self, message: RawMessage, itself: list[asyncio.Task[None]]) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)
        finally:
            self._tasks.pop(itself[0], None)
            self._release()

    def _release(self) -> None:
        """A handler ended: its slot goes to the next queued request, or the dispatcher may be idle."""
        self._active -= 1
        if self._waiting or self._queued or self._idle is not None:
            self._after_release()

    def _after_release(self) -> None:
        """What a freed slot may set off: a waiting delivery, a queued request, an idle dispatcher."""
        if self._waiting:
            self._slot_freed.set()
        if self._queued and self._active < self._limit:
            self._start(self._queued.take())
        else:
            self._check_idle()

    # -- running a request in its requester's task (one process) ---------------------------
    def can_run_inline(self) -> bool:
        """Whether a request may start now in its requester's own task (``run_inline``)."""
        return self._backlog is not None and self._intake and self._active < self._limit and not self._queued

    def run_inline(self, run: InlineRun, timeout: float) -> Coroutine[Any, Any, None] | None:
        """Handle ``run.message`` in the caller's task: a direct await instead of a task and two loop turns.

        For a requester in the same process (the in-memory bus), which would only wait for the
        reply. The handler's first step runs here and now; None if that finished it, else what
        the caller awaits for the rest (``_finish_inline``). The handler holds a slot and is
        reported ``running`` like any other, and runs in a copy of the subscriber's context as a
        task would. It ends with the caller: after ``timeout`` it is cancelled and
        ``RequestTimeout`` raised; when the dispatcher aborts, it is cancelled and
        ``ResponderLost`` raised (as a ``lost`` status would); when the request fails elsewhere
        (``run.give_up()``), it is cancelled and this returns; when the caller is cancelled, so is it.
        """
        message = run.message
        self._active += 1
        self._inline[run] = message
        # In a copy of the subscriber's context, as a task would run it: what the handler binds
        # stays its own. Its first step at once: a handler that never waits costs no timer.
        context = self._origin.copy()
        try:
            handling = context.run(self._handler, message)
            waiting_for = context.run(handling.send, None)
        except StopIteration:
            pass
        except Exception:
            log.exception("handler for %s failed", message.subject)
        except BaseException:  # a cancellation it raised itself, or an exit: the caller's own
            self._end_inline(run)
            raise
        else:
            return self._finish_inline(run, timeout, handling, waiting_for, context)
        # _end_inline written out (no scope was made): the way almost every in-process request ends
        del self._inline[run]
        if run.finished is not None:
            run.finished.set_result(None)
        self._active -= 1
        if self._waiting or self._queued or self._idle is not None:
            self._after_release()
        return None

    async def _finish_inline(
        self,
        run: InlineRun,
        timeout: float,
        handling: Coroutine[Any, Any, None],
        waiting_for: Any,
        context: contextvars.Context,
    ) -> None:
        """The rest of an inline run whose handler waits (see ``run_inline``)."""
        message = run.message
        try:
            if run.on_wait is not None:
                run.on_wait(run, timeout)
            async with asyncio.timeout(timeout) as run.scope:  # it waits: from now on the timeout bounds it
                await _resume(handling, waiting_for, context)
        except TimeoutError:
            if run.scope is None or not run.scope.expired():
                log.exception("handler for %s failed", message.subject)
                return
            if run.aborted:
                raise ResponderLost.of(message.subject, started=True) from None
            if run.given_up:
                return
            raise RequestTimeout(
                f"no reply on {message.subject} within {timeout:.3f}s", subject=message.subject
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)
        finally:
            self._end_inline(run)

    def _end_inline(self, run: InlineRun) -> None:
        run.scope = None  # ended: nothing left to stop
        del self._inline[run]
        if run.finished is not None:
            run.finished.set_result(None)
        self._release()

    async def _run(self, message: RawMessage) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s failed", message.subject)

    def _check_idle(self) -> None:
        if self._idle is not None and self.idle:
            self._idle.set()

    @property
    def idle(self) -> bool:
        """No handler running, nothing queued, every status sent."""
        return not self._tasks and not self._inline and not self._queued and not self._signals

    def _send(self, message: RawMessage, status: str) -> None:
        if self._signal is None or not self.follows(message):
            return
        assert message.reply is not None
        task = asyncio.get_running_loop().create_task(self._signal(message.reply, status))
        self._signals.add(task)
        task.add_done_callback(self._signal_sent)

    def _signal_sent(self, task: asyncio.Task[None]) -> None:
        self._signals.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("liveness status not sent: %s", task.exception())
        self._check_idle()

    # -- liveness (HeldRequests) -----------------------------------------------------------
    def held(self) -> Iterator[tuple[str, str]]:
        for message in [*self._tasks.values(), *self._inline.values()]:
            if message.reply and self.follows(message):
                yield message.reply, RUNNING
        for message in self._queued.messages():
            if message.reply and self.follows(message):
                yield message.reply, QUEUED

    # -- stopping --------------------------------------------------------------------------
    def stop_intake(self) -> None:
        """Take nothing more; requests waiting for a slot are declined, to be resent elsewhere."""
        self._intake = False
        while self._queued:
            message = self._queued.take()
            if self.follows(message):
                self._send(message, DECLINED)
            else:
                self._start(message)  # nobody would resend it: it was accepted, so it runs
        self._check_idle()

    async def wait_idle(self) -> None:
        """Return once no handler task is running and every status is sent."""
        if self.idle:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        await self._idle.wait()

    async def abort(self) -> None:
        """Cancel every running handler (requesters told ``lost``) and decline the queued ones."""
        queued = self._queued.messages()  # a plain requester's is dropped untold: it has its own timeout
        self._queued.clear()
        for message in queued:
            self._send(message, DECLINED)
        running = dict(self._tasks)
        for task in running:
            task.cancel()
        inline = list(self._inline)
        loop = asyncio.get_running_loop()
        for run in inline:
            run.aborted = True
            run._stop()  # cancels the handler, not its requester
            run.finished = loop.create_future()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for task in running:  # a task cancelled before it ever ran has not forgotten itself
            if self._tasks.pop(task, None) is not None:
                self._release()
        for message in running.values():
            self._send(message, LOST)
        if inline:
            await asyncio.gather(*(run.finished for run in inline if run.finished is not None))
        if self._signals:
            await asyncio.gather(*list(self._signals), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop at once: take nothing more, abort what is held."""
        self._intake = False
        await self.abort()
