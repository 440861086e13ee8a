"""The storage contract, run on BOTH backends (SQLite + numpy and Redis + redisvl).

Every test goes through ``PromptMemory`` (what the worker serves) over a fresh store; vectors
are either WordLlama's (semantic tests) or explicit ones (exact-order tests).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pydantic
import pytest

from prompt_alchemy.errors import BadRequest, Conflict, NotFound
from prompt_alchemy.schemas.storage import (
    AggregatesRequest,
    DeleteRequest,
    EmbeddingsRequest,
    ExportRequest,
    GetRequest,
    ImportRequest,
    Lineage,
    LineageRequest,
    ReembedRequest,
    SearchBatchRequest,
    SearchFilters,
    SearchReply,
    SearchRequest,
    StoreBatchItem,
    StoreBatchRequest,
    StoreRequest,
    UpdateRequest,
)
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.embedders import WORDLLAMA_MODEL, Embedder, FloatVector
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory

DIM = 256


def vector(*weights: tuple[int, float]) -> list[float]:
    """A 256-dim vector with the given (axis, weight) components."""
    values = np.zeros(DIM, dtype=np.float32)
    for axis, weight in weights:
        values[axis] = weight
    return [float(value) for value in values]


def request_with_vector(content: str, values: list[float], **fields: object) -> StoreRequest:
    return StoreRequest.model_validate(
        {"content": content, "embedding": values, "embedding_model": WORDLLAMA_MODEL, **fields}
    )


async def all_pages(memory: PromptMemory, request: SearchRequest) -> list[SearchReply]:
    pages = [await memory.search(request)]
    while pages[-1].next_cursor:
        pages.append(await memory.search(request.model_copy(update={"cursor": pages[-1].next_cursor})))
    return pages


# -- store / get / dedupe --------------------------------------------------------------------


async def test_store_keeps_everything_and_get_returns_it(memory: PromptMemory) -> None:
    lineage = Lineage(
        generation_request_id="req-1",
        phase="solutio",
        provider="openai",
        model="gpt-4o",
        persona="code",
        target_model="claude-sonnet-4",
        optimiser_step=2,
        temperature=0.4,
        input_tokens=120,
        output_tokens=340,
        cost_usd=0.0021,
        latency_ms=812.5,
    )
    reply = await memory.store_prompt(
        StoreRequest(content="Sort a list in Python", input="sorting", tags=["code", "py"], lineage=lineage)
    )
    assert reply.created
    got = await memory.get(GetRequest(id=reply.id))
    assert got.record == reply.record
    assert got.record.lineage == lineage
    assert got.record.tags == ["code", "py"]
    assert got.record.input == "sorting"
    assert got.record.embedding_model == WORDLLAMA_MODEL
    assert got.record.embedding_dim == DIM
    assert got.record.usage_count == 0
    assert got.record.mean_rating is None


async def test_duplicate_content_returns_the_existing_prompt(memory: PromptMemory) -> None:
    first = await memory.store_prompt(StoreRequest(content="Explain recursion", tags=["a"]))
    second = await memory.store_prompt(StoreRequest(content="Explain recursion", tags=["b"]))
    assert not second.created
    assert second.id == first.id
    assert second.record.tags == ["a"]
    assert (await memory.stats()).prompts == 1


async def test_concurrent_duplicates_store_one_prompt(memory: PromptMemory) -> None:
    replies = await asyncio.gather(*(memory.store_prompt(StoreRequest(content="same text")) for _ in range(12)))
    assert len({reply.id for reply in replies}) == 1
    assert sum(reply.created for reply in replies) == 1
    assert (await memory.stats()).prompts == 1


async def test_a_batch_stores_in_order_with_parents_from_the_batch(memory: PromptMemory) -> None:
    known = await memory.store_prompt(StoreRequest(content="Explain recursion", tags=["old"]))
    chains = ["Sort a list of integers in Python", "Compose a short poem about the ocean at night"]
    items = [
        StoreBatchItem(prompt=StoreRequest(content=text, lineage=Lineage(phase="prima-materia"))) for text in chains
    ]
    items += [
        StoreBatchItem(prompt=StoreRequest(content=f"{text}, step by step", lineage=Lineage(phase="solutio")), parent=i)
        for i, text in enumerate(chains)
    ]
    items.append(StoreBatchItem(prompt=StoreRequest(content="Explain recursion", tags=["new"]), parent=0))
    items.append(StoreBatchItem(prompt=StoreRequest(content="Sort a list of integers in Python")))  # a repeat
    reply = await memory.store_batch(StoreBatchRequest(items=items))
    results = reply.results
    assert [result.created for result in results] == [True, True, True, True, False, False]
    assert results[4].id == known.id
    assert results[4].record.tags == ["old"]  # stored before: kept as it was, as storage.store does
    assert results[5].id == results[0].id
    for child, parent in ((2, 0), (3, 1)):
        stored = (await memory.get(GetRequest(id=results[child].id))).record
        assert stored.lineage.parent_id == results[parent].id
        assert stored.lineage.phase == "solutio"
    assert (await memory.stats()).prompts == 5
    # every new prompt got its vector: semantic search finds each
    hits = (await memory.search(SearchRequest(query="poetry about the sea", limit=1))).hits
    assert hits[0].record.id == results[1].id


async def test_a_batch_checks_every_given_vector_before_storing_anything(memory: PromptMemory) -> None:
    items = [
        StoreBatchItem(prompt=request_with_vector("first", vector((0, 1.0)))),
        StoreBatchItem(prompt=request_with_vector("second", vector((1, 0.0)))),  # no direction
    ]
    with pytest.raises(BadRequest) as caught:
        await memory.store_batch(StoreBatchRequest(items=items))
    assert caught.value.details["field"] == "items[1].prompt.embedding"
    assert (await memory.stats()).prompts == 0


async def test_a_batch_into_a_fresh_store_adopts_the_model_of_its_vectors(memory: PromptMemory) -> None:
    items = [
        StoreBatchItem(prompt=request_with_vector("north", vector((0, 1.0)))),
        StoreBatchItem(prompt=request_with_vector("east", vector((1, 1.0)))),
        StoreBatchItem(prompt=request_with_vector("north-east", vector((0, 1.0), (1, 1.0))), parent=0),
    ]
    results = (await memory.store_batch(StoreBatchRequest(items=items))).results
    assert [result.created for result in results] == [True, True, True]
    assert results[2].record.lineage.parent_id == results[0].id
    found = await memory.search(SearchRequest(vector=vector((1, 1.0)), embedding_model=WORDLLAMA_MODEL, limit=3))
    assert [hit.record.id for hit in found.hits] == [results[1].id, results[2].id, results[0].id]


def test_a_batch_names_a_parent_that_does_not_come_first_or_twice() -> None:
    child = StoreRequest(content="child")
    with pytest.raises(pydantic.ValidationError, match=r"items\[1\]\.parent must be the index of an earlier item"):
        StoreBatchRequest(items=[StoreBatchItem(prompt=child), StoreBatchItem(prompt=child, parent=1)])
    named = StoreRequest(content="child", lineage=Lineage(parent_id="abc"))
    with pytest.raises(pydantic.ValidationError, match="names its parent twice"):
        StoreBatchRequest(items=[StoreBatchItem(prompt=child), StoreBatchItem(prompt=named, parent=0)])
    with pytest.raises(pydantic.ValidationError, match="at least 1 item"):
        StoreBatchRequest(items=[])


async def test_unknown_ids_are_not_found(memory: PromptMemory) -> None:
    with pytest.raises(NotFound):
        await memory.get(GetRequest(id="nope"))
    with pytest.raises(NotFound):
        await memory.update(UpdateRequest(id="nope", tags=["x"]))
    with pytest.raises(NotFound):
        await memory.set_aggregates(AggregatesRequest(id="nope", increment_usage=1))
    with pytest.raises(NotFound):
        await memory.delete(DeleteRequest(id="nope"))
    with pytest.raises(NotFound):
        await memory.lineage(LineageRequest(id="nope"))


# -- update / history / delete ---------------------------------------------------------------


async def test_a_unique_id_prefix_gets_its_prompt_and_an_ambiguous_one_says_so(memory: PromptMemory) -> None:
    first = await memory.store_prompt(StoreRequest(content="first prompt"))
    second = await memory.store_prompt(StoreRequest(content="second prompt"))
    lines = (await memory.export(ExportRequest(include_embeddings=False))).lines
    await memory.delete(DeleteRequest(id=first.id))
    await memory.delete(DeleteRequest(id=second.id))
    chosen = {first.id: "feedbeef" + "0" * 24, second.id: "feedbeef" + "1" * 24}
    renamed = [next(line.replace(old, new) for old, new in chosen.items() if old in line) for line in lines]
    assert (await memory.import_lines(ImportRequest(lines=renamed))).imported == 2
    got = await memory.get(GetRequest(id="feedbeef0", include_history=True))
    assert got.record.id == "feedbeef" + "0" * 24
    assert got.record.content == "first prompt"
    with pytest.raises(BadRequest, match="matches several prompts"):
        await memory.get(GetRequest(id="feedbeef"))
    with pytest.raises(NotFound):
        await memory.get(GetRequest(id="fee"))  # too short to stand for an id
    with pytest.raises(NotFound):
        await memory.get(GetRequest(id="feedbeef2"))


async def test_content_edit_keeps_the_old_version_in_history(memory: PromptMemory) -> None:
    stored = await memory.store_prompt(StoreRequest(content="Write a haiku about autumn leaves"))
    updated = await memory.update(UpdateRequest(id=stored.id, content="Write a sonnet about spring rain"))
    assert updated.record.version == 2
    got = await memory.get(GetRequest(id=stored.id, include_history=True))
    assert got.record.content == "Write a sonnet about spring rain"
    assert [(v.version, v.content) for v in got.history] == [(1, "Write a haiku about autumn leaves")]
    assert got.history[0].content_hash == stored.record.content_hash
    assert (await memory.get(GetRequest(id=stored.id))).history == []
    # the new content is what semantic search sees
    hits = (await memory.search(SearchRequest(query="spring rain sonnet"))).hits
    assert hits[0].record.id == stored.id
    # the old content is free again: storing it makes a new prompt
    again = await memory.store_prompt(StoreRequest(content="Write a haiku about autumn leaves"))
    assert again.created
    assert again.id != stored.id
    stats = await memory.stats()
    assert (stats.prompts, stats.versions) == (2, 1)


async def test_editing_into_another_prompts_content_is_a_conflict(memory: PromptMemory) -> None:
    first = await memory.store_prompt(StoreRequest(content="alpha"))
    second = await memory.store_prompt(StoreRequest(content="beta"))
    with pytest.raises(Conflict) as caught:
        await memory.update(UpdateRequest(id=second.id, content="alpha"))
    assert caught.value.details["id"] == first.id
    assert (await memory.get(GetRequest(id=second.id))).record.content == "beta"


async def test_aggregates_update_without_touching_content_or_vector(memory: PromptMemory) -> None:
    stored = await memory.store_prompt(StoreRequest(content="Summarise a paper", tags=["x"]))
    await memory.set_aggregates(AggregatesRequest(id=stored.id, increment_usage=3))
    await memory.set_aggregates(
        AggregatesRequest(id=stored.id, increment_usage=2, rating_count=4, mean_rating=4.5, relevance_score=0.8)
    )
    updated = await memory.update(UpdateRequest(id=stored.id, tags=["y"]))
    record = updated.record
    assert (record.usage_count, record.rating_count, record.mean_rating, record.relevance_score) == (5, 4, 4.5, 0.8)
    assert record.tags == ["y"]
    assert record.version == 1
    assert record.updated_at >= stored.record.updated_at
    got = await memory.get(GetRequest(id=stored.id))
    assert got.record == record
    assert got.record.embedding_model == WORDLLAMA_MODEL
    hits = (await memory.search(SearchRequest(query="summarise a paper", filters=SearchFilters(tags=["y"])))).hits
    assert [hit.record.id for hit in hits] == [stored.id]
    assert (await memory.search(SearchRequest(filters=SearchFilters(tags=["x"])))).hits == []


async def test_concurrent_usage_increments_are_not_lost(memory: PromptMemory) -> None:
    stored = await memory.store_prompt(StoreRequest(content="count me"))
    await asyncio.gather(
        *(memory.set_aggregates(AggregatesRequest(id=stored.id, increment_usage=1)) for _ in range(20))
    )
    assert (await memory.get(GetRequest(id=stored.id))).record.usage_count == 20


async def test_delete_removes_from_get_search_and_dedupe(memory: PromptMemory) -> None:
    stored = await memory.store_prompt(StoreRequest(content="Translate to French"))
    await memory.store_prompt(StoreRequest(content="Translate to German"))
    assert (await memory.delete(DeleteRequest(id=stored.id))).deleted
    with pytest.raises(NotFound):
        await memory.get(GetRequest(id=stored.id))
    ids = [hit.record.id for hit in (await memory.search(SearchRequest(query="translate french"))).hits]
    assert stored.id not in ids
    assert len(ids) == 1
    assert (await memory.store_prompt(StoreRequest(content="Translate to French"))).created


# -- semantic search ---------------------------------------------------------------------------


async def test_vector_search_ranks_by_cosine_and_honours_min_similarity(memory: PromptMemory) -> None:
    near = await memory.store_prompt(request_with_vector("near", vector((0, 1.0), (1, 0.1))))
    mid = await memory.store_prompt(request_with_vector("mid", vector((0, 1.0), (1, 1.0))))
    far = await memory.store_prompt(request_with_vector("far", vector((1, 1.0))))
    query = SearchRequest(vector=vector((0, 2.0)), embedding_model=WORDLLAMA_MODEL)
    reply = await memory.search(query)
    assert [hit.record.id for hit in reply.hits] == [near.id, mid.id, far.id]
    similarities = [hit.similarity for hit in reply.hits]
    assert similarities[0] == pytest.approx(1 / np.sqrt(1.01), abs=1e-5)
    assert similarities[1] == pytest.approx(1 / np.sqrt(2), abs=1e-5)
    assert similarities[2] == pytest.approx(0.0, abs=1e-5)
    assert reply.embedding_model == WORDLLAMA_MODEL
    narrowed = await memory.search(query.model_copy(update={"min_similarity": 0.5}))
    assert [hit.record.id for hit in narrowed.hits] == [near.id, mid.id]


async def test_semantic_query_finds_the_related_prompt(memory: PromptMemory) -> None:
    texts = [
        "Write a Python function that sorts a list of integers",
        "Compose a short poem about the ocean at night",
        "Draft a polite email declining a meeting invitation",
        "Explain how photosynthesis works to a ten year old",
    ]
    ids = [(await memory.store_prompt(StoreRequest(content=text))).id for text in texts]
    for query, expected in (
        ("python code to sort numbers", 0),
        ("poetry about the sea", 1),
        ("reply to an email about a meeting", 2),
        ("how do plants make energy from sunlight", 3),
    ):
        hits = (await memory.search(SearchRequest(query=query, limit=4))).hits
        assert hits[0].record.id == ids[expected], query


async def test_a_search_batch_answers_each_search_as_alone(memory: PromptMemory) -> None:
    for text, phase in (
        ("Write a Python function that sorts a list of integers", "prima-materia"),
        ("Sort integers in Python, step by step", "solutio"),
        ("Compose a short poem about the ocean at night", "prima-materia"),
    ):
        await memory.store_prompt(StoreRequest(content=text, lineage=Lineage(phase=phase)))
    searches = [
        SearchRequest(query="python code to sort numbers", filters=SearchFilters(phase="prima-materia"), limit=1),
        SearchRequest(query="python code to sort numbers", filters=SearchFilters(phase="solutio"), limit=2),
        SearchRequest(query="poetry about the sea", limit=3, min_similarity=0.2),
        SearchRequest(filters=SearchFilters(phase="solutio")),  # a listing, no query
    ]
    batch = await memory.search_batch(SearchBatchRequest(searches=searches))
    alone = [await memory.search(search) for search in searches]
    assert [[hit.record.id for hit in reply.hits] for reply in batch.replies] == [
        [hit.record.id for hit in reply.hits] for reply in alone
    ]
    assert [len(reply.hits) for reply in batch.replies] == [1, 1, len(alone[2].hits), 1]
    with pytest.raises(BadRequest) as caught:
        await memory.search_batch(
            SearchBatchRequest(
                searches=[searches[0], SearchRequest(vector=[0.0] * DIM, embedding_model=WORDLLAMA_MODEL)]
            )
        )
    assert caught.value.details["field"] == "searches[1].vector"


async def test_wrong_dimension_or_model_is_a_bad_request_naming_the_field(memory: PromptMemory) -> None:
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(vector=[1.0, 0.0, 0.0], embedding_model=WORDLLAMA_MODEL))
    assert caught.value.details["field"] == "vector"
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(vector=vector((0, 1.0)), embedding_model="other-model"))
    assert caught.value.details["field"] == "embedding_model"
    with pytest.raises(BadRequest) as caught:
        await memory.store_prompt(StoreRequest(content="x", embedding=[1.0, 2.0], embedding_model=WORDLLAMA_MODEL))
    assert caught.value.details["field"] == "embedding"
    with pytest.raises(BadRequest) as caught:
        await memory.store_prompt(StoreRequest(content="y", embedding=vector((0, 1.0)), embedding_model="other"))
    assert caught.value.details["field"] == "embedding_model"
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(vector=vector(), embedding_model=WORDLLAMA_MODEL))
    assert caught.value.details["field"] == "vector"
    assert (await memory.stats()).prompts == 0


async def test_a_wrong_dimension_is_a_bad_request_also_on_a_store_already_searched(memory: PromptMemory) -> None:
    """The store's model is checked before the vector query's answer means anything, whatever the
    backend asked its index in the same round trip."""
    await memory.store_prompt(StoreRequest(content="a prompt about rivers"))
    assert (await memory.search(SearchRequest(query="rivers"))).hits
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(vector=[1.0, 0.0, 0.0], embedding_model=WORDLLAMA_MODEL))
    assert caught.value.details["field"] == "vector"


# -- filters -----------------------------------------------------------------------------------


async def test_every_filter_narrows_semantic_and_listing_search(memory: PromptMemory) -> None:
    root = await memory.store_prompt(StoreRequest(content="Root prompt about databases", source="manual"))
    specs = [
        ("A solutio prompt for OpenAI code", "solutio", "openai", "code", "gpt-4o", ["alpha", "shared"]),
        ("A coagulatio prompt for Anthropic writing", "coagulatio", "anthropic", "writing", "claude-4", ["shared"]),
        ("A prima-materia prompt for Gemini analysis", "prima-materia", "google", "analysis", "gemini-2", ["beta"]),
    ]
    ids = []
    for content, phase, provider, persona, target, tags in specs:
        lineage = Lineage(parent_id=root.id, phase=phase, provider=provider, persona=persona, target_model=target)
        reply = await memory.store_prompt(StoreRequest(content=content, tags=tags, lineage=lineage))
        ids.append(reply.id)
    cases: list[tuple[SearchFilters, set[str]]] = [
        (SearchFilters(phase="solutio"), {ids[0]}),
        (SearchFilters(phase="precision"), {ids[1]}),  # legacy phase names still work
        (SearchFilters(provider="anthropic"), {ids[1]}),
        (SearchFilters(persona="analysis"), {ids[2]}),
        (SearchFilters(target_model="gpt-4o"), {ids[0]}),
        (SearchFilters(tags=["shared"]), {ids[0], ids[1]}),
        (SearchFilters(tags=["shared", "alpha"]), {ids[0]}),
        (SearchFilters(tags=["alpha", "beta"]), set()),
        (SearchFilters(source="manual"), {root.id}),
        (SearchFilters(parent_id=root.id), set(ids)),
        (SearchFilters(parent_id=root.id, provider="google"), {ids[2]}),
        (SearchFilters(provider="OpenAI"), set()),  # exact match, case included
    ]
    for filters, expected in cases:
        semantic = await memory.search(SearchRequest(query="prompt", filters=filters, limit=50))
        listing = await memory.search(SearchRequest(filters=filters, limit=50))
        assert {hit.record.id for hit in semantic.hits} == expected, filters
        assert {hit.record.id for hit in listing.hits} == expected, filters


async def test_filter_values_with_query_syntax_match_literally(memory: PromptMemory) -> None:
    """Issue 13: on Redis a filter of odd characters was a RediSearch syntax error (500)."""
    odd = ["c++", "a|b", "x`y", "{z}", "ü-ñ", "@tag", "50%", "1.5", "-neg", "a:b"]
    stored = {}
    for tag in odd:
        lineage = Lineage(provider=f"p{tag}", target_model="gpt-4o:2024-08-06")
        stored[tag] = (
            await memory.store_prompt(StoreRequest(content=f"prompt tagged {tag}", tags=[tag], lineage=lineage))
        ).id
    for tag in odd:
        for request in (
            SearchRequest(filters=SearchFilters(tags=[tag]), limit=50),
            SearchRequest(query="prompt tagged", filters=SearchFilters(tags=[tag]), limit=50),
            SearchRequest(filters=SearchFilters(provider=f"p{tag}"), limit=50),
        ):
            assert [hit.record.id for hit in (await memory.search(request)).hits] == [stored[tag]], request
    listing = await memory.search(SearchRequest(filters=SearchFilters(target_model="gpt-4o:2024-08-06"), limit=50))
    assert len(listing.hits) == len(odd)


@pytest.mark.parametrize("field", ["tags", "provider", "target_model"])
def test_filter_values_with_control_characters_are_refused(field: str) -> None:
    value: object = ["\x03"] if field == "tags" else "gpt\x03"
    with pytest.raises(pydantic.ValidationError, match=field):
        SearchFilters.model_validate({field: value})


async def test_created_since_filter(memory: PromptMemory) -> None:
    old = await memory.store_prompt(StoreRequest(content="old prompt"))
    cutoff = old.record.created_at + timedelta(microseconds=1)
    new = await memory.store_prompt(StoreRequest(content="new prompt"))
    assert new.record.created_at >= cutoff
    for request in (
        SearchRequest(filters=SearchFilters(created_since=cutoff)),
        SearchRequest(query="prompt", filters=SearchFilters(created_since=cutoff)),
    ):
        assert [hit.record.id for hit in (await memory.search(request)).hits] == [new.id]
    future = SearchFilters(created_since=datetime.now(UTC) + timedelta(days=1))
    assert (await memory.search(SearchRequest(filters=future))).hits == []


async def test_text_is_a_case_insensitive_substring_match(memory: PromptMemory) -> None:
    hit = await memory.store_prompt(StoreRequest(content="Refactor the PaymentGateway class"))
    await memory.store_prompt(StoreRequest(content="Refactor the user service"))
    for request in (
        SearchRequest(text="paymentgate"),
        SearchRequest(text="ENTGATEWAY CL"),
        SearchRequest(query="refactor", text="paymentgateway"),
    ):
        assert [h.record.id for h in (await memory.search(request)).hits] == [hit.id], request
    assert (await memory.search(SearchRequest(text="no such words"))).hits == []


async def test_listing_without_query_is_newest_first(memory: PromptMemory) -> None:
    ids = [(await memory.store_prompt(StoreRequest(content=f"prompt number {n}"))).id for n in range(5)]
    reply = await memory.search(SearchRequest())
    assert [hit.record.id for hit in reply.hits] == ids[::-1]
    assert all(hit.similarity is None for hit in reply.hits)


# -- pagination --------------------------------------------------------------------------------


async def test_semantic_pages_cover_every_match_once_in_order(memory: PromptMemory) -> None:
    rng = np.random.default_rng(7)
    for n in range(23):
        await memory.store_prompt(request_with_vector(f"v{n}", [float(x) for x in rng.normal(size=DIM)]))
    # duplicate vectors (distinct content) tie on similarity: the id breaks the tie
    tied = [float(x) for x in rng.normal(size=DIM)]
    for n in range(4):
        await memory.store_prompt(request_with_vector(f"tie{n}", tied))
    query = SearchRequest(vector=tied, embedding_model=WORDLLAMA_MODEL, limit=5, min_similarity=-1.0)
    pages = await all_pages(memory, query)
    assert [len(page.hits) for page in pages] == [5, 5, 5, 5, 5, 2]
    paged = [hit.record.id for page in pages for hit in page.hits]
    everything = [hit.record.id for hit in (await memory.search(query.model_copy(update={"limit": 100}))).hits]
    assert paged == everything
    assert len(set(paged)) == 27
    assert {hit.record.content for hit in pages[0].hits[:4]} == {"tie0", "tie1", "tie2", "tie3"}
    top_ids = [hit.record.id for hit in pages[0].hits[:4]]
    assert top_ids == sorted(top_ids)


async def test_pagination_is_stable_while_prompts_are_added(memory: PromptMemory) -> None:
    for n in range(12):
        await memory.store_prompt(StoreRequest(content=f"listing item {n}"))
    request = SearchRequest(limit=5)
    first = await memory.search(request)
    await memory.store_prompt(StoreRequest(content="a newer item"))
    rest = await all_pages(memory, request.model_copy(update={"cursor": first.next_cursor}))
    seen = [hit.record.id for page in [first, *rest] for hit in page.hits]
    assert len(seen) == 12
    assert len(set(seen)) == 12


def _forged(cursor: str, **changes: object) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded))
    raw = json.dumps({**payload, **changes}).replace('"__inf__"', "1e400")
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "changes",
    [
        {"k": 2**63},
        {"k": -(2**63) - 1},
        {"k": "__inf__"},
        {"k": 1.5},
        {"k": True},
        {"n": -1},
        {"n": 1_000_000},
        {"n": "__inf__"},
        {"i": 7},
        {"i": "x" * 1000},
        {"f": None},
    ],
)
async def test_a_forged_cursor_is_a_bad_request_naming_the_cursor(
    memory: PromptMemory, changes: dict[str, object]
) -> None:
    """Issue 13: a sort value >= 2**63 or 1e400 was an OverflowError (500); on Redis so was n < 0 or >= 1e6."""
    for text in ("alpha item", "beta item", "gamma item"):
        await memory.store_prompt(StoreRequest(content=text))
    for request in (SearchRequest(limit=1), SearchRequest(query="item", limit=1), ExportRequest(limit=1)):
        if isinstance(request, ExportRequest):
            cursor = (await memory.export(request)).next_cursor
        else:
            cursor = (await memory.search(request)).next_cursor
        assert cursor
        forged = request.model_copy(update={"cursor": _forged(cursor, **changes)})
        answer = memory.export(forged) if isinstance(forged, ExportRequest) else memory.search(forged)
        with pytest.raises(BadRequest) as caught:
            await answer
        assert caught.value.details["field"] == "cursor"


async def test_the_deepest_cursor_a_client_can_hold_still_answers(memory: PromptMemory) -> None:
    for text in ("alpha item", "beta item", "gamma item"):
        await memory.store_prompt(StoreRequest(content=text))
    request = SearchRequest(query="item", limit=1)
    cursor = (await memory.search(request)).next_cursor
    assert cursor
    deep = await memory.search(request.model_copy(update={"cursor": _forged(cursor, n=999_999)}))
    assert len(deep.hits) <= 1


async def test_cursor_of_another_query_or_garbage_is_a_bad_request(memory: PromptMemory) -> None:
    for n in range(3):
        await memory.store_prompt(StoreRequest(content=f"item {n}"))
    cursor = (await memory.search(SearchRequest(limit=1))).next_cursor
    assert cursor
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(limit=1, text="item", cursor=cursor))
    assert caught.value.details["field"] == "cursor"
    with pytest.raises(BadRequest):
        await memory.search(SearchRequest(cursor="not-a-cursor"))


# -- lineage -----------------------------------------------------------------------------------


async def test_lineage_walks_ancestors_and_descendants(memory: PromptMemory) -> None:
    async def child(content: str, parent: str | None) -> str:
        return (await memory.store_prompt(StoreRequest(content=content, lineage=Lineage(parent_id=parent)))).id

    root = await child("root", None)
    a = await child("a", root)
    b = await child("b", root)
    a1 = await child("a1", a)
    a1x = await child("a1x", a1)
    await child("unrelated", None)

    tree = await memory.lineage(LineageRequest(id=a1))
    assert [r.id for r in tree.ancestors] == [a, root]
    assert [r.id for r in tree.descendants] == [a1x]
    down = await memory.lineage(LineageRequest(id=root, direction="descendants"))
    assert [r.id for r in down.descendants] == [a, b, a1, a1x]  # level by level, oldest first
    assert down.ancestors == []
    shallow = await memory.lineage(LineageRequest(id=root, direction="descendants", max_depth=1))
    assert {r.id for r in shallow.descendants} == {a, b}
    up = await memory.lineage(LineageRequest(id=a1x, direction="ancestors", max_depth=2))
    assert [r.id for r in up.ancestors] == [a1, a]
    # a deleted link ends the chain instead of failing
    await memory.delete(DeleteRequest(id=a))
    assert [r.id for r in (await memory.lineage(LineageRequest(id=a1))).ancestors] == []


# -- embeddings --------------------------------------------------------------------------------


async def test_embeddings_are_cached_by_model_and_text(memory: PromptMemory) -> None:
    first = await memory.embeddings(EmbeddingsRequest(texts=["hello world", "goodbye"]))
    assert first.model == WORDLLAMA_MODEL
    assert first.dimension == DIM
    assert first.cached == [False, False]
    second = await memory.embeddings(EmbeddingsRequest(texts=["goodbye", "new text", "hello world"]))
    assert second.cached == [True, False, True]
    assert second.vectors[0] == pytest.approx(first.vectors[1])
    assert np.linalg.norm(second.vectors[1]) == pytest.approx(1.0, abs=1e-5)
    other = await memory.embeddings(EmbeddingsRequest(texts=["hello world"], model="test-hashing-16"))
    assert (other.model, other.dimension, other.cached) == ("test-hashing-16", 16, [False])
    assert (await memory.stats()).embedding_cache_entries == 4
    with pytest.raises(BadRequest) as caught:
        await memory.embeddings(EmbeddingsRequest(texts=["x"], model="no-such-model"))
    assert caught.value.details["field"] == "model"


class CountingEmbedder:
    """Another embedder's vectors, recording every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    async def load(self) -> None:
        await self.inner.load()

    async def embed(self, texts: Sequence[str]) -> list[FloatVector]:
        self.texts += texts
        return await self.inner.embed(texts)


