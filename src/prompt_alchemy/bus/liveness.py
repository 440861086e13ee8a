"""Responder liveness: a requester learns within a bounded time that its responder is gone.

NATS core request/reply has no acknowledgement: a responder that dies (SIGKILL, OOM), freezes
(SIGSTOP, a blocked event loop) or loses its connection simply never answers, and the
requester waits out its whole deadline. We keep NATS's own request/reply and add what HTTP has
in ``102 Processing`` and JetStream has in ``AckProgress``: while a responder holds a request it
sends header-only status messages on the request's reply subject.

    Alchemy-Liveness: queued     held at a live responder, waiting for a handler slot
    Alchemy-Liveness: running    its handler runs at a live responder
    Alchemy-Liveness: declined   final: the responder will not start it (no slot and no room in
                                 its backlog, or it is draining); the handler never ran
    Alchemy-Liveness: lost       final: the handler was cancelled without a reply (abort, fence)

A requester says that it follows these statuses by its reply subject: the next-to-last token of
ours is ``alchemy-liveness`` (``_INBOX.<nuid>.alchemy-liveness.<n>``; a request header would cost
every request a header line to parse). Any other request comes from a plain NATS client (``nats
req``, another language's ``Request``), which would take the first status for its reply: it gets
no status, is never declined (it waits for a slot, as a request declined twice does, since its
requester cannot resend it) and relies on its own timeout. On the in-memory bus every requester
is this package's transport, so every request follows.

``Heartbeats`` (responder side) sends ``queued``/``running`` for every request a transport holds,
every ``interval``; a request shorter than that costs no extra message. On NATS the statuses of
one tick go out as one message per requester inbox, a *status list* on
``<inbox prefix>.statuses`` (``Alchemy-Liveness: list``; one line per status, then the tokens it
is about: ``queued 3 7``), not one message per request: at one engine replica with 16 clients
that was 3.2 of the 21.6 messages of a generation. Final statuses (``declined``, ``lost``) go to
each request's own reply subject at once. ``PendingReplies``
(requester side) fails a request with ``ResponderLost`` once nothing was heard for ``window``
(3 s by default), with what it last knew: never started (``queued``: any request may be resent),
started, or unknown. ``Bus.request`` then resends what is safe to resend.

A responder that was frozen or cut off for long enough that its requesters gave up fences itself
when it notices (the gap between two of its own ticks, or the time since its connection was
lost): it cancels what it holds, so a replica that wakes up never answers twice nor keeps writing
for a request someone else now serves. nats-server's own stale-connection detection
(``ping_interval``/``ping_max``) takes such a replica out of its queue groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from prompt_alchemy.bus.earliest_timer import EarliestTimer
from prompt_alchemy.errors import ConfigError, RequestTimeout, ResponderLost

__all__ = [
    "ATTEMPT_HEADER",
    "DECLINED",
    "DECLINED_HEADER",
    "FOLLOWER_MARK",
    "LIVENESS_HEADER",
    "LOST",
    "QUEUED",
    "RUNNING",
    "STATUS_LIST",
    "Heartbeats",
    "HeldRequests",
    "Liveness",
    "PendingReplies",
    "SignalMany",
    "follows_statuses",
    "status_lists",
]

log = logging.getLogger(__name__)

LIVENESS_HEADER = "Alchemy-Liveness"
ATTEMPT_HEADER = "Alchemy-Attempt"  # 1 for the first send of a request, 2 for its first resend...
DECLINED_HEADER = "Alchemy-Declined"  # on a resend: how often instances of the group declined it so far
QUEUED, RUNNING, DECLINED, LOST = "queued", "running", "declined", "lost"
FOLLOWER_MARK = "alchemy-liveness"  # next-to-last token of a reply subject whose requester reads statuses
_FOLLOWER_DOTTED = f".{FOLLOWER_MARK}."


STATUS_LIST = "list"  # the Alchemy-Liveness header of a status list
_STATUS_LIST_SUBJECT_END = "statuses"  # last token of a status list's subject (request tokens are numbers)


def follows_statuses(reply: str) -> bool:
    """Whether the requester behind ``reply`` reads statuses (a plain NATS client would take one for its reply)."""
    return _FOLLOWER_DOTTED in reply


def status_lists(statuses: Iterable[tuple[str, str]]) -> dict[str, bytes]:
    """Interim statuses as one status list per requester inbox: {subject: body}.

    ``statuses`` are (reply subject, QUEUED or RUNNING) of requests whose requester follows.
    """
    by_inbox: dict[str, dict[str, list[str]]] = {}
    for reply, status in statuses:
        inbox, _, token = reply.rpartition(".")
        by_inbox.setdefault(inbox, {}).setdefault(status, []).append(token)
    return {
        f"{inbox}.{_STATUS_LIST_SUBJECT_END}": "\n".join(
            f"{status} {' '.join(tokens)}" for status, tokens in lines.items()
        ).encode()
        for inbox, lines in by_inbox.items()
    }


_INTERIM = frozenset({QUEUED, RUNNING})

MessageT = TypeVar("MessageT")


@dataclass(frozen=True, slots=True)
class Liveness:
    """How fast a lost responder is noticed, and how often a safe request is resent.

    ``window``: silence after which a requester gives a responder up. Responders send a status
    every ``window / 3`` and fence themselves after a stall of ``2 * window / 3``.
    ``max_attempts``: sends of one request (the first included) when its responder is lost.
    """

    window: float = 3.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not 0.05 <= self.window <= 600:
            raise ConfigError(f"the liveness window must be between 0.05 and 600 seconds, not {self.window}")
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"max attempts must be between 1 and 20, not {self.max_attempts}")

    @property
    def interval(self) -> float:
        return self.window / 3

    @property
    def fence_after(self) -> float:
        return self.window * 2 / 3


# -- requester side ----------------------------------------------------------------------------
class _Pending(Generic[MessageT]):
    """A reply waited for. ``on_failure`` is called if the request fails here (its responder
    declared or gone lost): for a requester not awaiting ``future`` meanwhile (it runs the handler)."""

    __slots__ = ("expires", "future", "on_failure", "silent", "state", "subject", "timeout")

    def __init__(self, future: asyncio.Future[MessageT], subject: str, timeout: float, expires: float) -> None:
        self.future = future
        self.subject = subject
        self.timeout = timeout
        self.expires = expires  # loop time
        self.silent = 0.0  # seconds of silence counted while this loop ran (its own stalls are not)
        self.state: str | None = None
        self.on_failure: Callable[[], None] | None = None

    def fail(self, error: BaseException) -> None:
        self.future.set_exception(error)
        if self.on_failure is not None:
            self.on_failure()


Waiting = _Pending  # what ``PendingReplies.add`` hands the requester


class PendingReplies(Generic[MessageT]):
    """The replies a transport waits for, by inbox token, with the liveness of each responder."""

    def __init__(self, liveness: Liveness) -> None:
        self.liveness = liveness
        self._pending: dict[str, _Pending[MessageT]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._last_sweep = 0.0
        self._expiry = EarliestTimer(self._expire)  # one timer for every request's timeout
        self.declined = 0  # requests their responder declined (counters for tests and metrics)
        self.lost = 0  # requests whose responder went silent or dropped them

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, token: str, subject: str, timeout: float, *, watched: bool = True) -> Waiting[MessageT]:
        """Wait for the reply to the request sent with ``token``: its ``future`` (``RequestTimeout``
        after ``timeout`` seconds, ``ResponderLost`` when its responder is lost), and ``on_failure``.

        ``watched=False``: the responder sends no statuses (the NATS server itself, answering for
        JetStream), so its silence says nothing and only the timeout ends the wait."""
        loop = asyncio.get_running_loop()
        expires = loop.time() + timeout
        pending = self._pending[token] = _Pending(loop.create_future(), subject, timeout, expires)
        if not watched:
            pending.silent = -math.inf  # never counts up to the window
        if self._sweeper is None:
            self._arm(loop)
        self._expiry.watch(loop, expires)
        return pending

    def remove(self, token: str) -> None:
        self._pending.pop(token, None)

    def deliver(self, token: str, headers: Mapping[str, str] | None, message: MessageT, data: bytes = b"") -> None:
        """A message arrived on a reply subject: the reply itself, a liveness status, or (``data``)
        a status list about several requests."""
        if token == _STATUS_LIST_SUBJECT_END:
            self._heard(data)
            return
        pending = self._pending.get(token)
        if pending is None or pending.future.done():
            return  # a reply to a request given up (a woken replica, a late duplicate): dropped
        status = headers.get(LIVENESS_HEADER) if headers else None
        if status is None:
            pending.future.set_result(message)
        elif status in _INTERIM:
            pending.silent = 0.0
            pending.state = status
        else:
            started = status == LOST
            if status == DECLINED:
                self.declined += 1
            else:
                self.lost += 1
            pending.fail(ResponderLost.of(pending.subject, started=started, declined=status == DECLINED))

    def _heard(self, status_list: bytes) -> None:
        for line in status_list.decode(errors="replace").splitlines():
            status, *tokens = line.split(" ")
            if status not in _INTERIM:
                continue
            for token in tokens:
                pending = self._pending.get(token)
                if pending is not None and not pending.future.done():
                    pending.silent = 0.0
                    pending.state = status

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.fail(error())
        self._pending.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._expiry.cancel()

    def _expire(self, now: float) -> float:
        """Fail every request whose timeout passed; the next timeout (``math.inf`` for none)."""
        earliest = math.inf
        for pending in list(self._pending.values()):
            if pending.future.done():
                continue
            if pending.expires <= now:
                timeout = RequestTimeout(
                    f"no reply on {pending.subject} within {pending.timeout:.3f}s", subject=pending.subject
                )
                pending.fail(timeout)
            elif pending.expires < earliest:
                earliest = pending.expires
        return earliest

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last_sweep = loop.time()
        self._sweeper = loop.call_later(self.liveness.interval / 2, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        # Silence is counted only while this loop runs: a sweep that comes late (our own loop stood
        # still, or was starved of CPU) counts at most one status interval. Statuses sent meanwhile
        # are still waiting in our socket or queue, unread; they must not be taken for silence.
        credit = min(now - self._last_sweep, self.liveness.interval)
        for pending in self._pending.values():
            pending.silent += credit
            if pending.silent > self.liveness.window and not pending.future.done():
                started = None if pending.state is None else pending.state == RUNNING
                self.lost += 1
                pending.fail(ResponderLost.of(pending.subject, started=started, silent_for=pending.silent))
        self._sweeper = None
        if self._pending:
            self._last_sweep = now
            self._sweeper = loop.call_later(self.liveness.interval / 2, self._sweep, loop)


# -- responder side ----------------------------------------------------------------------------
class HeldRequests(Protocol):
    """What a dispatcher tells the heartbeat about the requests it holds."""

    def held(self) -> Iterator[tuple[str, str]]:
        """(reply subject, QUEUED or RUNNING) for every request with a reply subject."""
        ...

    async def abort(self) -> None:
        """Cancel running handlers (their requesters are told ``lost``), decline queued ones."""
        ...


Signal = Callable[[str, str], Coroutine[Any, Any, None]]
"""Send a liveness status (second argument) to a reply subject (first)."""

SignalMany = Callable[[list[tuple[str, str]]], Coroutine[Any, Any, None]]
"""Send one tick's interim statuses, (reply subject, status) each; how is the transport's choice."""


class Heartbeats:
    """One ticker per transport: statuses for every held request, and the self-fence."""

    def __init__(
        self,
        liveness: Liveness,
        signal: SignalMany,
        *,
        offline_for: Callable[[], float] | None = None,
        fence: bool = True,
    ) -> None:
        """``signal`` sends one tick's statuses. ``fence=False`` where requesters share this loop (the
        in-memory bus): a stall stops their clocks too, so they are still waiting and nothing held may be given up."""
        self.liveness = liveness
        self._signal = signal
        self._fence_enabled = fence
        self._offline_for = offline_for or (lambda: 0.0)
        self._holders: set[HeldRequests] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.sent = 0  # statuses sent (an observable for tests and metrics)
        self.fences = 0

    def register(self, holder: HeldRequests) -> None:
        self._holders.add(holder)
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="bus-heartbeats")

    def unregister(self, holder: HeldRequests) -> None:
        self._holders.discard(holder)

    async def close(self) -> None:
        self._holders.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.liveness.interval)
            now = loop.time()
            stall, offline = now - last, self._offline_for()
            last = now
            if self._fence_enabled and (stall > self.liveness.fence_after or offline > self.liveness.fence_after):
                await self._fence(stall, offline)
                continue
            await self._send(list(self._held()))

    def _held(self) -> Iterable[tuple[str, str]]:
        for holder in list(self._holders):
            yield from holder.held()

    async def _send(self, statuses: list[tuple[str, str]]) -> None:
        if not statuses:
            return
        try:
            await self._signal(statuses)
        except Exception as error:  # the connection is down: the fence will act if it lasts
            log.debug("heartbeat statuses not sent: %s", error)
            return
        self.sent += len(statuses)

    async def _fence(self, stall: float, offline: float) -> None:
        held = sum(1 for _ in self._held())
        if not held:
            return
        self.fences += 1
        why = (
            f"the event loop stood still for {stall:.1f}s"
            if stall >= offline
            else f"the bus was lost for {offline:.1f}s"
        )
        log.warning("%s: giving up %d held request(s), whose requesters have resent or failed them", why, held)
        for holder in list(self._holders):
            await holder.abort()
