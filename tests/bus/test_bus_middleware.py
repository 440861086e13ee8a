"""The middleware chain: one order for every endpoint, every outcome seen, the same on both buses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner, current_context
from prompt_alchemy.bus.codec import error_from_reply
from prompt_alchemy.bus.context import DEADLINE_HEADER
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.bus.middleware import (
    Deadline,
    Middleware,
    Sending,
    SendNext,
    ServeNext,
    Serving,
    handler_deadline,
)
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import BadRequest, DeadlineExceeded, NoResponders, NotFound, ServiceError
from prompt_alchemy.schemas.storage import GetReply, GetRequest, PromptRecord

BusFactory = Callable[[], Awaitable[Bus]]

EVENTUALLY = 10.0  # a liveness bound for what must happen, never a statement about speed


class Recorder(Middleware):
    """Notes what it saw, in the order the layers ran."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        context = current_context()
        assert context is call.context  # the request's context is bound around the whole chain
        self.seen.append(f"{self.name}>")
        try:
            return await call_next(call)
        except ServiceError as error:
            self.seen.append(f"{self.name}!{error.code}")
            raise
        finally:
            self.seen.append(f"<{self.name}")


class SendRecorder(Middleware):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def send(self, call: Sending, call_next: SendNext) -> RawMessage:
        self.seen.append(f"send {call.subject} {call.contract.service if call.contract else None}")
        return await call_next(call)


def record(prompt_id: str) -> PromptRecord:
    return PromptRecord(id=prompt_id, content="a prompt", content_hash="0" * 64)


async def get(request: GetRequest, _context: RequestContext) -> GetReply:
    if request.id == "missing":
        raise NotFound("no such prompt")
    if request.id == "slow":
        await asyncio.Event().wait()  # never set: only the deadline ends it
    return GetReply(record=record(request.id))


async def serve(bus: Bus) -> ServiceRunner:
    runner = ServiceRunner(bus, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_GET, get)
    await runner.start()
    return runner


async def test_layers_run_outermost_first_and_see_every_outcome(bus_factory: BusFactory) -> None:
    seen: list[str] = []
    server = await bus_factory()
    server.use(Recorder("outer", seen), Recorder("inner", seen))
    await serve(server)
    client = await bus_factory()

    assert (await client.request(schemas.STORAGE_GET, GetRequest(id="p1"))).record.id == "p1"
    assert seen == ["outer>", "inner>", "<inner", "<outer"]
    seen.clear()
    with pytest.raises(NotFound):
        await client.request(schemas.STORAGE_GET, GetRequest(id="missing"))
    assert seen == ["outer>", "inner>", "inner!404", "<inner", "outer!404", "<outer"]
    seen.clear()
    with pytest.raises(BadRequest):  # refused before any handler ran: the layers still see it
        await client.request_raw(schemas.STORAGE_GET, b'{"id": ""}')
    assert seen == ["outer>", "inner>", "inner!400", "<inner", "outer!400", "<outer"]


async def test_a_send_layer_sees_every_request_with_its_contract(bus: Bus) -> None:
    seen: list[str] = []
    await serve(bus)
    bus.use(SendRecorder(seen))
    await bus.request(schemas.STORAGE_GET, GetRequest(id="p1"))
    assert seen == [f"send {schemas.STORAGE_GET.subject} storage"]


async def deadline_server(bus_factory: BusFactory, margin_s: float = 0.0) -> Bus:
    """A client of a storage endpoint whose bus has the ``Deadline`` layer (and ``slow`` never ends)."""
    server = await bus_factory()
    server.use(Deadline(margin_s))
    await serve(server)
    return await bus_factory()


async def ask_slow(client: Bus, deadline_in: float, timeout: float = EVENTUALLY) -> RawMessage:
    """Through the transport, so that the requester's own timer (clipped to the same deadline) does
    not race the answer: what is under test is the responder's side."""
    deadline = str(int((time.time() + deadline_in) * 1000))
    return await client.transport.request(
        schemas.STORAGE_GET.subject, b'{"id": "slow"}', headers={DEADLINE_HEADER: deadline}, timeout=timeout
    )


