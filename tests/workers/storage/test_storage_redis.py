"""Distributed backend specifics: replicas share one state; Redis down is Unavailable, then recovers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from redis.asyncio.connection import Connection

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.schemas.storage import AggregatesRequest, GetRequest, ReembedRequest, SearchRequest, StoreRequest
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.storage.embedders import Embedder, WordLlamaEmbedder
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore


@pytest.fixture
async def replicas(
    redis_server: RedisServer, hashing_embedder: Embedder
) -> AsyncIterator[tuple[PromptMemory, PromptMemory]]:
    """Two storage replicas (own clients, own memories) on one Redis prefix."""
    prefix = f"test-{uuid.uuid4().hex[:12]}-replicas"
    first, second = (
        PromptMemory(RedisPromptStore(redis_server.url, prefix=prefix), WordLlamaEmbedder(),
                     extra_embedders=[hashing_embedder])
        for _ in range(2)
    )  # fmt: skip
    await first.start()
    await second.start()
    yield first, second
    assert isinstance(first.store, RedisPromptStore)
    await first.store.drop()
    await first.close()
    await second.close()


async def test_replicas_share_prompts_dedupe_counters_and_model(replicas: tuple[PromptMemory, PromptMemory]) -> None:
    first, second = replicas
    stored = await first.store_prompt(StoreRequest(content="Shared prompt about rivers"))
    assert (await second.get(GetRequest(id=stored.id))).record == stored.record
    assert (await second.search(SearchRequest(query="rivers"))).hits[0].record.id == stored.id

    racing = await asyncio.gather(
        *(replica.store_prompt(StoreRequest(content="raced content")) for replica in (first, second) * 5)
    )
    assert len({reply.id for reply in racing}) == 1
    assert sum(reply.created for reply in racing) == 1

    await asyncio.gather(
        *(
            replica.set_aggregates(AggregatesRequest(id=stored.id, increment_usage=1))
            for replica in (first, second) * 10
        )
    )
    assert (await first.get(GetRequest(id=stored.id))).record.usage_count == 20

    # one replica moves the store to a 16-dim model: the other follows (index rebuilt for the new dimension)
    await first.reembed(ReembedRequest(model="test-hashing-16"))
    reply = await second.search(SearchRequest(query="rivers"))
    assert reply.embedding_model == "test-hashing-16"
    assert reply.hits[0].record.id == stored.id
    stats = await second.stats()
    assert stats.prompts == 2
    assert stats.embedding_models == {"test-hashing-16": 2}


async def test_a_lost_index_is_rebuilt(replicas: tuple[PromptMemory, PromptMemory]) -> None:
    first, _ = replicas
    stored = await first.store_prompt(StoreRequest(content="Index me again"))
    store = first.store
    assert isinstance(store, RedisPromptStore)
    await store.client.execute_command("FT.DROPINDEX", store.keys.index_name)  # type: ignore[no-untyped-call]
    assert (await first.search(SearchRequest(query="index me"))).hits[0].record.id == stored.id


async def test_redis_down_is_unavailable_in_time_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="prompt_alchemy.workers.storage")
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    store = RedisPromptStore(server.url, prefix="resilience", socket_timeout=1.0, operation_timeout=3.0)
    memory = PromptMemory(store, WordLlamaEmbedder())
    try:
        stored = await memory.store_prompt(StoreRequest(content="survives a Redis restart"))
        server.stop()
        started = time.monotonic()
        for attempt in (
            memory.get(GetRequest(id=stored.id)),
            memory.search(SearchRequest(query="restart")),
            memory.store_prompt(StoreRequest(content="while down")),
        ):
            with pytest.raises(Unavailable) as caught:
                await attempt
            assert caught.value.retriable
        assert time.monotonic() - started < 3 * 3.0  # each call bounded by operation_timeout, never a hang
        assert not (await memory.health())["redis"].ok

        server.start()  # same port, same append-only file
        assert (await memory.get(GetRequest(id=stored.id))).record.content == "survives a Redis restart"
        assert (await memory.search(SearchRequest(query="redis restart"))).hits[0].record.id == stored.id
        assert (await memory.store_prompt(StoreRequest(content="after the restart"))).created
        assert (await memory.health())["redis"].ok
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert sum("is unreachable" in line for line in warnings) == 1  # once while down, not per call
        assert sum("is reachable again" in line for line in warnings) == 1
    finally:
        await memory.close()
        server.stop(remove_data=True)


class CountingConnection(Connection):
    """A redis-py connection that counts its writes: one per command or pipeline, i.e. one round trip."""

    writes = 0

    async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def counted(redis_server: RedisServer, hashing_embedder: Embedder) -> AsyncIterator[PromptMemory]:
    """A Redis-backed memory whose client counts its round trips (``CountingConnection.writes``)."""
    store = RedisPromptStore(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:12]}-counted")
    store.client.connection_pool.connection_class = CountingConnection  # before its first connection
    memory = PromptMemory(store, hashing_embedder)
    await memory.start()
    await memory.store_prompt(StoreRequest(content="the first store loads the store script"))
    yield memory
    await store.drop()
    await memory.close()


async def test_storing_a_prompt_takes_two_round_trips(counted: PromptMemory) -> None:
    """The dedupe lookup and the active model in one pipeline, then one script that checks the
    model, claims the content and writes the prompt (it took seven: 20-odd per generation)."""
    before = CountingConnection.writes
    first = await counted.store_prompt(StoreRequest(content="A prompt about rivers"))
    assert first.created
    assert CountingConnection.writes - before == 2
    before = CountingConnection.writes
    again = await counted.store_prompt(StoreRequest(content="A prompt about rivers"))
    assert (again.created, again.id) == (False, first.id)
    assert CountingConnection.writes - before == 2  # the lookup, then the existing record


async def test_searching_by_query_text_takes_three_round_trips(counted: PromptMemory) -> None:
    """The active model with the embedding cache, then the model again with the KNN, then the page's
    records (it took five: the model was read twice on its own); a text not cached yet adds its write."""
    stored = await counted.store_prompt(StoreRequest(content="A prompt about rivers"))
    before = CountingConnection.writes
    first = await counted.search(SearchRequest(query="rivers", limit=6))
    assert first.hits[0].record.id == stored.id
    assert CountingConnection.writes - before == 4
    before = CountingConnection.writes
    again = await counted.search(SearchRequest(query="rivers", limit=6))
    assert again == first
    assert CountingConnection.writes - before == 3
