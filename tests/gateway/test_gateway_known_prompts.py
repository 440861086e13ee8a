"""The gateway's memory of which prompts exist, on a real bus and storage worker: what it remembers,
for how long, what it never remembers, and that a deletion through the door is seen at once."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.errors import NotFound
from prompt_alchemy.gateway.known_prompts import LOOKUP_TASK, KnownPrompts
from prompt_alchemy.schemas.storage import DeleteRequest, GetReply, GetRequest, StoreRequest
from prompt_alchemy.testing.waiting import eventually
from prompt_alchemy.workers.storage import StorageWorker

T = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def stored(bus: Bus, content: str) -> str:
    return (await bus.request(schemas.STORAGE_STORE, StoreRequest(content=content), timeout=T)).id


def gets(storage: StorageWorker) -> int:
    """How many ``storage.get`` requests the worker has answered."""
    return next(endpoint.num_requests for endpoint in storage.service.stats().endpoints if endpoint.name == "get")


async def test_a_confirmed_prompt_is_remembered_for_max_age_only(
    gateway_bus: Bus, storage_service: StorageWorker
) -> None:
    clock = Clock()
    known = KnownPrompts(gateway_bus, max_age=5.0, clock=clock)
    prompt_id = await stored(gateway_bus, "Summarise the meeting notes")
    await known.check(prompt_id, "prompt_id")
    await known.check(prompt_id, "prompt_id")
    assert gets(storage_service) == 1
    # deleted behind the door's back (another gateway replica): accepted until max_age, no longer
    await gateway_bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=prompt_id), timeout=T)
    clock.now += 4.9
    await known.check(prompt_id, "prompt_id")
    clock.now += 0.2
    with pytest.raises(NotFound, match="prompt_id"):
        await known.check(prompt_id, "prompt_id")


async def test_an_unknown_id_is_asked_every_time(gateway_bus: Bus, storage_service: StorageWorker) -> None:
    known = KnownPrompts(gateway_bus)
    for _ in range(2):
        with pytest.raises(NotFound) as raised:
            await known.check("no-such-prompt", "chosen_over")
        assert raised.value.details == {"field": "chosen_over", "id": "no-such-prompt"}
    assert gets(storage_service) == 2


async def test_overlapping_lookups_of_one_id_share_one_request(
    gateway_bus: Bus, storage_service: StorageWorker
) -> None:
    known = KnownPrompts(gateway_bus, max_age=0)
    prompt_id = await stored(gateway_bus, "Plan a workout routine")
    await asyncio.gather(*(known.check(prompt_id, "prompt_id") for _ in range(10)))
    assert gets(storage_service) == 1
    await known.check(prompt_id, "prompt_id")  # max_age 0: nothing remembered once answered
    assert gets(storage_service) == 2


async def test_forget_drops_the_prompt_and_a_lookup_under_way(gateway_bus: Bus, storage_service: StorageWorker) -> None:
    known = KnownPrompts(gateway_bus)
    prompt_id = await stored(gateway_bus, "Write a haiku about tea")
    await known.check(prompt_id, "prompt_id")
    await gateway_bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=prompt_id), timeout=T)
    known.forget(prompt_id)
    with pytest.raises(NotFound):
        await known.check(prompt_id, "prompt_id")

    other = await stored(gateway_bus, "Write a limerick about coffee")
    under_way = asyncio.ensure_future(known.check(other, "prompt_id"))
    await asyncio.sleep(0)  # the lookup has started, its answer not arrived
    known.forget(other)
    await under_way  # it answers its callers...
    await known.check(other, "prompt_id")
    assert gets(storage_service) == 4  # ...but is not remembered: the next check asked again


async def test_an_outage_accepts_without_remembering(gateway_bus: Bus, storage_service: StorageWorker) -> None:
    known = KnownPrompts(gateway_bus)
    await storage_service.stop()
    await known.check("any-prompt", "prompt_id")  # storage cannot tell: accepted
    await storage_service.start()
    with pytest.raises(NotFound):
        await known.check("any-prompt", "prompt_id")


@pytest.mark.usefixtures("storage_service")
async def test_feedback_on_a_prompt_deleted_through_the_gateway_is_a_404_at_once(
    http: aiohttp.ClientSession, gateway_bus: Bus
) -> None:
    prompt_id = await stored(gateway_bus, "Explain recursion to a child")
    url = f"/api/v1/prompts/{prompt_id}/feedback"
    async with http.post(url, json={"rating": 5}) as response:
        assert response.status == 202
    async with http.delete(f"/api/v1/prompts/{prompt_id}") as response:
        assert response.status == 200
    async with http.post(url, json={"rating": 5}) as response:
        assert response.status == 404
        assert (await response.json())["details"] == {"field": "prompt_id", "id": prompt_id}


async def test_close_ends_the_lookups_under_way(gateway_bus: Bus) -> None:
    release = asyncio.Event()

    async def slow_get(_request: GetRequest, _context: RequestContext) -> GetReply:
        await release.wait()
        raise AssertionError("answered after the door closed")

    subscription = await gateway_bus.serve(schemas.STORAGE_GET, slow_get)
    known = KnownPrompts(gateway_bus)
    try:
        waiting = asyncio.ensure_future(known.check("slow-prompt", "prompt_id"))
        lookups = await eventually(lambda: [task for task in asyncio.all_tasks() if task.get_name() == LOOKUP_TASK])
        await known.close()
        assert all(task.done() for task in lookups)
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        release.set()
        await subscription.unsubscribe()