async def test_the_deadline_layer_answers_deadline_exceeded_when_the_callers_deadline_passes(
    bus_factory: BusFactory,
) -> None:
    client = await deadline_server(bus_factory)
    raw = await ask_slow(client, 0.3)
    failure = error_from_reply(raw.data, raw.headers)
    assert isinstance(failure, DeadlineExceeded)
    assert "deadline passed during alchemy.v1.storage.get" in failure.message


async def test_each_handler_is_stopped_at_its_own_deadline_whatever_else_the_layer_bounds(
    bus_factory: BusFactory,
) -> None:
    """One timer serves every handler: a deadline earlier than one already running still ends first."""
    client = await deadline_server(bus_factory)
    patient = asyncio.create_task(ask_slow(client, EVENTUALLY * 6, timeout=EVENTUALLY * 9))
    async with asyncio.timeout(EVENTUALLY):  # far below the patient handler's own deadline
        for seconds in (0.3, 0.2, 0.4):
            raw = await ask_slow(client, seconds)
            assert isinstance(error_from_reply(raw.data, raw.headers), DeadlineExceeded)
    assert not patient.done()
    patient.cancel()
    await asyncio.gather(patient, return_exceptions=True)


async def test_a_margin_answers_the_caller_before_its_own_timer_ends_the_request(bus_factory: BusFactory) -> None:
    """Without a margin the layer's answer races the requester's timer (both at the deadline)."""
    client = await deadline_server(bus_factory, margin_s=0.25)
    with pytest.raises(DeadlineExceeded) as caught:
        await client.request(schemas.STORAGE_GET, GetRequest(id="slow"), timeout=1.0)
    assert "deadline passed during alchemy.v1.storage.get" in caught.value.message


async def test_the_handler_reads_its_bound_and_the_margin_never_takes_more_than_a_tenth(
    bus_factory: BusFactory,
) -> None:
    remaining: list[float] = []

    async def budget(request: GetRequest, _context: RequestContext) -> GetReply:
        bound = handler_deadline()
        assert bound is not None
        assert not bound.expired()
        remaining.append(bound.remaining())
        return GetReply(record=record(request.id))

    server = await bus_factory()
    server.use(Deadline(margin_s=1.0))
    runner = ServiceRunner(server, name="storage", version="1.0.0")
    runner.add_endpoint(schemas.STORAGE_GET, budget)
    await runner.start()
    client = await bus_factory()
    await client.request(schemas.STORAGE_GET, GetRequest(id="p1"), timeout=30.0)
    await client.request(schemas.STORAGE_GET, GetRequest(id="p2"), timeout=2.0)
    generous, tight = remaining
    assert 28.0 < generous < 29.001  # the whole margin
    assert 1.0 < tight < 1.801  # a tenth of the two seconds, not the whole second
    assert handler_deadline() is None  # outside a handler: nothing bounds the caller


async def test_a_failing_layer_is_an_internal_error_reply_not_a_silent_drop(bus_factory: BusFactory) -> None:
    class Broken(Middleware):
        async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
            raise RuntimeError("a bug in a layer")

    server = await bus_factory()
    server.use(Broken())
    await serve(server)
    client = await bus_factory()
    with pytest.raises(ServiceError) as caught:
        await client.request(schemas.STORAGE_GET, GetRequest(id="p1"))
    assert caught.value.code == 500
    assert "RuntimeError" in caught.value.message


async def test_an_unreachable_service_is_named_from_the_contract(bus: Bus) -> None:
    with pytest.raises(NoResponders) as caught:
        await bus.request(schemas.LEARNING_WEIGHTS, {})
    assert caught.value.service == "learning"
    failure = as_service_error(caught.value)
    assert failure.message.startswith("the learning service is not running")
    assert failure.details["service"] == "learning"
