"""Responder liveness and failover, on InMemoryBus and NatsBus alike.

The liveness window here is short (0.6 s) so that the cases which wait for silence stay quick;
``EVENTUALLY`` bounds each awaited step and ``eventually`` each polled condition; neither is a
statement about speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.msg import Msg

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, InMemoryBus, NatsBus, RequestContext, ServiceRunner, discovery_subject
from prompt_alchemy.bus.dispatch import QUEUE_AFTER_DECLINES
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.bus.liveness import ATTEMPT_HEADER, Liveness
from prompt_alchemy.bus.nats_transport import flush_in_order
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import BusError, NoResponders, ResponderLost, Unavailable
from prompt_alchemy.schemas.health import ServicePing
from prompt_alchemy.schemas.storage import DeleteReply, DeleteRequest, GetReply, GetRequest, PromptRecord
from prompt_alchemy.testing.servers import NatsServer
from prompt_alchemy.testing.waiting import eventually

EVENTUALLY = 20.0
LIVENESS = Liveness(window=0.6, max_attempts=3)

BusFactory = Callable[[], Awaitable[Bus]]


@pytest.fixture
async def buses(bus_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """One shared in-memory bus, or a new NATS connection per call (a process each)."""
    made: list[Bus] = []

    async def make() -> Bus:
        if bus_kind == "memory":
            if not made:
                made.append(InMemoryBus(liveness=LIVENESS))
            return made[0]
        server: NatsServer = request.getfixturevalue("nats_server")
        bus = await NatsBus.connect(server.url, liveness=LIVENESS)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


def record(prompt_id: str) -> PromptRecord:
    return PromptRecord(id=prompt_id, content=prompt_id, content_hash=hashlib.sha256(prompt_id.encode()).hexdigest())


def attempt_of(context: RequestContext) -> int:
    assert context.attempt == int(context.headers.get(ATTEMPT_HEADER, "1"))
    return context.attempt


class Holder:
    """A ``storage.get`` handler that records each request it starts and holds it until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, request: GetRequest, _context: RequestContext) -> GetReply:
        self.started.append(request.id)
        await self.release.wait()
        return GetReply(record=record(request.id))


async def serve(bus: Bus, handler, *, name: str = "storage", concurrency: int = 4, backlog: int | None = None):  # type: ignore[no-untyped-def]
    runner = ServiceRunner(bus, name=name, version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_GET, handler, concurrency=concurrency, backlog=backlog)
    await runner.start()
    return runner


async def pretend_a_peer(bus: Bus, name: str = "storage") -> None:
    """Another instance of ``name`` as discovery sees it (busy in another process): a full instance's
    census counts it, so that instance declines what it cannot hold, as it would among full peers."""

    async def answer(message: RawMessage) -> None:
        await bus.respond(message, ServicePing(name=name, id="peer", version="1.0.0").model_dump_json().encode())

    await bus.serve_raw(discovery_subject("PING", name), answer)
    await bus.transport.flush()


async def test_a_killed_responder_is_noticed_at_once_and_a_safe_request_goes_to_another_instance(
    buses: BusFactory,
) -> None:
    client, first_bus, second_bus = await buses(), await buses(), await buses()
    held = asyncio.Event()
    seen: list[tuple[str, int]] = []

    async def stuck(request: GetRequest, context: RequestContext) -> GetReply:
        seen.append(("first", attempt_of(context)))
        held.set()
        await asyncio.Event().wait()  # holds the request until the instance is killed
        raise AssertionError("unreachable")

    async def answers(request: GetRequest, context: RequestContext) -> GetReply:
        seen.append(("second", attempt_of(context)))
        return GetReply(record=record(request.id))

    first = await serve(first_bus, stuck)
    pending = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="p1"), timeout=60))
    async with asyncio.timeout(EVENTUALLY):
        await held.wait()
    await serve(second_bus, answers)
    await first.abort()  # its handler is cancelled without a reply
    async with asyncio.timeout(EVENTUALLY):
        reply = await pending
    assert reply.record.id == "p1"
    assert seen == [("first", 1), ("second", 2)]


