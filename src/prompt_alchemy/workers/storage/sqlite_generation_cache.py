"""The embedded generation cache: rows in the prompts' SQLite database, searched with the
same exact numpy index the store uses, one index per shape, loaded on first use.

Everything runs on the prompt store's thread (``run_with_connection``), so rows and indexes
change together and never race. Expired rows are skipped by lookups and deleted by the next put.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.generation_cache import CacheEntry, CacheMatch
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore
from prompt_alchemy.workers.storage.vector_index import ExactVectorIndex

__all__ = ["SqliteGenerationCache"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS generation_cache (
    request_id TEXT PRIMARY KEY,
    shape TEXT NOT NULL,
    vector BLOB NOT NULL,
    reply TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS generation_cache_by_shape ON generation_cache (shape);
CREATE TABLE IF NOT EXISTS generation_cache_prompts (
    prompt_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (prompt_id, request_id)
);
"""

_CANDIDATES = 8  # nearest entries examined per lookup (expired ones are dropped on the way)


class SqliteGenerationCache:
    def __init__(self, prompts: SqlitePromptStore) -> None:
        self._prompts = prompts
        self._ready = False
        self._indexes: dict[str, ExactVectorIndex] = {}

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if not self._ready:
            await self._prompts.run_with_connection(lambda db: db.executescript(SCHEMA))
            self._ready = True
        try:
            return await self._prompts.run_with_connection(functools.partial(function, *args))
        except sqlite3.DatabaseError as error:
            raise Unavailable(f"embedded generation cache failed: {error}") from error

    def _index(self, db: sqlite3.Connection, shape: str, dimension: int) -> ExactVectorIndex:
        index = self._indexes.get(shape)
        if index is None:
            index = ExactVectorIndex(dimension)
            rows = db.execute("SELECT request_id, vector FROM generation_cache WHERE shape = ?", (shape,)).fetchall()
            index.add_many((str(row[0]), np.frombuffer(row[1], dtype="<f4").astype(np.float32)) for row in rows)
            self._indexes[shape] = index
        return index

    async def nearest(self, shape: str, vector: FloatVector, min_similarity: float, now: float) -> CacheMatch | None:
        return await self._run(self._nearest_sync, shape, vector, min_similarity, now)

    def _nearest_sync(
        self, shape: str, vector: FloatVector, min_similarity: float, now: float, db: sqlite3.Connection
    ) -> CacheMatch | None:
        index = self._index(db, shape, int(vector.size))
        for hit in index.search(vector, _CANDIDATES, min_similarity=min_similarity):
            row = db.execute(
                "SELECT reply, expires_at FROM generation_cache WHERE request_id = ?", (hit.id,)
            ).fetchone()
            if row is None or float(row[1]) <= now:
                self._drop(db, hit.id)
                continue
            return CacheMatch(hit.id, hit.similarity, str(row[0]))
        return None

    def _drop(self, db: sqlite3.Connection, request_id: str) -> None:
        db.execute("DELETE FROM generation_cache WHERE request_id = ?", (request_id,))
        db.execute("DELETE FROM generation_cache_prompts WHERE request_id = ?", (request_id,))
        for index in self._indexes.values():
            index.remove(request_id)

    async def put(self, entry: CacheEntry) -> None:
        await self._run(self._put_sync, entry)

    def _put_sync(self, entry: CacheEntry, db: sqlite3.Connection) -> None:
        index = self._index(db, entry.shape, int(entry.vector.size))
        now = entry.expires_at - entry.ttl_s
        db.execute("BEGIN IMMEDIATE")
        try:
            expired = db.execute("SELECT request_id FROM generation_cache WHERE expires_at <= ?", (now,)).fetchall()
            for request_id in [entry.request_id, *(str(row[0]) for row in expired)]:
                self._drop(db, request_id)
            db.execute(
                "INSERT INTO generation_cache (request_id, shape, vector, reply, expires_at) VALUES (?, ?, ?, ?, ?)",
                (
                    entry.request_id,
                    entry.shape,
                    np.ascontiguousarray(entry.vector, dtype="<f4").tobytes(),
                    entry.reply_json,
                    entry.expires_at,
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO generation_cache_prompts (prompt_id, request_id) VALUES (?, ?)",
                [(prompt_id, entry.request_id) for prompt_id in entry.prompt_ids],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._indexes.pop(entry.shape, None)  # reloaded from the rows on next use
            raise
        index.add(entry.request_id, entry.vector)

    async def drop_prompt(self, prompt_id: str) -> int:
        return await self._run(self._drop_prompt_sync, prompt_id)

    def _drop_prompt_sync(self, prompt_id: str, db: sqlite3.Connection) -> int:
        rows = db.execute(
            "SELECT request_id FROM generation_cache_prompts WHERE prompt_id = ?", (prompt_id,)
        ).fetchall()
        for row in rows:
            self._drop(db, str(row[0]))
        return len(rows)

    async def count(self) -> int:
        return await self._run(lambda db: int(db.execute("SELECT COUNT(*) FROM generation_cache").fetchone()[0]))
