"""The bus contract: every test runs on InMemoryBus and on NatsBus (real nats-server)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import time
from collections.abc import Awaitable, Callable

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus.codec import ERROR_CODE_HEADER, ERROR_HEADER
from prompt_alchemy.bus.context import DEADLINE_HEADER, TRACEPARENT_HEADER
from prompt_alchemy.bus.transport import RawMessage
from prompt_alchemy.errors import (
    BadRequest,
    BusClosed,
    DeadlineExceeded,
    InternalError,
    NoResponders,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    UnknownSubject,
)
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.storage import GetReply, GetRequest, PromptRecord

BusFactory = Callable[[], Awaitable[Bus]]

# Liveness bound for awaiting something that must happen; never a statement about speed.
EVENTUALLY = 10.0


def record(prompt_id: str, content: str = "a prompt") -> PromptRecord:
    return PromptRecord(id=prompt_id, content=content, content_hash=hashlib.sha256(content.encode()).hexdigest())


async def echo_get(request: GetRequest, _ctx: RequestContext) -> GetReply:
    return GetReply(record=record(request.id))


async def serve_get(bus: Bus, handler=echo_get, concurrency: int = 16) -> ServiceRunner:  # type: ignore[no-untyped-def]
    runner = ServiceRunner(bus, name="storage", version="1.2.3", description="test storage")
    runner.add_endpoint(schemas.STORAGE_GET, handler, concurrency=concurrency)
    await runner.start()
    return runner


# -- request/reply -------------------------------------------------------------------------
async def test_request_returns_the_typed_reply(bus: Bus) -> None:
    await serve_get(bus)
    reply = await bus.request(schemas.STORAGE_GET, GetRequest(id="p1"))
    assert isinstance(reply, GetReply)
    assert reply.record.id == "p1"


async def test_request_accepts_a_mapping_and_validates_it(bus: Bus) -> None:
    await serve_get(bus)
    reply = await bus.request(schemas.STORAGE_GET, {"id": "p2"})
    assert reply.record.id == "p2"


async def test_no_responders_is_immediate_and_distinct(bus: Bus) -> None:
    async with asyncio.timeout(EVENTUALLY):  # a 60 s request timeout would blow this bound
        with pytest.raises(NoResponders):
            await bus.request(schemas.STORAGE_GET, GetRequest(id="x"), timeout=60)


async def test_slow_responder_is_a_timeout_not_no_responders(bus: Bus) -> None:
    release = asyncio.Event()

    async def stuck(request: GetRequest, _ctx: RequestContext) -> GetReply:
        await release.wait()
        return GetReply(record=record(request.id))

    await serve_get(bus, stuck)
    with pytest.raises(RequestTimeout):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="x"), timeout=0.2)
    release.set()


async def test_each_request_times_out_at_its_own_timeout_whatever_else_is_waiting(bus: Bus) -> None:
    """One timer serves every pending reply: a shorter timeout after a longer one still ends first."""
    release = asyncio.Event()

    async def stuck(request: GetRequest, _ctx: RequestContext) -> GetReply:
        await release.wait()
        return GetReply(record=record(request.id))

    await serve_get(bus, stuck)
    patient = asyncio.create_task(bus.request(schemas.STORAGE_GET, GetRequest(id="patient"), timeout=EVENTUALLY * 6))
    async with asyncio.timeout(EVENTUALLY):  # far below the patient request's own timeout
        for request_id, timeout in (("short", 0.1), ("shorter", 0.05), ("longer", 0.2)):
            with pytest.raises(RequestTimeout):
                await bus.request(schemas.STORAGE_GET, GetRequest(id=request_id), timeout=timeout)
    assert not patient.done()
    release.set()
    assert (await patient).record.id == "patient"


async def test_service_error_travels_typed_with_adr32_headers(bus: Bus) -> None:
    async def missing(request: GetRequest, _ctx: RequestContext) -> GetReply:
        raise NotFound(f"no prompt with id {request.id!r}", details={"id": request.id})

    await serve_get(bus, missing)
    with pytest.raises(NotFound) as caught:
        await bus.request(schemas.STORAGE_GET, GetRequest(id="nope"))
    assert caught.value.code == 404
    assert caught.value.details == {"id": "nope"}
    assert "nope" in caught.value.message

    raw = await bus.transport.request(schemas.STORAGE_GET.subject, b'{"id": "nope"}', headers={}, timeout=EVENTUALLY)
    assert raw.headers[ERROR_CODE_HEADER] == "404"
    assert "nope" in raw.headers[ERROR_HEADER]
    body = json.loads(raw.data)
    assert body["kind"] == "not_found"
    assert body["code"] == 404
    assert body["retriable"] is False


async def test_handler_crash_is_an_internal_error_and_the_worker_lives_on(bus: Bus) -> None:
    calls = 0

    async def flaky(request: GetRequest, _ctx: RequestContext) -> GetReply:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom with a secret-ish detail")
        return GetReply(record=record(request.id))

    await serve_get(bus, flaky)
    with pytest.raises(InternalError) as caught:
        await bus.request(schemas.STORAGE_GET, GetRequest(id="a"))
    assert caught.value.code == 500
    assert "RuntimeError" in caught.value.message
    assert "secret-ish" not in caught.value.message  # no exception text leaks to callers
    assert (await bus.request(schemas.STORAGE_GET, GetRequest(id="b"))).record.id == "b"


async def test_handler_returning_the_wrong_model_is_an_internal_error(bus: Bus) -> None:
    async def wrong(_request: GetRequest, _ctx: RequestContext) -> GetReply:
        return record("not-a-reply")  # type: ignore[return-value]

    await serve_get(bus, wrong)
    with pytest.raises(InternalError):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="a"))


async def test_nested_request_to_a_missing_service_is_unavailable(bus: Bus) -> None:
    async def needs_storage(request: GetRequest, _ctx: RequestContext) -> GetReply:
        await bus.request(schemas.STORAGE_STATS, {})
        return GetReply(record=record(request.id))

    await serve_get(bus, needs_storage)
    with pytest.raises(Unavailable) as caught:
        await bus.request(schemas.STORAGE_GET, GetRequest(id="a"))
    assert caught.value.retriable


# -- validation, identical on both buses ---------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        (b'{"id": ', "(body)", "malformed JSON"),
        (b'{"id": 5}', "id", "invalid GetRequest"),
        (b'{"id": "ok", "surprise": 1}', "surprise", "invalid GetRequest"),
        (b"{}", "id", "invalid GetRequest"),
        (b'{"id": "has space"}', "id", "invalid GetRequest"),
    ],
)
async def test_invalid_payload_is_a_bad_request_naming_the_field(
    bus: Bus, payload: bytes, field: str, fragment: str
) -> None:
    called = False

    async def handler(request: GetRequest, ctx: RequestContext) -> GetReply:
        nonlocal called
        called = True
        return await echo_get(request, ctx)

    await serve_get(bus, handler)
    with pytest.raises(BadRequest) as caught:
        await bus.request_raw(schemas.STORAGE_GET, payload)
    assert caught.value.code == 400
    assert fragment in caught.value.message
    assert field in [error["field"] for error in caught.value.details["errors"]]
    assert not called


async def test_client_side_validation_fails_before_sending(bus: Bus) -> None:
    # No responder at all: a BadRequest (not NoResponders) proves nothing was sent.
    with pytest.raises(BadRequest) as caught:
        await bus.request(schemas.STORAGE_GET, {"id": ""})
    assert caught.value.details["errors"][0]["field"] == "id"


async def test_unknown_subject_is_refused_by_name(bus: Bus) -> None:
    with pytest.raises(UnknownSubject) as caught:
        await bus.request_raw("alchemy.v1.storage.teleport", b"{}")
    assert "alchemy.v1.storage.teleport" in str(caught.value)


async def test_oversized_payload_is_refused_on_both_sides(bus_factory: BusFactory, bus_kind: str) -> None:
    server_bus = await bus_factory()
    small = Bus(server_bus.transport, max_payload=2048)
    await serve_get(small)
    big_id = "x" * 100
    # Caller side: a bus with a small limit refuses to send.
    with pytest.raises(PayloadTooLarge) as caught:
        await small.request_raw(schemas.STORAGE_GET, b" " * 4096)
    assert caught.value.code == 413
    # Server side: a caller with a larger limit sends; the server answers 413 without handling.
    padded = json.dumps({"id": big_id}).encode() + b" " * 4096
    with pytest.raises(PayloadTooLarge) as caught:
        await server_bus.request_raw(schemas.STORAGE_GET, padded)
    assert caught.value.details["limit"] == 2048


# -- context: trace and deadline -----------------------------------------------------------
async def test_trace_and_deadline_propagate_across_hops(bus: Bus) -> None:
    seen: dict[str, RequestContext] = {}

    async def storage_get(request: GetRequest, ctx: RequestContext) -> GetReply:
        seen["storage"] = ctx
        return GetReply(record=record(request.id))

    async def engine_caps(_request: object, ctx: RequestContext) -> object:
        seen["engine"] = ctx
        await bus.request(schemas.STORAGE_GET, GetRequest(id="inner"), timeout=300)
        from prompt_alchemy.schemas.engine import CapabilitiesReply

        return CapabilitiesReply(
            phases=[], legacy_phase_names={}, personas=[], target_families=[], phase_selections=[], providers=[],
            version="0",
        )  # fmt: skip

    storage = ServiceRunner(bus, name="storage", version="1.0.0")
    storage.add_endpoint(schemas.STORAGE_GET, storage_get)
    engine = ServiceRunner(bus, name="engine", version="1.0.0")
    engine.add_endpoint(schemas.ENGINE_CAPABILITIES, engine_caps)  # type: ignore[arg-type]
    await storage.start()
    await engine.start()

    trace = "0af7651916cd43dd8448eb211c80319c"
    before = time.time()
    await bus.request(
        schemas.ENGINE_CAPABILITIES, {}, timeout=20, headers={TRACEPARENT_HEADER: f"00-{trace}-b7ad6b7169203331-01"}
    )
    assert seen["engine"].trace_id == trace
    assert seen["storage"].trace_id == trace
    engine_deadline, storage_deadline = seen["engine"].deadline, seen["storage"].deadline
    assert engine_deadline is not None
    assert storage_deadline is not None
    assert before + 19 <= engine_deadline <= time.time() + 20
    # the inner call asked for 300 s but may not outlive its caller
    assert storage_deadline <= engine_deadline


async def test_expired_deadline_is_refused_before_the_handler_runs(bus: Bus) -> None:
    called = False

    async def handler(request: GetRequest, ctx: RequestContext) -> GetReply:
        nonlocal called
        called = True
        return await echo_get(request, ctx)

    await serve_get(bus, handler)
    past = str(int((time.time() - 5) * 1000))
    with pytest.raises(DeadlineExceeded):
        await bus.request_raw(schemas.STORAGE_GET, b'{"id": "a"}', headers={DEADLINE_HEADER: past})
    assert not called


# -- concurrency -----------------------------------------------------------------------------
@pytest.mark.parametrize(("limit", "expected_peak"), [(64, 50), (4, 4)])
async def test_endpoint_runs_handlers_concurrently_up_to_its_limit(bus: Bus, limit: int, expected_peak: int) -> None:
    active = peak = 0

    async def slow(request: GetRequest, _ctx: RequestContext) -> GetReply:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)  # the workload: a handler awaiting 100 ms of I/O
        active -= 1
        return GetReply(record=record(request.id))

    await serve_get(bus, slow, concurrency=limit)
    replies = await asyncio.gather(*(bus.request(schemas.STORAGE_GET, GetRequest(id=f"p{i}")) for i in range(50)))
    assert sorted(reply.record.id for reply in replies) == sorted(f"p{i}" for i in range(50))
    assert peak == expected_peak


# -- pub/sub: wildcards and queue groups ----------------------------------------------------
async def collect_until(counts: dict[str, int], total: int, done: asyncio.Event) -> None:
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert sum(counts.values()) >= total


async def test_wildcards_match_like_nats(bus: Bus) -> None:
    received: dict[str, list[str]] = {"star": [], "gt": [], "exact": []}
    expected_total = 2 + 3 + 1
    done = asyncio.Event()

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def handle(message: RawMessage) -> None:
            received[name].append(message.subject)
            if sum(len(v) for v in received.values()) == expected_total:
                done.set()

        return handle

    await bus.transport.subscribe("test.wild.*", recorder("star"))
    await bus.transport.subscribe("test.wild.>", recorder("gt"))
    await bus.transport.subscribe("test.wild.a", recorder("exact"))
    for subject in ("test.wild.a", "test.wild.b", "test.wild.a.deep", "test.other.a"):
        await bus.transport.publish(subject, b"x")
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert sorted(received["star"]) == ["test.wild.a", "test.wild.b"]
    assert sorted(received["gt"]) == ["test.wild.a", "test.wild.a.deep", "test.wild.b"]
    assert received["exact"] == ["test.wild.a"]


async def test_queue_group_members_share_and_groups_each_get_a_copy(bus_factory: BusFactory) -> None:
    buses = [await bus_factory() for _ in range(3)]
    counts = {"a1": 0, "a2": 0, "b1": 0, "plain": 0}
    messages = 40
    done = asyncio.Event()

    def counter(name: str):  # type: ignore[no-untyped-def]
        async def handle(_message: RawMessage) -> None:
            counts[name] += 1
            if sum(counts.values()) == 3 * messages:
                done.set()

        return handle

    await buses[0].transport.subscribe("test.queue", counter("a1"), queue="A")
    await buses[1].transport.subscribe("test.queue", counter("a2"), queue="A")
    await buses[2].transport.subscribe("test.queue", counter("b1"), queue="B")
    await buses[2].transport.subscribe("test.queue", counter("plain"))
    publisher = await bus_factory()
    if hasattr(publisher.transport, "client"):
        for subscriber in buses:
            await subscriber.transport.client.flush()  # type: ignore[attr-defined]
    for _ in range(messages):
        await publisher.transport.publish("test.queue", b"x")
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert counts["a1"] + counts["a2"] == messages
    assert counts["b1"] == messages
    assert counts["plain"] == messages


async def test_typed_events_on_a_pattern_contract(bus: Bus) -> None:
    got: list[GenerationProgress] = []
    done = asyncio.Event()

    async def on_progress(event: GenerationProgress, _ctx: RequestContext) -> None:
        got.append(event)
        if len(got) == 3:
            done.set()

    await bus.subscribe(schemas.EVENTS_GENERATION, on_progress, subject=schemas.generation_events_subject("r1"))
    for seq in range(3):
        await bus.publish(
            schemas.EVENTS_GENERATION,
            GenerationProgress(request_id="r1", seq=seq, kind=ProgressKind.PHASE_STARTED),
            subject=schemas.generation_events_subject("r1"),
        )
        # another request's events must not reach this subscriber
        await bus.publish(
            schemas.EVENTS_GENERATION,
            GenerationProgress(request_id="r2", seq=seq, kind=ProgressKind.PHASE_STARTED),
            subject=schemas.generation_events_subject("r2"),
        )
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert [event.seq for event in got] == [0, 1, 2]
    assert {event.request_id for event in got} == {"r1"}


async def test_invalid_event_is_dropped_and_the_subscriber_keeps_going(bus: Bus) -> None:
    got: list[int] = []
    done = asyncio.Event()

    async def on_progress(event: GenerationProgress, _ctx: RequestContext) -> None:
        got.append(event.seq)
        done.set()

    subject = schemas.generation_events_subject("r9")
    await bus.subscribe(schemas.EVENTS_GENERATION, on_progress, subject=subject)
    await bus.transport.publish(subject, b'{"request_id": "r9", "seq": "not a number"}')
    await bus.publish(
        schemas.EVENTS_GENERATION,
        GenerationProgress(request_id="r9", seq=7, kind=ProgressKind.COMPLETED),
        subject=subject,
    )
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()
    assert got == [7]


async def test_publishing_a_request_contract_or_durable_event_is_refused(bus: Bus) -> None:
    """The wrong kind of contract is a mypy error; an untyped caller gets a TypeError, as from httpx."""
    with pytest.raises(TypeError, match=r"expected an event contract.*got a request contract"):
        await bus.publish(schemas.STORAGE_GET, GetRequest(id="x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a durable_event contract"):
        await bus.publish(schemas.LEARNING_FEEDBACK, {"prompt_id": "p", "rating": 5})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a request contract"):
        await bus.subscribe(schemas.STORAGE_GET, _ignore)  # type: ignore[arg-type]


async def test_requesting_or_serving_an_event_contract_is_refused(bus: Bus) -> None:
    with pytest.raises(TypeError, match="expected a request contract, got an event contract"):
        await bus.request(schemas.EVENTS_LABEL_MOVED, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a durable_event contract"):
        await bus.request_encoded(schemas.LEARNING_FEEDBACK, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got an event contract"):
        await bus.serve(schemas.EVENTS_WEIGHTS_UPDATED, _ignore)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a request contract or a discovery subject, got bytes"):
        await bus.request_raw(b"alchemy.v1.storage.get", b"{}")  # type: ignore[arg-type]


async def _ignore(*_args: object) -> None:
    return None


# -- regressions that bit other in-memory brokers -------------------------------------------
async def test_subscribers_are_held_strongly(bus: Bus) -> None:
    done = asyncio.Event()

    async def install() -> None:
        async def handler(_message: RawMessage) -> None:
            done.set()

        await bus.transport.subscribe("test.strong", handler)

    await install()
    gc.collect()
    await bus.transport.publish("test.strong", b"x")
    async with asyncio.timeout(EVENTUALLY):
        await done.wait()


async def test_subscribe_after_a_service_started(bus: Bus) -> None:
    await serve_get(bus)
    late = ServiceRunner(bus, name="providers", version="0.1.0")

    async def list_providers(_request: object, _ctx: RequestContext) -> object:
        from prompt_alchemy.schemas.providers import ProvidersListReply

        return ProvidersListReply(providers=[], default="offline")

    late.add_endpoint(schemas.PROVIDERS_LIST, list_providers)  # type: ignore[arg-type]
    await late.start()
    assert (await bus.request(schemas.PROVIDERS_LIST, {})).default == "offline"
    assert (await bus.request(schemas.STORAGE_GET, {"id": "still"})).record.id == "still"


# -- graceful shutdown ------------------------------------------------------------------------
async def test_service_stop_finishes_in_flight_requests_then_stops_answering(bus_factory: BusFactory) -> None:
    server_bus, client_bus = await bus_factory(), await bus_factory()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: GetRequest, _ctx: RequestContext) -> GetReply:
        started.set()
        await release.wait()
        return GetReply(record=record(request.id))

    runner = await serve_get(server_bus, slow)
    in_flight = asyncio.create_task(client_bus.request(schemas.STORAGE_GET, GetRequest(id="inflight")))
    async with asyncio.timeout(EVENTUALLY):
        await started.wait()
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)  # let stop() begin: it must now wait for the handler
    assert not stopping.done()
    release.set()
    assert (await in_flight).record.id == "inflight"
    await stopping
    with pytest.raises(NoResponders):
        await client_bus.request(schemas.STORAGE_GET, GetRequest(id="after"))


async def test_bus_drain_finishes_in_flight_handlers_then_closes(bus_factory: BusFactory, bus_kind: str) -> None:
    server_bus = await bus_factory()
    client_bus = server_bus if bus_kind == "memory" else await bus_factory()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: GetRequest, _ctx: RequestContext) -> GetReply:
        started.set()
        await release.wait()
        return GetReply(record=record(request.id))

    await serve_get(server_bus, slow)
    in_flight = asyncio.create_task(client_bus.request(schemas.STORAGE_GET, GetRequest(id="inflight")))
    async with asyncio.timeout(EVENTUALLY):
        await started.wait()
    draining = asyncio.create_task(server_bus.drain())
    await asyncio.sleep(0)
    assert not draining.done()
    release.set()
    assert (await in_flight).record.id == "inflight"
    await draining
    assert server_bus.is_closed
    with pytest.raises((BusClosed, NoResponders)):
        await client_bus.request(schemas.STORAGE_GET, GetRequest(id="after"))


async def test_request_encoded_returns_the_responders_json_and_still_raises_errors(bus: Bus) -> None:
    async def handler(request: GetRequest, ctx: RequestContext) -> GetReply:
        if request.id == "nope":
            raise NotFound("no prompt with id 'nope'")
        return await echo_get(request, ctx)

    await serve_get(bus, handler)
    data = await bus.request_encoded(schemas.STORAGE_GET, GetRequest(id="p7"))
    assert GetReply.model_validate_json(data).record.id == "p7"
    with pytest.raises(NotFound):
        await bus.request_encoded(schemas.STORAGE_GET, GetRequest(id="nope"))
    with pytest.raises(BadRequest):
        await bus.request_encoded(schemas.STORAGE_GET, {"id": ""})