async def test_an_unsafe_request_whose_responder_goes_silent_fails_at_once_as_responder_lost(
    buses: BusFactory,
) -> None:
    client, server = await buses(), await buses()
    calls = 0

    async def silent(request: DeleteRequest, _context: RequestContext) -> DeleteReply:
        nonlocal calls
        calls += 1
        await server.transport.heartbeats.close()  # the responder freezes: no status ever again
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    runner = ServiceRunner(server, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_DELETE, silent)
    await runner.start()
    async with asyncio.timeout(EVENTUALLY):  # the request's own timeout (120 s) is not what ends it
        with pytest.raises(ResponderLost) as lost:
            await client.request(schemas.STORAGE_DELETE, DeleteRequest(id="p1"), timeout=120)
    assert calls == 1  # not resent: deleting twice is not safe
    error = as_service_error(lost.value)
    assert isinstance(error, Unavailable)
    assert error.retriable
    assert "responder lost" in error.message
    await runner.abort()


async def test_a_safe_request_whose_responder_goes_silent_is_resent(buses: BusFactory) -> None:
    client, server = await buses(), await buses()
    attempts: list[int] = []

    async def silent_once(request: GetRequest, context: RequestContext) -> GetReply:
        attempts.append(attempt_of(context))
        if len(attempts) == 1:
            await server.transport.heartbeats.close()  # the responder freezes
            await asyncio.Event().wait()
        return GetReply(record=record(request.id))

    runner = await serve(server, silent_once)
    async with asyncio.timeout(EVENTUALLY):
        reply = await client.request(schemas.STORAGE_GET, GetRequest(id="p2"), timeout=120)
    assert reply.record.id == "p2"
    assert attempts == [1, 2]
    await runner.abort()


async def test_a_long_handler_is_never_mistaken_for_a_lost_one(buses: BusFactory) -> None:
    client, server = await buses(), await buses()
    release = asyncio.Event()
    calls = 0

    async def slow(request: GetRequest, _context: RequestContext) -> GetReply:
        nonlocal calls
        calls += 1
        await release.wait()
        return GetReply(record=record(request.id))

    await serve(server, slow)
    pending = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="p3"), timeout=120))
    heartbeats = server.transport.heartbeats
    # ten statuses span more than three liveness windows of silence-free waiting
    await eventually(lambda: heartbeats.sent >= 10)
    assert not pending.done()
    release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert (await pending).record.id == "p3"
    assert calls == 1


async def test_a_full_instance_declines_and_the_request_waits_its_turn(buses: BusFactory) -> None:
    client, server = await buses(), await buses()
    release = asyncio.Event()
    attempts: list[int] = []

    async def one_at_a_time(request: GetRequest, context: RequestContext) -> GetReply:
        attempts.append(attempt_of(context))
        if request.id == "first":
            await release.wait()
        return GetReply(record=record(request.id))

    await serve(server, one_at_a_time, concurrency=1, backlog=0)
    first = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="first"), timeout=60))
    await eventually(lambda: len(attempts) == 1)
    second = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="second"), timeout=60))
    await eventually(lambda: client.transport.replies.declined >= 1)  # type: ignore[attr-defined]
    release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert (await first).record.id == "first"
        assert (await second).record.id == "second"
    # declined at least once before a slot was free, yet still its first attempt: a declined send
    # never started the work (counting declines once pushed Alchemy-Attempt past its bound)
    assert attempts == [1, 1]


async def test_a_request_declined_by_every_instance_waits_its_turn_instead_of_bouncing(buses: BusFactory) -> None:
    """Declined twice (every instance it reached was full), the third send is held: no more
    resends for as long as the slot stays taken."""
    client, server = await buses(), await buses()
    release = asyncio.Event()
    served: list[str] = []

    async def one_at_a_time(request: GetRequest, _context: RequestContext) -> GetReply:
        served.append(request.id)
        if request.id == "first":
            await release.wait()
        return GetReply(record=record(request.id))

    await pretend_a_peer(server)  # every instance full: the census must not stop the declines
    await serve(server, one_at_a_time, concurrency=1, backlog=0)
    declines = client.transport.replies  # type: ignore[attr-defined]
    first = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="first"), timeout=60))
    await eventually(lambda: served == ["first"])
    second = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="second"), timeout=60))
    await eventually(lambda: declines.declined == QUEUE_AFTER_DECLINES)
    # six more statuses: at least three heartbeat ticks (one for "first" each), time enough for
    # several more resend pauses had the request kept bouncing
    heartbeats = server.transport.heartbeats
    sent = heartbeats.sent
    await eventually(lambda: heartbeats.sent >= sent + 6)
    release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert (await first).record.id == "first"
        assert (await second).record.id == "second"
    assert declines.declined == QUEUE_AFTER_DECLINES
    assert served == ["first", "second"]


