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
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.bus.context import RequestContext
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import DeadlineExceeded
from prompt_alchemy.schemas.contract import RequestContract

__all__ = ["Deadline", "Middleware", "SendNext", "Sending", "ServeNext", "Serving", "compose_send", "compose_serve"]


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


class Deadline(Middleware):
    """Cancel a handler when its caller's deadline passes, and answer ``DeadlineExceeded``.

    A request whose deadline passed before it was handled never reaches a handler (the bus
    refuses it); this layer bounds the handler itself.
    """

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        remaining = call.context.remaining()
        if remaining is None:
            return await call_next(call)
        try:
            async with asyncio.timeout(max(remaining, 0.0)) as scope:
                return await call_next(call)
        except TimeoutError as error:
            if scope.expired():
                raise DeadlineExceeded(f"the caller's deadline passed during {call.contract.subject}") from error
            raise
