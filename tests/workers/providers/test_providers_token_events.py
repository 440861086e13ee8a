"""TOKEN events on the bus (both buses): what the providers worker publishes while a vendor streams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, TokenStream
from prompt_alchemy.testing.vendors import FakeClock, FakeResponse, FakeVendorServer, Route
from prompt_alchemy.workers.providers import ProviderRegistry, build_providers_service
from prompt_alchemy.workers.providers.token_events import TokenPublisher

BusFactory = Callable[[], Awaitable[Bus]]
TARGET = TokenStream(request_id="req-tokens", phase=Phase.SOLUTIO, chain=2)


class Listener:
    """Collects the events of one request's subject; ``wait_for`` waits for a count (no sleeps)."""

    def __init__(self) -> None:
        self.events: list[GenerationProgress] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: GenerationProgress, _context: RequestContext) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[GenerationProgress]:
        await self.wait_until(lambda: len(self.events) >= count)
        return self.events

    async def wait_until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(done)

    @property
    def text(self) -> str:
        return "".join(event.delta or "" for event in self.events)


async def listen(bus: Bus, request_id: str) -> Listener:
    listener = Listener()
    await bus.subscribe(schemas.EVENTS_GENERATION, listener, subject=schemas.generation_events_subject(request_id))
    await bus.transport.flush()  # the subscription is in place on the server before anything is sent
    return listener


async def test_deltas_within_the_interval_are_coalesced_and_close_sends_the_rest(bus: Bus) -> None:
    listener = await listen(bus, TARGET.request_id)
    clock = FakeClock()
    publisher = TokenPublisher(bus, TARGET, interval_s=10.0, max_chars=1000, clock=clock)
    await publisher.send("first")  # nothing sent yet: leaves at once
    await publisher.send(" second")
    await publisher.send(" third")
    assert publisher.events == 1
    await publisher.close()
    events = await listener.wait_for(2)
    assert [(e.kind, e.seq, e.phase, e.chain, e.delta) for e in events] == [
        (ProgressKind.TOKEN, 0, Phase.SOLUTIO, 2, "first"),
        (ProgressKind.TOKEN, 1, Phase.SOLUTIO, 2, " second third"),
    ]


async def test_a_delta_after_the_interval_leaves_at_once_and_max_chars_bounds_a_batch(bus: Bus) -> None:
    listener = await listen(bus, TARGET.request_id)
    clock = FakeClock()
    publisher = TokenPublisher(bus, TARGET, interval_s=1.0, max_chars=8, clock=clock)
    await publisher.send("a")
    clock.advance(1.5)
    await publisher.send("b")  # the interval is over: no waiting
    await publisher.send("cdefghij")  # 8 pending characters: sent without waiting for the interval
    assert publisher.events == 3
    await publisher.close()
    assert [event.delta for event in await listener.wait_for(3)] == ["a", "b", "cdefghij"]


async def test_the_timer_sends_a_held_delta_without_close(bus: Bus) -> None:
    listener = await listen(bus, TARGET.request_id)
    publisher = TokenPublisher(bus, TARGET, interval_s=0.01)
    await publisher.send("now")
    await publisher.send(" later")
    events = await listener.wait_for(2)  # the second leaves when the interval is over, on its own
    assert [event.delta for event in events] == ["now", " later"]
    await publisher.close()
    assert publisher.events == 2


async def test_nobody_listening_does_not_hold_up_the_publisher(bus: Bus) -> None:
    publisher = TokenPublisher(bus, TARGET, interval_s=0.0)
    for index in range(200):
        await publisher.send(f"t{index} ")
    await publisher.close()
    assert publisher.events == 200


async def test_providers_worker_publishes_the_streamed_text_before_it_replies(bus_factory: BusFactory) -> None:
    worker_bus, caller_bus = await bus_factory(), await bus_factory()
    listener = await listen(caller_bus, TARGET.request_id)
    text = "Name the audience, the goal and the format of the answer before anything else"
    async with FakeVendorServer() as vendor:
        vendor.script(Route.ANTHROPIC_MESSAGES, FakeResponse.ok(text).streamed(0.002))
        registry = ProviderRegistry.from_env({**vendor.env(), "ANTHROPIC_API_KEY": "k"})
        service = build_providers_service(worker_bus, registry)
        await service.start()
        try:
            request = CompletionRequest(
                provider="anthropic",
                messages=[ChatMessage(role="user", content="an idea")],
                use_cache=False,
                stream=TARGET,
            )
            reply = await caller_bus.request(schemas.PROVIDERS_COMPLETE, request, timeout=30)
        finally:
            await service.stop()
            await registry.aclose()
    assert reply.content == text
    await listener.wait_until(lambda: listener.text == text)  # published before the reply; delivery may trail
    assert [event.seq for event in listener.events] == list(range(len(listener.events)))
    assert {(event.kind, event.phase, event.chain) for event in listener.events} == {
        (ProgressKind.TOKEN, Phase.SOLUTIO, 2)
    }