async def test_a_full_instance_with_no_peer_holds_what_it_would_decline(buses: BusFactory) -> None:
    """Declined, a request would come back to the same instance (two messages and a resend pause
    for nothing): once its census finds no other instance, a full one holds it instead."""
    client, server = await buses(), await buses()
    one_at_a_time = Holder()
    runner = await serve(server, one_at_a_time, concurrency=1, backlog=0)
    declines = client.transport.replies  # type: ignore[attr-defined]
    requests = [asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="first"), timeout=60))]
    await eventually(lambda: one_at_a_time.started == ["first"])
    requests.append(asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="second"), timeout=60)))
    await eventually(lambda: declines.declined >= 1)  # the first time full: peers assumed, a census begins
    await eventually(lambda: runner.census.taken >= 1)
    assert runner.census.alone
    declined = declines.declined
    requests.append(asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="third"), timeout=60)))
    heartbeats = server.transport.heartbeats
    sent = heartbeats.sent
    await eventually(lambda: heartbeats.sent >= sent + 6)  # ticks pass: time for resends, had it been declined
    one_at_a_time.release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert [(await request).record.id for request in requests] == ["first", "second", "third"]
    assert declines.declined == declined
    assert one_at_a_time.started == ["first", "second", "third"]
    await runner.stop()


async def test_a_full_instance_whose_census_finds_a_peer_declines_as_before(buses: BusFactory) -> None:
    client, server = await buses(), await buses()
    one_at_a_time = Holder()
    await pretend_a_peer(server)
    runner = await serve(server, one_at_a_time, concurrency=1, backlog=0)
    declines = client.transport.replies  # type: ignore[attr-defined]
    requests = [asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="first"), timeout=60))]
    await eventually(lambda: one_at_a_time.started == ["first"])
    requests.append(asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="second"), timeout=60)))
    await eventually(lambda: runner.census.taken >= 1)
    assert not runner.census.alone
    requests.append(asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="third"), timeout=60)))
    await eventually(lambda: declines.declined >= 2 * QUEUE_AFTER_DECLINES)  # both bounced until held
    one_at_a_time.release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert [(await request).record.id for request in requests] == ["first", "second", "third"]
    await runner.stop()


async def test_stop_declines_queued_requests_to_another_instance_and_finishes_running_ones(
    buses: BusFactory,
) -> None:
    client, first_bus, second_bus = await buses(), await buses(), await buses()
    release = asyncio.Event()
    handled: list[str] = []

    async def slow(request: GetRequest, _context: RequestContext) -> GetReply:
        handled.append(f"first:{request.id}")
        await release.wait()
        return GetReply(record=record(request.id))

    async def quick(request: GetRequest, _context: RequestContext) -> GetReply:
        handled.append(f"second:{request.id}")
        return GetReply(record=record(request.id))

    first = await serve(first_bus, slow, concurrency=1, backlog=5)
    requests = [
        asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id=f"r{n}"), timeout=60)) for n in range(3)
    ]
    await eventually(lambda: len(handled) == 1)  # one runs, two wait in the first instance's backlog
    await serve(second_bus, quick)
    stopping = asyncio.create_task(first.stop())
    await eventually(lambda: len(handled) == 3)  # the two queued went to the second instance
    assert not stopping.done()  # the running one is still being finished
    release.set()
    async with asyncio.timeout(EVENTUALLY):
        replies = await asyncio.gather(*requests)
        await stopping
    assert sorted(reply.record.id for reply in replies) == ["r0", "r1", "r2"]
    assert sum(entry.startswith("first:") for entry in handled) == 1


async def test_during_a_drain_no_endpoint_accepts_new_work(buses: BusFactory) -> None:
    client, server = await buses(), await buses()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_get(request: GetRequest, _context: RequestContext) -> GetReply:
        started.set()
        await release.wait()
        return GetReply(record=record(request.id))

    async def delete(request: DeleteRequest, _context: RequestContext) -> DeleteReply:
        return DeleteReply(id=request.id, deleted=True)

    runner = ServiceRunner(server, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_GET, slow_get)
    runner.add_endpoint(schemas.STORAGE_DELETE, delete)
    await runner.start()
    in_flight = asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id="held"), timeout=60))
    async with asyncio.timeout(EVENTUALLY):
        await started.wait()
    stopping = asyncio.create_task(runner.stop())

    async def delete_refused() -> bool:
        try:
            await client.request(schemas.STORAGE_DELETE, DeleteRequest(id="x"), timeout=5)
        except NoResponders:
            return True
        return False

    await eventually(delete_refused)
    assert not in_flight.done()  # the GET handler is still draining while DELETE takes nothing
    release.set()
    async with asyncio.timeout(EVENTUALLY):
        assert (await in_flight).record.id == "held"
        await stopping


