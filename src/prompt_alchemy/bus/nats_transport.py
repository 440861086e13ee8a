"""The NATS transport over nats-py. nats-py errors are translated here and go no further."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from prompt_alchemy.bus.dispatch import Dispatcher
from prompt_alchemy.bus.transport import RawHandler, RawMessage
from prompt_alchemy.errors import BusClosed, BusError, NoResponders, PayloadTooLarge, RequestTimeout
from prompt_alchemy.schemas.subjects import is_valid_pattern, is_valid_subject

__all__ = ["NatsOptions", "NatsTransport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Connection settings passed through to nats-py (auth and TLS included)."""

    name: str = "prompt-alchemy"
    connect_timeout: float = 2.0
    reconnect_time_wait: float = 0.5
    max_reconnect_attempts: int = -1  # once connected, keep trying: a worker outlives a server restart
    connect_attempts: int = 60  # the first connection gives up after this many (a server down, bad credentials)
    user: str | None = None
    password: str | None = None
    token: str | None = None
    user_credentials: str | None = None  # path to a .creds file
    tls: ssl.SSLContext | None = None

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "name": self.name,
            "connect_timeout": self.connect_timeout,
            "reconnect_time_wait": self.reconnect_time_wait,
            "max_reconnect_attempts": self.max_reconnect_attempts,
            "allow_reconnect": True,
        }
        for key in ("user", "password", "token", "user_credentials", "tls"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs


class _NatsSubscription:
    def __init__(self, subscription: NatsSubscription, dispatcher: Dispatcher, subject: str, queue: str | None):
        self.subject = subject
        self.queue = queue
        self._subscription = subscription
        self._dispatcher = dispatcher
        self._active = True

    async def unsubscribe(self) -> None:
        if not self._active:
            return
        self._active = False
        try:
            await self._subscription.drain()  # type: ignore[no-untyped-call]
        except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
            pass
        except nats.errors.ConnectionDrainingError:
            pass
        await self._dispatcher.wait_idle()

    async def kill(self) -> None:
        self._active = False
        await self._dispatcher.cancel()


def _error_logger(connected: asyncio.Event) -> Callable[[Exception], Awaitable[None]]:
    async def log_error(error: Exception) -> None:
        # Failed attempts of the first connection end in one BusClosed naming the reason; a
        # warning per attempt would only bury it. Once connected, every error is worth a warning.
        log.log(logging.WARNING if connected.is_set() else logging.INFO, "nats: %s", error)

    return log_error


def _disconnection_logger(client: NatsClient) -> Callable[[], Awaitable[None]]:
    async def log_disconnected() -> None:
        if not client.is_closed:  # nats-py calls this on a deliberate close too: not worth a warning then
            log.warning("nats: disconnected; reconnecting")

    return log_disconnected


async def _log_reconnected() -> None:
    log.info("nats: reconnected")


_NO_RESPONDERS_STATUS = "503"


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _ReplyInbox:
    """Every reply this connection waits for arrives on one wildcard subscription.

    nats-py's own ``request`` does the same but draws a random token per call (a syscall) and
    wraps the wait in ``asyncio.wait_for``; a counter and a plain timer per request cost less,
    and requests are the bus's hot path.
    """

    def __init__(self, client: NatsClient) -> None:
        self._client = client
        self._prefix = ""
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        self._subscription: NatsSubscription | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> str:
        async with self._opening:  # the first requests may arrive together
            if self._subscription is None:
                prefix = self._client.new_inbox() + "."
                self._subscription = await self._client.subscribe(prefix + "*", cb=self._on_reply)
                self._prefix = prefix
        return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def request(self, subject: str, data: bytes, headers: dict[str, str] | None, timeout: float) -> Msg:
        """The reply; TimeoutError after ``timeout``; NoRespondersError when the server says nobody listens."""
        prefix = self._prefix or await self._open()
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._pending[token] = future
        timer = loop.call_later(timeout, _expire, future)
        try:
            await self._client.publish(subject, data, reply=prefix + token, headers=headers)
            msg = await future
        finally:
            timer.cancel()
            self._pending.pop(token, None)
        if msg.headers and not msg.data and msg.headers.get("Status") == _NO_RESPONDERS_STATUS:
            raise nats.errors.NoRespondersError
        return msg

    def fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(nats.errors.ConnectionClosedError())
        self._pending.clear()


class NatsTransport:
    def __init__(self, client: NatsClient) -> None:
        self.client = client
        self.max_payload = client.max_payload
        self._subscriptions: list[_NatsSubscription] = []
        self._inbox = _ReplyInbox(client)

    @classmethod
    async def connect(cls, url: str | list[str], options: NatsOptions | None = None) -> NatsTransport:
        options = options or NatsOptions()
        servers = [url] if isinstance(url, str) else url
        client = NatsClient()
        connected = asyncio.Event()
        # nats-py counts the first connection against max_reconnect_attempts: bound it, then lift
        # the limit so an established connection survives a server restart.
        kwargs = options.connect_kwargs() | {"max_reconnect_attempts": max(options.connect_attempts, 1)}
        try:
            await client.connect(
                servers=servers,
                error_cb=_error_logger(connected),
                disconnected_cb=_disconnection_logger(client),
                reconnected_cb=_log_reconnected,
                **kwargs,
            )
        except (nats.errors.Error, OSError, TimeoutError) as error:
            await client.close()
            raise BusClosed(
                f"cannot connect to NATS at {', '.join(servers)}: {error or type(error).__name__}"
            ) from error
        client.options["max_reconnect_attempts"] = options.max_reconnect_attempts
        connected.set()
        return cls(client)

    @property
    def is_closed(self) -> bool:
        return bool(self.client.is_closed)

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None, reply: str | None = None
    ) -> None:
        if not is_valid_subject(subject):
            raise BusError(f"invalid subject {subject!r}", subject=subject)
        try:
            await self.client.publish(subject, data, reply=reply or "", headers=dict(headers) if headers else None)
        except nats.errors.MaxPayloadError as error:
            raise PayloadTooLarge.over_limit(f"message on {subject}", len(data), self.max_payload) from error
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as error:
            raise BusClosed(f"NATS connection closed; cannot publish on {subject}", subject=subject) from error

    async def request(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        if not is_valid_subject(subject):
            raise BusError(f"invalid subject {subject!r}", subject=subject)
        try:
            msg = await self._inbox.request(subject, data, dict(headers) if headers else None, timeout)
        except nats.errors.NoRespondersError as error:
            raise NoResponders(f"no responders on {subject}", subject=subject) from error
        except TimeoutError as error:
            raise RequestTimeout(f"no reply on {subject} within {timeout:.3f}s", subject=subject) from error
        except nats.errors.MaxPayloadError as error:
            raise PayloadTooLarge.over_limit(f"message on {subject}", len(data), self.max_payload) from error
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as error:
            raise BusClosed(f"NATS connection closed; cannot request {subject}", subject=subject) from error
        return RawMessage(subject=msg.subject, data=msg.data, headers=msg.headers or {}, reply=msg.reply or None)

    async def subscribe(
        self, subject: str, handler: RawHandler, *, queue: str | None = None, concurrency: int = 1
    ) -> _NatsSubscription:
        if not is_valid_pattern(subject):
            raise BusError(f"invalid subject pattern {subject!r}", subject=subject)
        dispatcher = Dispatcher(handler, concurrency)

        async def on_message(msg: Msg) -> None:
            await dispatcher.dispatch(
                RawMessage(subject=msg.subject, data=msg.data, headers=msg.headers or {}, reply=msg.reply or None)
            )

        try:
            subscription = await self.client.subscribe(subject, queue=queue or "", cb=on_message)
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as error:
            raise BusClosed(f"NATS connection closed; cannot subscribe to {subject}", subject=subject) from error
        wrapped = _NatsSubscription(subscription, dispatcher, subject, queue or None)
        self._subscriptions.append(wrapped)
        return wrapped

    async def flush(self) -> None:
        try:
            await self.client.flush()
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as error:
            raise BusClosed("NATS connection closed; cannot flush") from error
        except nats.errors.FlushTimeoutError as error:
            raise BusClosed("NATS did not confirm the subscriptions in time") from error

    async def drain(self) -> None:
        if self.client.is_closed:
            return
        for subscription in list(self._subscriptions):
            await subscription.unsubscribe()
        self._subscriptions.clear()
        with contextlib.suppress(nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            await self.client.drain()
        if not self.client.is_closed:
            await self.client.close()
        self._inbox.fail_pending()

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.kill()
        self._subscriptions.clear()
        if not self.client.is_closed:
            await self.client.close()
        self._inbox.fail_pending()
