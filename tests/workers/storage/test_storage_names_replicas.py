"""Two storage replicas on one Redis moving the same label at once: the compare-and-set keeps
the name and its audit trail consistent (no lost move, no gap in the chain of moves)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.schemas.labels import LabelHistoryRequest, LabelSetRequest, NameGetRequest, NameSetRequest
from prompt_alchemy.schemas.storage import StoreRequest
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.storage.embedders import WordLlamaEmbedder
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore
from prompt_alchemy.workers.storage.service import build_storage_service

T = 30.0


@pytest.fixture
async def replicas(bus: Bus, redis_server: RedisServer) -> AsyncIterator[list[ServiceRunner]]:
    prefix = f"test-{uuid.uuid4().hex[:12]}-replicas"
    stores = [RedisPromptStore(redis_server.url, prefix=prefix) for _ in range(2)]
    runners = [build_storage_service(bus, store, WordLlamaEmbedder()) for store in stores]
    for runner in runners:
        await runner.start()
    yield runners
    for runner in runners:
        await runner.stop()
    await stores[0].drop()
    for store in stores:
        await store.close()


async def test_concurrent_moves_on_two_replicas_lose_nothing(bus: Bus, replicas: list[ServiceRunner]) -> None:
    ids = [
        (await bus.request(schemas.STORAGE_STORE, StoreRequest(content=f"Route a ticket, rule {index}"), timeout=T)).id
        for index in range(3)
    ]
    for prompt_id in ids:
        await bus.request(schemas.STORAGE_NAME_SET, NameSetRequest(name="router", prompt_id=prompt_id), timeout=T)
    replies = await asyncio.gather(
        *(
            bus.request(
                schemas.STORAGE_LABEL_SET,
                LabelSetRequest(name="router", label="prod", version=1 + index % 3, actor=f"key:{index}"),
                timeout=T,
            )
            for index in range(30)
        )
    )
    per_replica = [
        sum(endpoint.served.num_requests for endpoint in runner.service.endpoints if endpoint.name == "label_set")
        for runner in replicas
    ]
    assert sum(per_replica) == 30
    assert min(per_replica) > 0  # the queue group spread the moves over both replicas
    moves = [reply.move for reply in replies if reply.move is not None]
    history = await bus.request(schemas.STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="router", limit=100), timeout=T)
    assert sorted(move.revision for move in history.moves) == sorted(move.revision for move in moves)
    chain = list(reversed(history.moves))
    for earlier, later in itertools.pairwise(chain):
        assert later.from_variants == earlier.to_variants
    final = await bus.request(schemas.STORAGE_NAME_GET, NameGetRequest(name="router"), timeout=T)
    assert final.labels["prod"].variants == chain[-1].to_variants
    assert final.revision == 3 + len(moves)  # three namings, then one revision per move