async def test_a_prompt_is_embedded_without_looking_in_the_embedding_cache(
    store_factory: Callable[[str], PromptStore], hashing_embedder: Embedder
) -> None:
    """The cache serves texts that come back (queries); stored content is deduplicated by hash
    before it is embedded, so a cache lookup per store would cost a round trip for no hit."""
    embedder = CountingEmbedder(hashing_embedder)
    memory = PromptMemory(store_factory("main"), embedder)
    await memory.start()
    try:
        text = "A prompt about rivers and their deltas"
        assert (await memory.embeddings(EmbeddingsRequest(texts=[text]))).cached == [False]
        stored = await memory.store_prompt(StoreRequest(content=text))
        assert embedder.texts == [text, text]  # embedded again, not read from the cache
        assert stored.record.embedding_model == embedder.name
        assert (await memory.embeddings(EmbeddingsRequest(texts=[text]))).cached == [True]  # the cache is intact
        hit = (await memory.search(SearchRequest(query=text, limit=1))).hits[0]
        assert (hit.record.id, hit.similarity) == (stored.id, pytest.approx(1.0, abs=1e-5))
    finally:
        await memory.close()


# -- export / import ---------------------------------------------------------------------------


async def test_export_import_round_trip_into_the_other_backend(
    memory: PromptMemory, other_backend_memory: Callable[[], Awaitable[PromptMemory]]
) -> None:
    root = await memory.store_prompt(StoreRequest(content="Design a REST API for a library", tags=["api"]))
    texts = [
        "Design a GraphQL schema for a bookstore",
        "Write unit tests for a parser",
        "Plan a marketing campaign for a bakery",
        "Describe a sunset over the mountains",
        "Optimise a slow SQL query with joins",
    ]
    for text in texts:
        await memory.store_prompt(StoreRequest(content=text, lineage=Lineage(parent_id=root.id, phase="solutio")))
    await memory.update(UpdateRequest(id=root.id, content="Design a REST API for a public library"))
    await memory.set_aggregates(AggregatesRequest(id=root.id, mean_rating=4.0))

    lines: list[str] = []
    page = await memory.export(ExportRequest(limit=4))
    lines += page.lines
    while page.next_cursor:
        page = await memory.export(ExportRequest(limit=4, cursor=page.next_cursor))
        lines += page.lines
    assert len(lines) == 6

    other = await other_backend_memory()
    try:
        imported = await other.import_lines(ImportRequest(lines=lines))
        assert (imported.imported, imported.duplicates, imported.errors) == (6, 0, [])
        again = await other.import_lines(ImportRequest(lines=lines))
        assert (again.imported, again.duplicates) == (0, 6)
        got = await other.get(GetRequest(id=root.id, include_history=True))
        original = await memory.get(GetRequest(id=root.id, include_history=True))
        assert got.record == original.record
        assert got.history == original.history
        for query in ("api design", "database performance", "evening sky"):
            theirs = await other.search(SearchRequest(query=query, limit=6))
            ours = await memory.search(SearchRequest(query=query, limit=6))
            assert [h.record.id for h in theirs.hits] == [h.record.id for h in ours.hits]
            assert [h.similarity for h in theirs.hits] == pytest.approx([h.similarity for h in ours.hits], abs=1e-5)
        tree = await other.lineage(LineageRequest(id=root.id))
        assert len(tree.descendants) == 5
        stats = await other.stats()
        assert (stats.prompts, stats.versions) == (6, 1)
    finally:
        await other.close()
        drop = getattr(other.store, "drop", None)
        if drop is not None:
            await other.store.open()
            await drop()
            await other.store.close()


