"""A request dispatcher's backlog under overload: earliest deadline first.

A requester whose request was declined resends it after a pause, with the deadline it was first
sent with. Served in arrival order, newer requests would take the places that free up while it
waits, again and again (a p99 of 12-20 s at one overloaded engine replica, p50 1.4 s); ordered by
deadline, the oldest gets in and a newer one is declined instead.
"""

from __future__ import annotations

import asyncio
import time

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.context import DEADLINE_HEADER
from prompt_alchemy.bus.dispatch import OVERFLOW_PER_SLOT, QUEUE_AFTER_DECLINES, Dispatcher
from prompt_alchemy.bus.liveness import DECLINED, DECLINED_HEADER, FOLLOWER_MARK, QUEUED, RUNNING
from prompt_alchemy.bus.transport import RawMessage

EVENTUALLY = 10.0  # liveness bound, never a statement about speed
FOLLOWER = f"_INBOX.n.{FOLLOWER_MARK}."  # a reply subject of a requester that reads statuses


class Recorder:
    """Handlers that hold until released, and the statuses the dispatcher sends."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.statuses: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def handle(self, message: RawMessage) -> None:
        self.started.append(message.data.decode())
        await self.release.wait()

    async def signal(self, reply: str, status: str) -> None:
        self.statuses.append((reply, status))


def request(
    name: str, *, seconds_left: float | None, reply: bool = True, declined: int = 0, follows: bool = True
) -> RawMessage:
    """A request; ``follows``: its requester reads liveness statuses (as our transports do), else a plain client's."""
    headers = {} if seconds_left is None else {DEADLINE_HEADER: str(int((time.time() + seconds_left) * 1000))}
    if declined:
        headers[DECLINED_HEADER] = str(declined)
    inbox = FOLLOWER if follows else "_INBOX.n."
    return RawMessage("test.backlog", name.encode(), headers, inbox + name if reply else None)


async def finish(dispatcher: Dispatcher, recorder: Recorder) -> None:
    recorder.release.set()
    async with asyncio.timeout(EVENTUALLY):
        await dispatcher.wait_idle()


async def test_the_backlog_starts_the_earliest_deadline_first_and_requests_without_one_last() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=4, signal=recorder.signal)
    for message in (
        request("running", seconds_left=60),
        request("later", seconds_left=90),
        request("none", seconds_left=None),
        request("sooner", seconds_left=30),
        request("later-too", seconds_left=90),
    ):
        dispatcher.try_start(message)
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "sooner", "later", "later-too", "none"]
    assert recorder.statuses == []


async def test_a_request_with_an_earlier_deadline_takes_the_place_of_the_latest_waiting_which_is_declined() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=1, signal=recorder.signal)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("newer", seconds_left=90))
    dispatcher.try_start(request("resent", seconds_left=30))  # declined before: its deadline is the earliest
    dispatcher.try_start(request("newest", seconds_left=120))  # nothing later waits: declined
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "resent"]
    assert recorder.statuses == [(FOLLOWER + "newer", DECLINED), (FOLLOWER + "newest", DECLINED)]


async def test_a_waiting_message_nobody_could_resend_is_never_displaced() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=1, signal=recorder.signal)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("no-reply", seconds_left=None, reply=False))  # accepted: it must run
    dispatcher.try_start(request("sooner", seconds_left=30))
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "no-reply"]
    assert recorder.statuses == [(FOLLOWER + "sooner", DECLINED)]


async def test_a_request_every_instance_declined_waits_beyond_the_backlog_in_deadline_order() -> None:
    """Resending it again would not start it sooner, only cost every hop a message per pause."""
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=1, signal=recorder.signal)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("waiting", seconds_left=60))
    dispatcher.try_start(request("fresh", seconds_left=90))  # the backlog is full: declined
    dispatcher.try_start(request("once", seconds_left=90, declined=QUEUE_AFTER_DECLINES - 1))  # declined again
    dispatcher.try_start(request("bounced", seconds_left=90, declined=QUEUE_AFTER_DECLINES))
    dispatcher.try_start(request("garbled", seconds_left=90)._replace(headers={DECLINED_HEADER: "many"}))
    assert dispatcher.queued == 2
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "waiting", "bounced"]
    assert recorder.statuses == [(FOLLOWER + name, DECLINED) for name in ("fresh", "once", "garbled")]