async def test_subscribe_unsubscribe_cycles_release_every_subscription(buses: BusFactory) -> None:
    bus = await buses()
    transport = bus.transport
    before = transport.subscription_count  # type: ignore[attr-defined]

    async def ignore(_event: object, _context: RequestContext) -> None:
        return None

    for n in range(10_000):
        subscription = await bus.subscribe(
            schemas.EVENTS_GENERATION, ignore, subject=schemas.generation_events_subject(f"r{n}")
        )
        await subscription.unsubscribe()
    assert transport.subscription_count == before  # type: ignore[attr-defined]
    assert transport.pending_requests == 0  # type: ignore[attr-defined]


async def test_in_process_a_handler_that_holds_the_loop_is_not_fenced() -> None:
    """On the in-memory bus requester and responder share the loop: a stall stops both clocks, so the
    requester is still waiting and the responder must not give the request up (CPU-bound work in a
    monolith, e.g. a batch of near-maximal ideas, did: 503 'responder lost')."""
    bus = InMemoryBus(liveness=LIVENESS)
    heartbeats = bus.transport.heartbeats

    async def busy(request: DeleteRequest, _context: RequestContext) -> DeleteReply:
        sent = heartbeats.sent
        time.sleep(LIVENESS.window)  # CPU-bound work holding the loop past the fence's stall  # noqa: ASYNC251
        await eventually(lambda: heartbeats.sent > sent)  # the ticker ran after the stall, and the handler lives
        return DeleteReply(id=request.id, deleted=True)

    runner = ServiceRunner(bus, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_DELETE, busy)  # not retry-safe: a fence would fail it
    await runner.start()
    try:
        async with asyncio.timeout(EVENTUALLY):
            reply = await bus.request(schemas.STORAGE_DELETE, DeleteRequest(id="p9"), timeout=120)
        assert reply.deleted
        assert heartbeats.fences == 0
    finally:
        await runner.stop()
        await bus.close()


async def test_a_plain_nats_requester_gets_its_reply_never_a_status(nats_server: NatsServer) -> None:
    """A client that is not ours (``nats req``, another language's ``Request``) takes the first message
    on its reply subject for the reply: it is sent no status and never declined, and waits its turn."""
    server = await NatsBus.connect(nats_server.url, liveness=LIVENESS)
    follower = await NatsBus.connect(nats_server.url, liveness=LIVENESS)
    plain = await nats.connect(nats_server.url)
    one_at_a_time = Holder()
    started, release = one_at_a_time.started, one_at_a_time.release
    await pretend_a_peer(server)  # the follower is declined, as among full peers
    runner = await serve(server, one_at_a_time, concurrency=1, backlog=1)
    try:
        body = GetRequest(id="running").model_dump_json().encode()
        running = asyncio.create_task(plain.request(schemas.STORAGE_GET.subject, body, timeout=EVENTUALLY))
        await eventually(lambda: started == ["running"])
        waiting = asyncio.create_task(plain.request(schemas.STORAGE_GET.subject, b'{"id": "waiting"}', timeout=60))
        beyond = asyncio.create_task(plain.request(schemas.STORAGE_GET.subject, b'{"id": "beyond"}', timeout=60))
        await eventually(lambda: plain.stats["out_msgs"] == 3)
        await flush_in_order(plain)  # nats-server has routed both before the follower's request: they arrive first
        followed = asyncio.create_task(follower.request(schemas.STORAGE_GET, GetRequest(id="followed"), timeout=60))
        await eventually(lambda: follower.transport.replies.declined >= QUEUE_AFTER_DECLINES)
        heartbeats = server.transport.heartbeats
        await eventually(lambda: heartbeats.sent >= 3)  # ticks pass: the held follower hears, the plain ones not
        assert [task.done() for task in (running, waiting, beyond)] == [False, False, False]
        release.set()
        async with asyncio.timeout(EVENTUALLY):
            replies = [await task for task in (running, waiting, beyond)]
            assert (await followed).record.id == "followed"
        assert [GetReply.model_validate_json(reply.data).record.id for reply in replies] == [
            "running",
            "waiting",
            "beyond",
        ]
        assert all(not reply.headers for reply in replies)
        assert started == ["running", "followed", "waiting", "beyond"]  # earliest deadline first: theirs is unset
    finally:
        release.set()  # a failure above must not leave the handler holding the drain
        await runner.stop()
        await plain.close()
        await follower.close()
        await server.close()


