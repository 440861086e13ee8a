"""One middleware chain around every request a bus serves and every request it sends.

As faststream's ``BaseMiddleware.consume_scope(call_next, msg)``: a ``Middleware`` overrides
``serve`` and/or ``send`` and calls ``call_next`` (or not); the runtime hands the bus its chain
once (``Bus(middleware=...)`` or ``bus.use(...)``) and every endpoint is composed with it when it
starts serving. A hook a layer does not override is left out of the chain, so it costs nothing.

The bus itself always does what must not differ between deployments: decoding, binding the
request's trace and deadline (``bound_context``), failure translation to an ADR-32 error reply,
handler isolation and bounded concurrency (the transport's ``Dispatcher``, which liveness needs).
What a deployment chooses — deadline scoping, request logs, metrics, endpoint statistics — is a
layer here or in the runtime.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.bus.context import RequestContext
from prompt_alchemy.bus.earliest_timer import EarliestTimer
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import ConfigError, DeadlineExceeded
from prompt_alchemy.schemas.contract import RequestContract

__all__ = [
    "Deadline",
    "HandlerDeadline",
    "Middleware",
    "SendNext",
    "Sending",
    "ServeNext",
    "Serving",
    "compose_send",
    "compose_serve",
    "handler_deadline",
]


@dataclass(slots=True)
class Serving:
    """A request being served: its contract, the message as it arrived and its context.

    The chain's innermost step checks, decodes, runs the handler and encodes its reply, so every
    layer sees each outcome, a request refused as invalid included, as a reply or a ``ServiceError``.
    """

    contract: RequestContract[Any, Any]
    message: RawMessage
    context: RequestContext


@dataclass(slots=True)
class Sending:
    """A request about to be sent: its contract (None for a raw ``$SRV`` request) and encoded form."""

    contract: RequestContract[Any, Any] | None
    subject: str
    data: bytes
    headers: Mapping[str, str] | None
    timeout: float | None


ServeNext = Callable[[Serving], Awaitable[bytes]]
SendNext = Callable[[Sending], Awaitable[RawMessage]]


class Middleware:
    """A layer of the chain; the base class passes everything through."""

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        """Around a handler: return its encoded reply; raise a ``ServiceError`` to answer with it."""
        return await call_next(call)

    async def send(self, call: Sending, call_next: SendNext) -> RawMessage:
        """Around a request this bus sends: return the raw reply, raise to fail the request."""
        return await call_next(call)


def compose_serve(layers: Sequence[Middleware], endpoint: ServeNext) -> ServeNext:
    """``layers[0]`` outermost; layers that do not override ``serve`` are skipped."""
    handler = endpoint
    for layer in reversed(layers):
        if type(layer).serve is not Middleware.serve:
            handler = functools.partial(layer.serve, call_next=handler)
    return handler


def compose_send(layers: Sequence[Middleware], send: SendNext) -> SendNext | None:
    """The chain around ``send``, or None when no layer overrides ``send`` (the bus then calls it directly)."""
    handler, wrapped = send, False
    for layer in reversed(layers):
        if type(layer).send is not Middleware.send:
            handler, wrapped = functools.partial(layer.send, call_next=handler), True
    return handler if wrapped else None


_MARGIN_SHARE = 0.1  # a margin never takes more than a tenth of what the caller gave


class HandlerDeadline:
    """The ``Deadline`` layer's bound on one handler: its task, when the layer stops it (loop time),
    whether it has, and how many cancellations its task had pending when it started (as
    ``asyncio.timeout`` keeps). ``handler_deadline()`` gives it to the handler it bounds."""

    __slots__ = ("cancelling", "fired", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.fired = False

    def remaining(self) -> float:
        """Seconds until the layer stops the handler (negative once that time has passed)."""
        return self.when - self.task.get_loop().time()

    def expired(self) -> bool:
        """The layer cancelled the handler at its deadline, and nothing else cancelled it too.

        A handler that catches that cancellation may answer ``DeadlineExceeded`` itself, naming what
        it was doing (the layer takes its cancellation back when the handler ends, however it ends).
        """
        return self.fired and self.task.cancelling() <= self.cancelling + 1


_bounding: contextvars.ContextVar[HandlerDeadline | None] = contextvars.ContextVar("handler_deadline", default=None)


def handler_deadline() -> HandlerDeadline | None:
    """The ``Deadline`` layer's bound on the handler running now (None: no layer, or no deadline)."""
    return _bounding.get()


class Deadline(Middleware):
    """Cancel a handler a margin before its caller's deadline, and answer ``DeadlineExceeded``.

    A request whose deadline passed before it was handled never reaches a handler (the bus
    refuses it); this layer bounds the handler itself. ``margin_s`` (at most a tenth of what the
    caller gave) stops it early enough that the answer reaches the caller before the caller's own
    timer ends the request. A handler that wants to say what it was doing reads its bound with
    ``handler_deadline()`` (what is left; whether the cancellation it caught is this layer's) and
    answers its own ``DeadlineExceeded`` — one deadline scope per request, whoever names it.

    It works as ``asyncio.timeout`` does (the handler's task is cancelled, the cancellation turned
    into the answer unless someone else cancelled the task too), but one loop timer, armed for the
    earliest deadline, serves every handler it bounds: a scope per request cost each one a timer
    handle with its own context copy, a heap entry and two coroutines (13 us of a 37 us in-process
    round trip), and almost every handler ends long before its deadline.
    """

    def __init__(self, margin_s: float = 0.0) -> None:
        if margin_s < 0:
            raise ConfigError("the deadline margin must be >= 0")
        self.margin_s = margin_s
        self._watches: dict[HandlerDeadline, None] = {}
        self._timer = EarliestTimer(self._expire)

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        deadline = call.context.deadline
        task = asyncio.current_task()
        if deadline is None or task is None:
            return await call_next(call)
        loop = task.get_loop()
        left = max(deadline - time.time(), 0.0)
        watch = HandlerDeadline(task, loop.time() + left - min(self.margin_s, left * _MARGIN_SHARE))
        self._watches[watch] = None
        self._timer.watch(loop, watch.when)
        bound = _bounding.set(watch)
        try:
            return await call_next(call)
        except asyncio.CancelledError:
            if watch.fired:
                watch.fired = False
                if task.uncancel() <= watch.cancelling:  # ours alone: the caller's deadline passed
                    raise DeadlineExceeded(f"the caller's deadline passed during {call.contract.subject}") from None
            raise
        finally:
            _bounding.reset(bound)
            del self._watches[watch]
            if watch.fired:  # it fired, but the handler ended another way: take our cancellation back
                task.uncancel()

    def _expire(self, now: float) -> float:
        """Cancel every handler whose deadline passed; the next deadline (``math.inf`` for none)."""
        earliest, loop = math.inf, asyncio.get_running_loop()
        for watch in self._watches:
            if watch.fired or watch.task.get_loop() is not loop:  # a handler of another (test's) loop
                continue
            if watch.when <= now:
                watch.fired = True
                watch.task.cancel()
            elif watch.when < earliest:
                earliest = watch.when
        return earliest
