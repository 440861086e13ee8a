"""The storage worker served on the bus: both buses (in-memory, NATS) x both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pydantic
import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.errors import BadRequest, NotFound
from prompt_alchemy.schemas.health import HealthRequest
from prompt_alchemy.schemas.storage import (
    AggregatesRequest,
    DeleteRequest,
    EmbeddingsRequest,
    ExportRequest,
    GetRequest,
    ImportRequest,
    Lineage,
    LineageRequest,
    SearchRequest,
    StorageStatsRequest,
    StoreRequest,
    UpdateRequest,
)
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import WORDLLAMA_MODEL, WordLlamaEmbedder
from prompt_alchemy.workers.storage.service import build_storage_service

TASKS = [
    "Write a haiku",
    "Draft a legal contract",
    "Create a SQL query",
    "Plan a workout routine",
    "Compose a birthday song",
    "Design a logo brief",
    "Summarise a research paper",
    "Write unit tests",
    "Translate a restaurant menu",
    "Prepare interview questions",
]
SUBJECTS = [
    "volcanoes",
    "coffee shops",
    "space travel",
    "dolphins",
    "medieval castles",
    "electric cars",
    "chess openings",
    "rainforests",
    "jazz music",
    "ancient Egypt",
]


@pytest.fixture
async def storage_service(bus: Bus, store_factory: Callable[[str], PromptStore]) -> AsyncIterator[ServiceRunner]:
    store = store_factory("served")
    runner = build_storage_service(bus, store, WordLlamaEmbedder())
    await runner.start()
    yield runner
    await runner.stop()
    await store.close()


async def test_hundred_prompts_then_the_nearest_comes_first(bus: Bus, storage_service: ServiceRunner) -> None:
    contents = [f"{task} about {subject}" for task in TASKS for subject in SUBJECTS]
    replies = await asyncio.gather(
        *(bus.request(schemas.STORAGE_STORE, StoreRequest(content=content), timeout=30) for content in contents)
    )
    ids = {content: reply.id for content, reply in zip(contents, replies, strict=True)}
    assert all(reply.created for reply in replies)
    stats = await bus.request(schemas.STORAGE_STATS, StorageStatsRequest(), timeout=10)
    assert stats.prompts == 100
    for query, expected in (
        ("a haiku poem on volcanoes", "Write a haiku about volcanoes"),
        ("SQL query for chess openings", "Create a SQL query about chess openings"),
        ("legal contract for electric cars", "Draft a legal contract about electric cars"),
        ("song for a birthday about dolphins", "Compose a birthday song about dolphins"),
    ):
        reply = await bus.request(schemas.STORAGE_SEARCH, SearchRequest(query=query, limit=5), timeout=10)
        assert reply.hits[0].record.id == ids[expected], query
        assert reply.embedding_model == WORDLLAMA_MODEL
        similarities = [hit.similarity or 0.0 for hit in reply.hits]
        assert similarities == sorted(similarities, reverse=True)


async def test_every_subject_answers_on_the_bus(bus: Bus, storage_service: ServiceRunner) -> None:
    root = await bus.request(schemas.STORAGE_STORE, StoreRequest(content="root idea"), timeout=10)
    child = await bus.request(
        schemas.STORAGE_STORE, StoreRequest(content="child idea", lineage=Lineage(parent_id=root.id)), timeout=10
    )
    duplicate = await bus.request(schemas.STORAGE_STORE, StoreRequest(content="root idea"), timeout=10)
    assert (duplicate.id, duplicate.created) == (root.id, False)
    await bus.request(schemas.STORAGE_UPDATE, UpdateRequest(id=root.id, content="root idea, refined"), timeout=10)
    got = await bus.request(schemas.STORAGE_GET, GetRequest(id=root.id, include_history=True), timeout=10)
    assert [version.content for version in got.history] == ["root idea"]
    tree = await bus.request(schemas.STORAGE_LINEAGE, LineageRequest(id=child.id), timeout=10)
    assert [record.id for record in tree.ancestors] == [root.id]
    embedded = await bus.request(schemas.STORAGE_EMBEDDINGS, EmbeddingsRequest(texts=["a", "b"]), timeout=10)
    assert (embedded.dimension, len(embedded.vectors)) == (256, 2)
    exported = await bus.request(schemas.STORAGE_EXPORT, ExportRequest(), timeout=10)
    assert len(exported.lines) == 2
    await bus.request(schemas.STORAGE_DELETE, DeleteRequest(id=child.id), timeout=10)
    imported = await bus.request(schemas.STORAGE_IMPORT, ImportRequest(lines=exported.lines), timeout=10)
    assert (imported.imported, imported.duplicates) == (1, 1)
    health = await bus.request(schemas.STORAGE_HEALTH, HealthRequest(), timeout=10)
    assert health.status == "ok"
    assert health.service == "storage"


async def test_errors_reach_the_caller_as_their_own_class(bus: Bus, storage_service: ServiceRunner) -> None:
    with pytest.raises(NotFound):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="missing"), timeout=10)
    with pytest.raises(BadRequest) as caught:
        await bus.request(
            schemas.STORAGE_SEARCH, SearchRequest(vector=[0.5, 0.5], embedding_model=WORDLLAMA_MODEL), timeout=10
        )
    assert caught.value.details["field"] == "vector"
    with pytest.raises(BadRequest):  # the schema itself rejects NaN before the worker sees it
        await bus.request(
            schemas.STORAGE_SEARCH,
            {"vector": [float("nan"), 1.0], "embedding_model": WORDLLAMA_MODEL},
            timeout=10,
        )
    with pytest.raises(BadRequest) as caught:
        await bus.request(schemas.STORAGE_SEARCH, SearchRequest(cursor="garbage"), timeout=10)
    assert caught.value.details["field"] == "cursor"
    with pytest.raises(BadRequest) as caught:  # filters of the wrong type name the field
        await bus.request(schemas.STORAGE_SEARCH, {"query": "x", "filters": {"created_since": "yesterday"}}, timeout=10)
    assert "filters.created_since" in str(caught.value.details)


async def test_storage_update_refuses_the_aggregates_only_learning_writes(
    bus: Bus, storage_service: ServiceRunner
) -> None:
    """The aggregates are kept from every caller of storage.update, not only from PATCH: learning
    writes them on storage.aggregates, a subject a NATS deployment can grant to learning alone."""
    stored = await bus.request(schemas.STORAGE_STORE, StoreRequest(content="a rated prompt"), timeout=10)
    forged = json.dumps({"id": stored.id, "usage_count": 2**63, "rating_count": 9}).encode()
    with pytest.raises(BadRequest) as caught:  # the storage worker itself refuses it
        await bus.request_raw(schemas.STORAGE_UPDATE, forged, timeout=10)
    assert "usage_count" in caught.value.message
    written = await bus.request(
        schemas.STORAGE_AGGREGATES, AggregatesRequest(id=stored.id, usage_count=4, rating_count=2), timeout=10
    )
    assert (written.record.usage_count, written.record.rating_count) == (4, 2)
    with pytest.raises(pydantic.ValidationError, match="usage_count"):
        AggregatesRequest(id=stored.id, usage_count=2**63)