async def test_import_reports_bad_lines_and_embeds_lines_without_vectors(memory: PromptMemory) -> None:
    source = await memory.store_prompt(StoreRequest(content="Summarise meeting notes into action items"))
    exported = (await memory.export(ExportRequest(include_embeddings=False))).lines
    await memory.delete(DeleteRequest(id=source.id))
    lines = ["{not json", exported[0], '{"format": "other"}', exported[0].replace(source.id, "bad id!"), exported[0]]
    reply = await memory.import_lines(ImportRequest(lines=lines))
    assert (reply.imported, reply.duplicates) == (1, 1)
    assert [error.line for error in reply.errors] == [1, 3, 4]
    assert "id" in reply.errors[2].message
    got = await memory.get(GetRequest(id=source.id))
    assert got.record.embedding_model == WORDLLAMA_MODEL
    hits = (await memory.search(SearchRequest(query="action items from a meeting"))).hits
    assert hits[0].record.id == source.id


# -- re-embedding and stats --------------------------------------------------------------------


async def test_reembed_moves_the_store_to_another_model(memory: PromptMemory) -> None:
    ids = [
        (await memory.store_prompt(StoreRequest(content=text))).id
        for text in ("red apples and pears", "blue ocean waves", "green forest trees")
    ]
    reply = await memory.reembed(ReembedRequest(model="test-hashing-16"))
    assert (reply.model, reply.dimension, reply.reembedded) == ("test-hashing-16", 16, 3)
    stats = await memory.stats()
    assert stats.embedding_models == {"test-hashing-16": 3}
    hits = (await memory.search(SearchRequest(query="ocean waves"))).hits
    assert hits[0].record.id == ids[1]
    assert (await memory.search(SearchRequest(query="ocean waves"))).embedding_model == "test-hashing-16"
    record = (await memory.get(GetRequest(id=ids[0]))).record
    assert (record.embedding_model, record.embedding_dim) == ("test-hashing-16", 16)
    # the old model's vectors are gone: searching with one is a mismatch, not a silent mix
    with pytest.raises(BadRequest) as caught:
        await memory.search(SearchRequest(vector=vector((0, 1.0)), embedding_model=WORDLLAMA_MODEL))
    assert caught.value.details["field"] == "embedding_model"
    # new prompts get the new model; and back again
    added = await memory.store_prompt(StoreRequest(content="yellow sun"))
    assert added.record.embedding_dim == 16
    back = await memory.reembed(ReembedRequest(model=WORDLLAMA_MODEL))
    assert back.reembedded == 4
    assert (await memory.search(SearchRequest(query="fruit"))).hits[0].record.id == ids[0]


async def test_reembed_to_an_unknown_model_is_a_bad_request(memory: PromptMemory) -> None:
    with pytest.raises(BadRequest) as caught:
        await memory.reembed(ReembedRequest(model="nobody-knows"))
    assert caught.value.details["field"] == "model"


async def test_stats_and_health(memory: PromptMemory, backend_kind: str) -> None:
    first = await memory.store_prompt(StoreRequest(content="one"))
    await memory.store_prompt(StoreRequest(content="two"))
    await memory.update(UpdateRequest(id=first.id, content="one, edited"))
    stats = await memory.stats()
    assert stats.backend == backend_kind
    assert (stats.prompts, stats.versions) == (2, 1)
    assert stats.embedding_models == {WORDLLAMA_MODEL: 2}
    checks = await memory.health()
    assert all(check.ok for check in checks.values())
    assert set(checks) == {backend_kind, "embedder"}
