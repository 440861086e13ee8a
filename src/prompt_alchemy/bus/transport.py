"""The whole transport contract: bytes in, bytes out, subjects and queue groups.

``InMemoryTransport`` and ``NatsTransport`` implement it as peers; the typed ``Bus`` on top
does serialisation, validation, errors and context the same way for both.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from prompt_alchemy.bus.census import Census
    from prompt_alchemy.bus.liveness import Heartbeats, Liveness

__all__ = ["DEFAULT_MAX_PAYLOAD", "RawHandler", "RawMessage", "Subscription", "Transport"]

DEFAULT_MAX_PAYLOAD = 1024 * 1024  # nats-server's default max_payload


class RawMessage(NamedTuple):
    """One message as it travels: immutable, and a tuple because one is made per message each way."""

    subject: str
    data: bytes
    headers: Mapping[str, str] = MappingProxyType({})
    reply: str | None = None


RawHandler = Callable[[RawMessage], Coroutine[Any, Any, None]]
"""An ``async def`` taking a message: a coroutine function, which a dispatcher may start by hand."""


class Subscription(Protocol):
    subject: str
    queue: str | None

    async def stop_intake(self) -> None:
        """Stop receiving; requests still waiting for a handler slot are declined (resent elsewhere)."""

    async def unsubscribe(self) -> None:
        """``stop_intake``, then wait for the handlers already running."""

    async def abort(self) -> None:
        """Stop at once: running handlers are cancelled and their requesters told so."""


class Transport(Protocol):
    max_payload: int
    liveness: Liveness
    heartbeats: Heartbeats

    @property
    def is_closed(self) -> bool: ...

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None, reply: str | None = None
    ) -> None: ...

    async def reply(self, reply: str, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        """Publish on a reply subject a request arrived with (the server's own: not checked again)."""
        ...

    async def request(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        """Raises NoResponders at once without a subscriber, RequestTimeout after ``timeout``,
        ResponderLost when the responder holding it goes silent, declines it or drops it.

        The transport may keep ``headers`` as they are: do not change them after the call."""
        ...

    async def subscribe(
        self,
        subject: str,
        handler: RawHandler,
        *,
        queue: str | None = None,
        concurrency: int = 1,
        backlog: int | None = None,
        census: Census | None = None,
    ) -> Subscription:
        """Deliver matching messages to ``handler``, at most ``concurrency`` at a time.

        Without ``backlog`` (events) delivery waits for a free slot; with concurrency 1 messages
        are handled one after the other, in order. With a ``backlog`` (request endpoints) at most
        that many requests wait for a slot, reported ``queued`` to their requesters; the rest are
        declined at once, unless the ``census`` finds no other instance to take them.
        """
        ...

    async def flush(self) -> None:
        """Return once the server has every subscription made so far (others can reach them)."""
        ...

    async def drain(self) -> None:
        """Stop every subscription, finish in-flight handlers, flush, close."""
        ...

    async def close(self) -> None:
        """Close at once; in-flight handlers are cancelled."""
        ...
