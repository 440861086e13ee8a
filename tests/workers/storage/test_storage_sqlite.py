"""Embedded backend specifics: WAL on disk, reopen reloads the index, the event loop stays free."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np

from prompt_alchemy.schemas.storage import DeleteRequest, SearchRequest, StoreRequest, UpdateRequest
from prompt_alchemy.workers.storage.backend import Embedding, EmbeddingSpec, StoredPrompt
from prompt_alchemy.workers.storage.embedders import WORDLLAMA_MODEL, WordLlamaEmbedder, as_unit_vector
from prompt_alchemy.workers.storage.prompt_memory import PromptMemory
from prompt_alchemy.workers.storage.records import new_record
from prompt_alchemy.workers.storage.sqlite_store import DATABASE_FILE, SqlitePromptStore


async def test_data_and_vectors_survive_a_reopen(tmp_path: Path) -> None:
    memory = PromptMemory(SqlitePromptStore(tmp_path), WordLlamaEmbedder())
    kept = await memory.store_prompt(StoreRequest(content="Plan a trip to Kyoto in autumn"))
    gone = await memory.store_prompt(StoreRequest(content="Plan a trip to Lisbon in spring"))
    await memory.search(SearchRequest(query="trip"))  # loads the index, then keep it in step:
    await memory.delete(DeleteRequest(id=gone.id))
    await memory.update(UpdateRequest(id=kept.id, content="Plan a trip to Kyoto in winter"))
    live = await memory.search(SearchRequest(query="Kyoto winter trip"))
    await memory.close()

    with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    reopened = PromptMemory(SqlitePromptStore(tmp_path), WordLlamaEmbedder())
    try:
        assert await reopened.store.active_model() == EmbeddingSpec(WORDLLAMA_MODEL, 256)
        fresh = await reopened.search(SearchRequest(query="Kyoto winter trip"))
        assert [(h.record.id, h.similarity) for h in fresh.hits] == [(h.record.id, h.similarity) for h in live.hits]
        assert [h.record.id for h in fresh.hits] == [kept.id]
    finally:
        await reopened.close()


async def test_bulk_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    store = SqlitePromptStore(tmp_path)
    await store.open()
    await store.set_active_model(EmbeddingSpec("m", 64))
    rng = np.random.default_rng(5)
    prompts = []
    for n in range(4000):
        record = new_record(StoreRequest(content=f"bulk prompt {n}"), embedding_model="m", embedding_dim=64)
        prompts.append(StoredPrompt(record, [], Embedding("m", as_unit_vector(rng.normal(size=64), field="v"))))
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        outcomes = await store.import_prompts(prompts)
        ticks_during_import = ticks
    finally:
        stop.set()
        await task
        await store.close()
    assert len(outcomes) == 4000
    # a blocking import would have let the ticker run at most once before it finished
    assert ticks_during_import > 10