def counted(status_list: bytes) -> list[tuple[str, int]]:
    """(status, how many requests it names) for each line of a status list."""
    return sorted((line.split(" ")[0], len(line.split(" ")) - 1) for line in status_list.decode().splitlines())


async def test_on_nats_a_tick_sends_each_requester_one_status_list_that_keeps_all_its_requests_alive(
    nats_server: NatsServer,
) -> None:
    """One message per requester inbox and tick, not one per held request: at one engine replica and
    16 clients the per-request statuses were 3.2 of a generation's 21.6 messages."""
    server = await NatsBus.connect(nats_server.url, liveness=LIVENESS)
    client = await NatsBus.connect(nats_server.url, liveness=LIVENESS)
    spy = await nats.connect(nats_server.url)
    statuses: list[tuple[str, str, bytes]] = []

    async def on_inbox_message(msg: Msg) -> None:
        if msg.headers and "Alchemy-Liveness" in msg.headers:
            statuses.append((msg.subject, msg.headers["Alchemy-Liveness"], msg.data))

    await spy.subscribe("_INBOX.>", cb=on_inbox_message)
    await flush_in_order(spy)
    hold = Holder()
    started, release = hold.started, hold.release
    runner = await serve(server, hold, concurrency=2, backlog=2)
    try:
        ids = [f"r{n}" for n in range(4)]
        requests = [asyncio.create_task(client.request(schemas.STORAGE_GET, GetRequest(id=i), timeout=60)) for i in ids]
        await eventually(lambda: len(started) == 2)  # two run, two wait
        # four lists: more than a liveness window (three intervals) of requests kept alive by them alone
        await eventually(lambda: len(statuses) >= 4)
        release.set()
        async with asyncio.timeout(EVENTUALLY):
            replies = await asyncio.gather(*requests)
        assert sorted(reply.record.id for reply in replies) == ["r0", "r1", "r2", "r3"]
        assert sorted(started) == ["r0", "r1", "r2", "r3"]  # none given up and resent
        assert {(subject.rpartition(".")[2], kind) for subject, kind, _ in statuses} == {("statuses", "list")}
        assert len({subject for subject, _, _ in statuses}) == 1  # one requester: one inbox
        # once all four are held, a list names the two running and the two waiting
        assert [("queued", 2), ("running", 2)] in [counted(body) for *_, body in statuses]
    finally:
        release.set()
        await runner.stop()
        await spy.close()
        await client.close()
        await server.close()


async def test_an_unwatched_request_waits_out_a_silence_that_gives_a_watched_one_up(nats_server: NatsServer) -> None:
    """The NATS server answers JetStream publishes itself and sends no statuses: such a request
    (``watched=False``) shares the reply inbox but only its timeout ends it, while a request to the
    same silent responder that expects statuses is given up after the liveness window."""
    requester = await NatsBus.connect(nats_server.url, liveness=LIVENESS)
    silent = await nats.connect(nats_server.url)
    held: list[Msg] = []

    async def hold(msg: Msg) -> None:
        held.append(msg)

    await silent.subscribe("silent.server", cb=hold)
    await flush_in_order(silent)
    transport = requester.transport
    try:
        unwatched = asyncio.create_task(
            transport.request("silent.server", b"unwatched", headers=None, timeout=60, watched=False)
        )
        with pytest.raises(ResponderLost):
            await transport.request("silent.server", b"watched", headers=None, timeout=60)
        assert not unwatched.done()
        assert sorted(msg.data for msg in held) == [b"unwatched", b"watched"]
        unwatched_msg = next(msg for msg in held if msg.data == b"unwatched")
        await silent.publish(unwatched_msg.reply, b"the answer")
        async with asyncio.timeout(EVENTUALLY):
            assert (await unwatched).data == b"the answer"
    finally:
        if not unwatched.done():  # a failure above must not leave it to fail a later test
            unwatched.cancel()
        with contextlib.suppress(asyncio.CancelledError, BusError):
            await unwatched
        await silent.close()
        await requester.close()
