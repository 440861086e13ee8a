"""An in-process transport with NATS semantics: subjects, wildcards, queue groups, inboxes.

Messages are bytes, exactly as on the wire; every subscription has its own ordered delivery
queue and a reader task, like a nats-py subscription. Subscriptions are held by strong
reference until unsubscribed, so a subscriber never vanishes with the garbage collector.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
from collections.abc import Mapping

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.dispatch import Dispatcher, InlineRun
from prompt_alchemy.bus.liveness import LIVENESS_HEADER, Heartbeats, Liveness, PendingReplies
from prompt_alchemy.bus.transport import DEFAULT_MAX_PAYLOAD, RawHandler, RawMessage
from prompt_alchemy.errors import BusClosed, BusError, NoResponders, PayloadTooLarge
from prompt_alchemy.schemas.subjects import is_valid_pattern, is_valid_subject, matches

__all__ = ["InMemoryTransport"]

_INBOX_PREFIX = "_INBOX."
_NO_HEADERS: Mapping[str, str] = {}
_message = tuple.__new__  # RawMessage's own __new__ is a Python call more: made twice per request


class _MemorySubscription:
    def __init__(
        self,
        transport: InMemoryTransport,
        subject: str,
        handler: RawHandler,
        queue: str | None,
        concurrency: int,
        backlog: int | None,
        census: Census | None,
    ) -> None:
        self.subject = subject
        self.queue = queue
        self._transport = transport
        self._pending: asyncio.Queue[RawMessage | None] = asyncio.Queue()
        signal = transport.signal if backlog is not None else None
        # every requester here is a transport of this package, which reads liveness statuses
        self.dispatcher = Dispatcher(
            handler, concurrency, backlog=backlog, signal=signal, every_requester_follows=True, census=census
        )
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"memory-sub:{subject}")
        self.active = True
        if self.dispatcher.serves_requests:
            transport.heartbeats.register(self.dispatcher)

    def deliver(self, message: RawMessage) -> None:
        # Nothing queued and a free slot: start the handler now instead of waking the reader first.
        if self._pending.empty() and self.dispatcher.try_start(message):
            return
        self._pending.put_nowait(message)

    async def _read(self) -> None:
        while True:
            message = await self._pending.get()
            if message is None:
                return
            await self.dispatcher.dispatch(message)

    async def stop_intake(self) -> None:
        if not self.active:
            return
        self.active = False
        self._transport._remove(self)
        self._pending.put_nowait(None)  # everything delivered before it is still offered
        await self._reader
        self.dispatcher.stop_intake()

    async def unsubscribe(self) -> None:
        await self.stop_intake()
        await self.dispatcher.wait_idle()
        self._transport.heartbeats.unregister(self.dispatcher)

    async def abort(self) -> None:
        self.active = False
        self._transport._remove(self)
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.dispatcher.cancel()
        self._transport.heartbeats.unregister(self.dispatcher)


class InMemoryTransport:
    def __init__(self, *, max_payload: int = DEFAULT_MAX_PAYLOAD, liveness: Liveness | None = None) -> None:
        self.max_payload = max_payload
        self.liveness = liveness or Liveness()
        # Requesters share this loop: a stall stops their clocks too, so a stalled handler is not fenced.
        self.heartbeats = Heartbeats(self.liveness, self.signal_each, fence=False)
        self._subscriptions: list[_MemorySubscription] = []
        self._routes: dict[str, list[_MemorySubscription]] = {}
        self._replies: PendingReplies[RawMessage] = PendingReplies(self.liveness)
        self._inline: dict[str, InlineRun] = {}  # requests running in their requester's task, by reply subject
        self._inbox_ids = itertools.count()
        self._inbox_root = _INBOX_PREFIX + secrets.token_hex(8) + "."
        self._inbox_root_length = len(self._inbox_root)
        self._closed = False

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    @property
    def replies(self) -> PendingReplies[RawMessage]:
        return self._replies

    @property
    def pending_requests(self) -> int:
        # an inline run that waits is also watched in the replies: count it once
        return len(self._replies) + sum(1 for run in self._inline.values() if run.waiting is None)

    @property
    def is_closed(self) -> bool:
        return self._closed

    # -- routing ---------------------------------------------------------------------------
    def _interest(self, subject: str) -> list[_MemorySubscription]:
        """Who listens on ``subject``; BusError for an invalid subject (checked once per subject)."""
        route = self._routes.get(subject)
        if route is None:
            if not is_valid_subject(subject):
                raise BusError(f"invalid subject {subject!r}", subject=subject)
            route = [sub for sub in self._subscriptions if matches(sub.subject, subject)]
            if len(self._routes) > 10_000:  # subjects with request ids in them would grow it forever
                self._routes.clear()
            self._routes[subject] = route
        return route

    def _remove(self, subscription: _MemorySubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._routes.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosed("the in-memory bus is closed")

    def _check_size(self, subject: str, data: bytes) -> None:
        if len(data) > self.max_payload:
            raise PayloadTooLarge.over_limit(f"message on {subject}", len(data), self.max_payload)

    # -- Transport -------------------------------------------------------------------------
    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None, reply: str | None = None
    ) -> None:
        self._check_open()
        if subject.startswith(self._inbox_root):
            await self.reply(subject, data, headers=headers)
            return
        if not is_valid_subject(subject):
            raise BusError(f"invalid subject {subject!r}", subject=subject)
        self._check_size(subject, data)
        self._route(RawMessage(subject=subject, data=data, headers=dict(headers or _NO_HEADERS), reply=reply))

    async def reply(self, reply: str, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        if self._closed:
            raise BusClosed("the in-memory bus is closed")
        if len(data) > self.max_payload:
            raise PayloadTooLarge.over_limit(f"message on {reply}", len(data), self.max_payload)
        run = self._inline.get(reply)
        if run is not None and run.reply is None and not (headers and LIVENESS_HEADER in headers):
            # its handler runs in the requester's task, which only reads the reply: it is kept in
            # the run itself (no copy of the headers, no route to look up)
            run.reply = _message(RawMessage, (reply, data, headers or _NO_HEADERS, None))
        elif reply.startswith(self._inbox_root):
            token = reply[self._inbox_root_length :]
            self._replies.deliver(token, headers, _message(RawMessage, (reply, data, headers or _NO_HEADERS, None)))
        elif is_valid_subject(reply):  # someone else's inbox (a raw publisher's)
            self._route(RawMessage(subject=reply, data=data, headers=dict(headers or _NO_HEADERS), reply=None))
        else:
            raise BusError(f"invalid subject {reply!r}", subject=reply)

    def _route(self, message: RawMessage) -> None:
        self._deliver(message, self._interest(message.subject), inline=False)

    def _deliver(self, message: RawMessage, interest: list[_MemorySubscription], *, inline: bool) -> Dispatcher | None:
        """Every plain subscriber gets ``message``, and one member of each queue group.

        ``inline``: the first chosen member that could start it at once is returned instead of
        given it, for the caller to run it in its own task (``Dispatcher.run_inline``).
        """
        if len(interest) == 1:  # the common case: one endpoint, one instance
            subscription = interest[0]
            if inline and subscription.queue and subscription.dispatcher.can_run_inline():
                return subscription.dispatcher
            subscription.deliver(message)
            return None
        groups: dict[str, list[_MemorySubscription]] = {}
        for subscription in interest:
            if subscription.queue:
                groups.setdefault(subscription.queue, []).append(subscription)
            else:
                subscription.deliver(message)
        here: Dispatcher | None = None
        for members in groups.values():
            chosen = random.choice(members)
            if inline and here is None and chosen.dispatcher.can_run_inline():
                here = chosen.dispatcher
            else:
                chosen.deliver(message)
        return here

    async def request(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        """A request to a responder that can start it now runs in this task (a direct await, no
        task, no loop turn, no reply future); otherwise it is delivered as on NATS and the reply awaited."""
        if self._closed:
            raise BusClosed("the in-memory bus is closed")
        interest = self._routes.get(subject) or self._interest(subject)
        if not interest:
            raise NoResponders(f"no responders on {subject}", subject=subject)
        if len(data) > self.max_payload:
            raise PayloadTooLarge.over_limit(f"message on {subject}", len(data), self.max_payload)
        token = str(next(self._inbox_ids))
        reply = self._inbox_root + token
        # The subject is checked above: route at once. The headers are the caller's own (see Transport).
        message = _message(RawMessage, (subject, data, headers or _NO_HEADERS, reply))
        here = self._deliver(message, interest, inline=True)
        if here is not None:
            run = self._inline[reply] = InlineRun(message, self._watch)
            try:
                rest = here.run_inline(run, timeout)
                if rest is not None:  # the handler waits
                    await rest
            except BaseException:  # it timed out, its responder aborted, or the requester was cancelled
                self._unwatch(token, run)
                raise
            finally:
                del self._inline[reply]
            waiting = run.waiting
            if run.reply is not None:  # its own, or another subscriber's that came first
                if waiting is not None:
                    self._unwatch(token, run)
                return run.reply
            if waiting is None:  # it ended without replying, and without waiting
                if self._closed:
                    raise BusClosed("the in-memory bus closed while waiting for a reply")
                waiting = self._replies.add(token, subject, timeout)
            # No reply (it could not be sent): as on NATS, one is waited for until the timeout
            # (another subscriber of the subject may still answer), unless the request failed.
        else:
            waiting = self._replies.add(token, subject, timeout)
        try:
            return await waiting.future
        finally:
            self._replies.remove(token)

    def _unwatch(self, token: str, run: InlineRun) -> None:
        """The request ended in its run: the liveness watch (if it waited) ends too, and a failure
        it found meanwhile is not also the answer."""
        if run.waiting is not None:
            self._replies.remove(token)
            if run.waiting.future.done():
                run.waiting.future.exception()  # read, so asyncio does not report it as lost

    def _watch(self, run: InlineRun, timeout: float) -> None:
        """An inline handler waits: its responder's liveness and the request's timeout are watched
        as for any other request, and a failure found there gives the handler up."""
        message = run.message
        assert message.reply is not None
        waiting = run.waiting = self._replies.add(message.reply[self._inbox_root_length :], message.subject, timeout)
        waiting.on_failure = run.give_up

    async def signal(self, reply: str, status: str) -> None:
        """A liveness status on a reply subject (see ``bus.liveness``)."""
        if not self._closed:
            await self.reply(reply, b"", headers={LIVENESS_HEADER: status})

    async def signal_each(self, statuses: list[tuple[str, str]]) -> None:
        """A heartbeat's statuses, each on its own reply subject: in one process a message costs no wire."""
        for reply, status in statuses:
            await self.signal(reply, status)

    async def subscribe(
        self,
        subject: str,
        handler: RawHandler,
        *,
        queue: str | None = None,
        concurrency: int = 1,
        backlog: int | None = None,
        census: Census | None = None,
    ) -> _MemorySubscription:
        self._check_open()
        if not is_valid_pattern(subject):
            raise BusError(f"invalid subject pattern {subject!r}", subject=subject)
        subscription = _MemorySubscription(self, subject, handler, queue or None, concurrency, backlog, census)
        self._subscriptions.append(subscription)
        self._routes.clear()
        return subscription

    async def flush(self) -> None:
        """Subscriptions take effect at once in-process."""

    async def drain(self) -> None:
        if self._closed:
            return
        subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            await subscription.stop_intake()
        await asyncio.gather(*(subscription.unsubscribe() for subscription in subscriptions))
        await self._close_inboxes()

    async def close(self) -> None:
        if self._closed:
            return
        for subscription in list(self._subscriptions):
            await subscription.abort()
        await self._close_inboxes()

    async def _close_inboxes(self) -> None:
        self._closed = True
        await self.heartbeats.close()
        for run in self._inline.values():
            run.give_up()  # its requester raises BusClosed (a waiting one: from fail_all below)
        self._replies.fail_all(lambda: BusClosed("the in-memory bus closed while waiting for a reply"))