async def test_the_places_beyond_the_backlog_are_bounded_per_slot() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 2, backlog=0, signal=recorder.signal)
    beyond = OVERFLOW_PER_SLOT * 2
    for index in range(2 + beyond):
        dispatcher.try_start(request(f"r{index}", seconds_left=60 + index, declined=QUEUE_AFTER_DECLINES))
    dispatcher.try_start(request("one-too-many", seconds_left=600, declined=QUEUE_AFTER_DECLINES))
    assert dispatcher.queued == beyond
    await finish(dispatcher, recorder)
    assert recorder.started == [f"r{index}" for index in range(2 + beyond)]
    assert recorder.statuses == [(FOLLOWER + "one-too-many", DECLINED)]


async def test_a_plain_nats_requester_is_never_declined_displaced_or_sent_a_status() -> None:
    """A requester whose reply subject does not say it follows (``nats req``, another language's client)
    would take a status for its reply and could not resend a declined request: it waits its turn."""
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=1, signal=recorder.signal)
    dispatcher.try_start(request("running", seconds_left=60, follows=False))
    dispatcher.try_start(request("plain", seconds_left=90, follows=False))
    dispatcher.try_start(request("plain-too", seconds_left=90, follows=False))  # beyond the backlog: it waits
    dispatcher.try_start(request("sooner", seconds_left=30))  # a follower: nothing it could displace, declined
    assert dispatcher.queued == 2
    assert list(dispatcher.held()) == []  # the heartbeat sends the plain requesters nothing
    dispatcher.try_start(request("follower", seconds_left=120, declined=QUEUE_AFTER_DECLINES))
    assert list(dispatcher.held()) == [(FOLLOWER + "follower", QUEUED)]
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "plain", "plain-too", "follower"]
    assert recorder.statuses == [(FOLLOWER + "sooner", DECLINED)]


async def test_when_intake_stops_a_plain_requesters_waiting_request_runs_instead_of_being_declined() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=2, signal=recorder.signal)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("plain", seconds_left=60, follows=False))
    dispatcher.try_start(request("follower", seconds_left=60))
    assert list(dispatcher.held()) == [(FOLLOWER + "running", RUNNING), (FOLLOWER + "follower", QUEUED)]
    dispatcher.stop_intake()
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "plain"]
    assert recorder.statuses == [(FOLLOWER + "follower", DECLINED)]


async def test_on_the_in_memory_bus_every_requester_follows_liveness() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder.handle, 1, backlog=0, signal=recorder.signal, every_requester_follows=True)
    dispatcher.try_start(request("running", seconds_left=60, follows=False))
    dispatcher.try_start(request("fresh", seconds_left=60, follows=False))
    await finish(dispatcher, recorder)
    assert recorder.statuses == [("_INBOX.n.fresh", DECLINED)]


class SettledCensus(Census):
    """A census whose answer is known; counts how often the dispatcher says it is full."""

    def __init__(self, *, alone: bool) -> None:
        super().__init__(self._count)
        self.alone = alone
        self.asked = 0

    async def _count(self) -> int:
        raise AssertionError("the answer is settled: no census is taken")

    def full(self) -> None:
        self.asked += 1


async def test_an_instance_with_no_peer_holds_beyond_the_backlog_what_it_would_decline() -> None:
    """Declined, the request would come back to this same instance: it waits here in deadline order,
    within the places beyond the backlog that a request every instance declined may take."""
    recorder = Recorder()
    census = SettledCensus(alone=True)
    dispatcher = Dispatcher(recorder.handle, 1, backlog=1, signal=recorder.signal, census=census)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("waiting", seconds_left=90))
    assert census.asked == 0  # within the backlog: nobody asks whether others could take it
    for index in range(OVERFLOW_PER_SLOT):
        dispatcher.try_start(request(f"beyond{index}", seconds_left=30 + index))
    dispatcher.try_start(request("one-too-many", seconds_left=600))
    assert dispatcher.queued == 1 + OVERFLOW_PER_SLOT
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", *(f"beyond{index}" for index in range(OVERFLOW_PER_SLOT)), "waiting"]
    assert recorder.statuses == [(FOLLOWER + "one-too-many", DECLINED)]
    assert census.asked == OVERFLOW_PER_SLOT  # each full moment keeps the census going


async def test_an_instance_with_peers_declines_beyond_the_backlog_and_keeps_asking() -> None:
    recorder = Recorder()
    census = SettledCensus(alone=False)
    dispatcher = Dispatcher(recorder.handle, 1, backlog=0, signal=recorder.signal, census=census)
    dispatcher.try_start(request("running", seconds_left=60))
    dispatcher.try_start(request("fresh", seconds_left=60))
    dispatcher.try_start(request("bounced", seconds_left=60, declined=QUEUE_AFTER_DECLINES))
    await finish(dispatcher, recorder)
    assert recorder.started == ["running", "bounced"]
    assert recorder.statuses == [(FOLLOWER + "fresh", DECLINED)]
    assert census.asked == 2
