"""The NATS transport over nats-py. nats-py errors are translated here and go no further."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.dispatch import Dispatcher
from prompt_alchemy.bus.liveness import (
    FOLLOWER_MARK,
    LIVENESS_HEADER,
    STATUS_LIST,
    Heartbeats,
    Liveness,
    PendingReplies,
    status_lists,
)
from prompt_alchemy.bus.transport import RawHandler, RawMessage
from prompt_alchemy.errors import BusClosed, BusError, NoResponders, PayloadTooLarge, RequestTimeout, ResponderLost
from prompt_alchemy.schemas.subjects import is_valid_pattern, is_valid_subject

__all__ = ["NatsOptions", "NatsTransport", "flush_in_order"]

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
            # The transport checks every subject it is given (once per subject on its hot path);
            # nats-py would check them again on every publish, reply subject included.
            "skip_subject_validation": True,
        }
        for key in ("user", "password", "token", "user_credentials", "tls"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs


class _NatsSubscription:
    def __init__(
        self,
        transport: NatsTransport,
        subscription: NatsSubscription,
        dispatcher: Dispatcher,
        subject: str,
        queue: str | None,
    ) -> None:
        self.subject = subject
        self.queue = queue
        self._transport = transport
        self._subscription = subscription
        self._dispatcher = dispatcher
        self._active = True

    async def stop_intake(self) -> None:
        if not self._active:
            return
        self._active = False
        try:
            if self._transport.client.is_connected:
                # nats-py's drain: UNSUB, a round trip, then every message already delivered is offered
                await self._drain_unless_lost()
            else:  # no server to confirm the UNSUB (it dropped our interest with the connection): no round trip
                await self._subscription.unsubscribe()
        except nats.errors.Error as error:
            log.debug("unsubscribing %s: %s", self.subject, error)
        self._dispatcher.stop_intake()

    async def _drain_unless_lost(self) -> None:
        """nats-py's drain, unless the connection drops first: then its round trip would wait for a
        reconnect that may never come (the drain would end only at the shutdown timeout)."""
        drained = asyncio.ensure_future(self._subscription.drain())  # type: ignore[no-untyped-call]
        lost = asyncio.ensure_future(self._transport._state.lost.wait())
        try:
            await asyncio.wait({drained, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if drained.done():
            drained.result()
            return
        drained.cancel()
        with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
            await drained
        await self._subscription.unsubscribe()

    async def unsubscribe(self) -> None:
        await self.stop_intake()
        await self._dispatcher.wait_idle()
        self._transport._forget(self)

    async def abort(self) -> None:
        self._active = False
        with contextlib.suppress(nats.errors.Error):
            await self._subscription.unsubscribe()
        await self._dispatcher.cancel()
        self._transport._forget(self)


def _error_logger(connected: asyncio.Event) -> Callable[[Exception], Awaitable[None]]:
    async def log_error(error: Exception) -> None:
        # Failed attempts of the first connection end in one BusClosed naming the reason; a
        # warning per attempt would only bury it. Once connected, every error is worth a warning.
        log.log(logging.WARNING if connected.is_set() else logging.INFO, "nats: %s", error)

    return log_error


class _ConnectionState:
    """When the connection was lost, for the liveness fence; and the log lines of it."""

    def __init__(self) -> None:
        self.client: NatsClient | None = None
        self.lost_at: float | None = None
        self.lost = asyncio.Event()  # set while disconnected

    def offline_for(self) -> float:
        return 0.0 if self.lost_at is None else asyncio.get_running_loop().time() - self.lost_at

    async def disconnected(self) -> None:
        if self.client is not None and not self.client.is_closed:  # not worth a warning on a deliberate close
            self.lost_at = asyncio.get_running_loop().time()
            self.lost.set()
            log.warning("nats: disconnected; reconnecting")

    async def reconnected(self) -> None:
        self.lost_at = None
        self.lost.clear()
        log.info("nats: reconnected")


_NO_RESPONDERS_STATUS = "503"
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

_NATS_FAILURES = (nats.errors.Error, TimeoutError)
"""What nats-py raises; ``_bus_error`` turns each into our tree (``TimeoutError`` is our own reply timer)."""


def _bus_error(
    error: BaseException, doing: str, *, subject: str | None = None, size: int = 0, limit: int = 0
) -> BusError | PayloadTooLarge:
    """The one translation of nats-py failures, most specific first (as httpx's
    ``map_httpcore_exceptions``); ``doing`` completes "cannot ...", e.g. "publish on <subject>"."""
    if isinstance(error, nats.errors.NoRespondersError):
        return NoResponders(f"no responders on {subject}", subject=subject)
    if isinstance(error, nats.errors.MaxPayloadError):
        return PayloadTooLarge.over_limit(f"message on {subject}", size, limit)
    if isinstance(error, nats.errors.FlushTimeoutError):
        return BusClosed("NATS did not confirm the subscriptions in time", subject=subject)
    if isinstance(error, TimeoutError):  # nats-py's own TimeoutError derives from it too
        return RequestTimeout(f"no reply on {subject} in time", subject=subject)
    if isinstance(error, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
        return BusClosed(f"NATS connection closed; cannot {doing}", subject=subject)
    if isinstance(error, nats.errors.ConnectionReconnectingError | nats.errors.StaleConnectionError):
        return BusClosed(f"NATS connection lost; cannot {doing}", subject=subject)
    return BusError(f"NATS failed; cannot {doing}: {error or type(error).__name__}", subject=subject)


_STATUS_LIST_HEADERS = {LIVENESS_HEADER: STATUS_LIST}  # read only: nats-py encodes headers at once


def _as_dict(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """What nats-py takes: a dict, or None for none. nats-py encodes it at once: no copy needed."""
    if not headers:
        return None
    return headers if isinstance(headers, dict) else dict(headers)


async def flush_in_order(client: NatsClient) -> None:
    """Return once the server has processed every command ``client`` sent before this call.

    nats-py 2.16's ``flush()`` writes its PING straight to the socket, ahead of the commands still
    in its pending buffer (SUBs and PUBs included), so its PONG proves nothing about them: a
    subscription "flushed" that way may not be registered yet when another connection publishes.
    Push the buffer out first; then the PONG comes after the server has read all of it.
    """
    await client._flush_pending(force_flush=True)
    await client.flush()


class _ReplyInbox:
    """Every reply this connection waits for arrives on one wildcard subscription.

    nats-py's own ``request`` does the same but draws a random token per call (a syscall) and
    wraps the wait in ``asyncio.wait_for``; a counter, and one timer for the earliest of all the timeouts
    (``PendingReplies``), cost less, and requests are the bus's hot path. Liveness statuses arrive on the same inbox.
    """

    def __init__(self, client: NatsClient, liveness: Liveness) -> None:
        self._client = client
        self._prefix = ""
        self.pending: PendingReplies[Msg] = PendingReplies(liveness)
        self._tokens = itertools.count()
        self._subscription: NatsSubscription | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> str:
        async with self._opening:  # the first requests may arrive together
            if self._subscription is None:
                # the token says that this requester reads liveness statuses (``bus.liveness``)
                prefix = f"{self._client.new_inbox()}.{FOLLOWER_MARK}."
                self._subscription = await self._client.subscribe(prefix + "*", cb=self._on_reply)
                self._prefix = prefix
        return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        self.pending.deliver(msg.subject[len(self._prefix) :], msg.headers, msg, msg.data)

    async def request(
        self, subject: str, data: bytes, headers: dict[str, str] | None, timeout: float, *, watched: bool = True
    ) -> Msg:
        """The reply; RequestTimeout after ``timeout``; NoRespondersError when the server says nobody listens;
        ResponderLost when the responder holding it goes silent (``watched`` only), declines or drops it."""
        prefix = self._prefix or await self._open()
        token = str(next(self._tokens))
        future = self.pending.add(token, subject, timeout, watched=watched).future
        try:
            await self._client.publish(subject, data, reply=prefix + token, headers=headers)
            msg = await future
        finally:
            self.pending.remove(token)
        if msg.headers and not msg.data and msg.headers.get("Status") == _NO_RESPONDERS_STATUS:
            raise nats.errors.NoRespondersError
        return msg

    def fail_pending(self) -> None:
        self.pending.fail_all(nats.errors.ConnectionClosedError)


class NatsTransport:
    def __init__(self, client: NatsClient, *, liveness: Liveness | None = None, state: _ConnectionState | None = None):
        self.client = client
        self.max_payload = client.max_payload
        self.liveness = liveness or Liveness()
        self._state = state or _ConnectionState()
        self._state.client = client
        self.heartbeats = Heartbeats(self.liveness, self.signal_lists, offline_for=self._state.offline_for)
        self._subscriptions: list[_NatsSubscription] = []
        self._inbox = _ReplyInbox(client, self.liveness)
        self._valid_subjects: set[str] = set()  # checked once each: requests go to a few subjects, often

    @property
    def subscription_count(self) -> int:
        """Subscriptions this transport holds (the reply inbox not counted)."""
        return len(self._subscriptions)

    @property
    def replies(self) -> PendingReplies[Msg]:
        return self._inbox.pending

    @property
    def pending_requests(self) -> int:
        return len(self._inbox.pending)

    def _forget(self, subscription: _NatsSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)
        self.heartbeats.unregister(subscription._dispatcher)

    @classmethod
    async def connect(
        cls, url: str | list[str], options: NatsOptions | None = None, *, liveness: Liveness | None = None
    ) -> NatsTransport:
        options = options or NatsOptions()
        servers = [url] if isinstance(url, str) else url
        client = NatsClient()
        state = _ConnectionState()
        state.client = client
        connected = asyncio.Event()
        # nats-py counts the first connection against max_reconnect_attempts: bound it, then lift
        # the limit so an established connection survives a server restart.
        kwargs = options.connect_kwargs() | {"max_reconnect_attempts": max(options.connect_attempts, 1)}
        try:
            await client.connect(
                servers=servers,
                error_cb=_error_logger(connected),
                disconnected_cb=state.disconnected,
                reconnected_cb=state.reconnected,
                **kwargs,
            )
        except (nats.errors.Error, OSError, TimeoutError) as error:
            await client.close()
            raise BusClosed(
                f"cannot connect to NATS at {', '.join(servers)}: {error or type(error).__name__}"
            ) from error
        client.options["max_reconnect_attempts"] = options.max_reconnect_attempts
        connected.set()
        return cls(client, liveness=liveness, state=state)

    @property
    def is_closed(self) -> bool:
        return bool(self.client.is_closed)

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None, reply: str | None = None
    ) -> None:
        if not is_valid_subject(subject):
            raise BusError(f"invalid subject {subject!r}", subject=subject)
        if reply and not is_valid_subject(reply):
            raise BusError(f"invalid reply subject {reply!r}", subject=subject)
        try:
            await self.client.publish(subject, data, reply=reply or "", headers=_as_dict(headers))
        except _NATS_FAILURES as error:
            raise _bus_error(
                error, f"publish on {subject}", subject=subject, size=len(data), limit=self.max_payload
            ) from error

    async def reply(self, reply: str, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        try:
            await self.client.publish(reply, data, headers=_as_dict(headers))
        except _NATS_FAILURES as error:
            raise _bus_error(
                error, f"reply on {reply}", subject=reply, size=len(data), limit=self.max_payload
            ) from error

    async def request(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None,
        timeout: float,
        watched: bool = True,
    ) -> RawMessage:
        """The reply, on the connection's one reply inbox; errors are the bus's.

        ``watched=False`` for a request the NATS server answers itself (a JetStream publish
        acknowledgement): it sends no liveness statuses, so only ``timeout`` ends the wait. Such
        requests share the inbox rather than take nats-py's ``request``, which draws a random
        inbox token (a syscall), a future and an ``asyncio.wait_for`` per call.
        """
        if subject not in self._valid_subjects:
            if not is_valid_subject(subject):
                raise BusError(f"invalid subject {subject!r}", subject=subject)
            if len(self._valid_subjects) > 10_000:  # subjects with ids in them would grow it forever
                self._valid_subjects.clear()
            self._valid_subjects.add(subject)
        try:
            msg = await self._inbox.request(subject, data, _as_dict(headers), timeout, watched=watched)
        except (ResponderLost, RequestTimeout):  # the inbox's own: already ours
            raise
        except _NATS_FAILURES as error:
            raise _bus_error(
                error, f"request {subject}", subject=subject, size=len(data), limit=self.max_payload
            ) from error
        return RawMessage(msg.subject, msg.data, msg.headers or _NO_HEADERS, msg.reply or None)

    async def signal(self, reply: str, status: str) -> None:
        """A liveness status on a reply subject (see ``bus.liveness``)."""
        await self.reply(reply, b"", headers={LIVENESS_HEADER: status})

    async def signal_lists(self, statuses: list[tuple[str, str]]) -> None:
        """A heartbeat's statuses as one status list per requester inbox (see ``bus.liveness``)."""
        for subject, body in status_lists(statuses).items():
            await self.reply(subject, body, headers=_STATUS_LIST_HEADERS)

    async def subscribe(
        self,
        subject: str,
        handler: RawHandler,
        *,
        queue: str | None = None,
        concurrency: int = 1,
        backlog: int | None = None,
        census: Census | None = None,
    ) -> _NatsSubscription:
        if not is_valid_pattern(subject):
            raise BusError(f"invalid subject pattern {subject!r}", subject=subject)
        signal = self.signal if backlog is not None else None
        dispatcher = Dispatcher(handler, concurrency, backlog=backlog, signal=signal, census=census)
        on_message: Callable[[Msg], Awaitable[None]]
        if dispatcher.serves_requests:
            offer = dispatcher.try_start  # a request is started, queued or declined at once: nothing to await

            async def on_message(msg: Msg) -> None:
                offer(RawMessage(msg.subject, msg.data, msg.headers or _NO_HEADERS, msg.reply or None))

        else:
            dispatch = dispatcher.dispatch

            async def on_message(msg: Msg) -> None:
                await dispatch(RawMessage(msg.subject, msg.data, msg.headers or _NO_HEADERS, msg.reply or None))

        try:
            subscription = await self.client.subscribe(subject, queue=queue or "", cb=on_message)
        except _NATS_FAILURES as error:
            raise _bus_error(error, f"subscribe to {subject}", subject=subject) from error
        wrapped = _NatsSubscription(self, subscription, dispatcher, subject, queue or None)
        self._subscriptions.append(wrapped)
        if dispatcher.serves_requests:
            self.heartbeats.register(dispatcher)
        return wrapped

    async def flush(self) -> None:
        try:
            await flush_in_order(self.client)
        except _NATS_FAILURES as error:
            raise _bus_error(error, "flush") from error

    async def drain(self) -> None:
        """Stop intake everywhere first, then let the running handlers finish together, then close.

        If the connection is lost meanwhile, everything is still released and closed, then
        ``BusClosed`` says so: what was in flight may not have been answered.
        """
        if self.client.is_closed:
            return
        subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            await subscription.stop_intake()
        await asyncio.gather(*(subscription.unsubscribe() for subscription in subscriptions))
        self._subscriptions.clear()
        await self.heartbeats.close()
        lost: BaseException | None = None
        try:
            await self.client.drain()
        except (nats.errors.Error, OSError, TimeoutError) as error:
            lost = error
        with contextlib.suppress(nats.errors.Error, OSError):
            if not self.client.is_closed:
                await self.client.close()
        self._inbox.fail_pending()
        if lost is not None or self._state.lost_at is not None:
            reason = (str(lost) or type(lost).__name__) if lost is not None else "disconnected"
            raise BusClosed(f"the NATS connection was lost during the drain ({reason})") from lost

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.abort()
        self._subscriptions.clear()
        await self.heartbeats.close()
        with contextlib.suppress(nats.errors.Error, OSError):
            if not self.client.is_closed:
                await self.client.close()
        self._inbox.fail_pending()
