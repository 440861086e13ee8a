"""Embedded backend: SQLite in WAL mode plus an in-process exact numpy index.

SQLite calls block, so every operation runs on ONE dedicated thread per store
(``prompt_alchemy.sqlite_thread``, without group commit: each operation keeps its own
transactions): writes are serialised without locks, the connection never crosses threads, and
the event loop never waits on disk. The vector index lives on that same thread; it is loaded lazily on the first
semantic search and then kept in step with every insert, update and delete.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from prompt_alchemy.errors import BadRequest, Conflict, NotFound, Unavailable
from prompt_alchemy.private_files import private_dir
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.storage import (
    DeleteReply,
    DeleteRequest,
    ExportRequest,
    GetReply,
    GetRequest,
    LineageReply,
    LineageRequest,
    PromptRecord,
    PromptVersion,
    SearchHit,
    SearchReply,
    SearchRequest,
    StorageStats,
    StoreReply,
    StoreRequest,
    UpdateReply,
    UpdateRequest,
)
from prompt_alchemy.sqlite_thread import SqliteThread
from prompt_alchemy.workers.storage.backend import (
    Embedding,
    EmbeddingSpec,
    ExportPage,
    ImportOutcome,
    ImportStatus,
    StoredPrompt,
    check_embedding,
)
from prompt_alchemy.workers.storage.cursor import Cursor, query_fingerprint
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.records import (
    PromptEdit,
    apply_update,
    content_hash,
    new_record,
    to_micros,
    unique_prefix_match,
)
from prompt_alchemy.workers.storage.sqlite_schema import (
    INSERT_PROMPT,
    INSERT_TAG,
    INSERT_VERSION,
    RECORD_COLUMNS,
    SCHEMA,
    SET_EMBEDDING,
    UPDATE_PROMPT,
    filter_clause,
    record_params,
    row_to_record,
    row_to_version,
    text_contains,
    version_params,
)
from prompt_alchemy.workers.storage.vector_index import ExactVectorIndex, SearchAfter

__all__ = ["SqlitePromptStore"]

T = TypeVar("T")

DATABASE_FILE = "storage.sqlite3"
_IN_CHUNK = 500  # bound parameters per IN (...) list, well under SQLite's limit


def _unavailable(problem: str) -> Unavailable:
    return Unavailable(f"embedded storage failed: {problem}")


def _blob(vector: FloatVector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes) -> FloatVector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlitePromptStore:
    """The monolithic default: one SQLite file under ``data_dir``, vectors as float32 BLOBs."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DATABASE_FILE
        self._thread: SqliteThread | None = None
        self._opening = asyncio.Lock()
        self._db: sqlite3.Connection | None = None
        self._active: EmbeddingSpec | None = None
        self._index: ExactVectorIndex | None = None

    @property
    def backend(self) -> str:
        return "sqlite"

    # -- plumbing ------------------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        thread = self._thread or await self._open_thread()
        return await thread.run(lambda _connection: function(*args))

    async def run_with_connection(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``function`` on the store's thread with its connection: for tables kept beside the
        prompts (named prompts), which then share its serialised writes and its lifetime."""
        return await self._run(lambda: function(self._conn))

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise Unavailable("embedded storage is closed")
        return self._db

    async def open(self) -> None:
        if self._thread is None:
            await self._open_thread()

    async def _open_thread(self) -> SqliteThread:
        async with self._opening:
            if self._thread is not None:
                return self._thread
            await asyncio.to_thread(private_dir, self.data_dir)
            thread = SqliteThread(
                self.path,
                name="store",
                setup=self._setup,
                group_commit=False,
                busy_timeout_ms=5000,
                failure=_unavailable,
                closed=_unavailable,
            )
            await thread.start()
            try:
                await thread.run(lambda _connection: self._load_meta())
            except BaseException:
                await thread.close()
                raise
            self._thread = thread
            return thread

    def _setup(self, db: sqlite3.Connection) -> None:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        db.create_function("alchemy_contains", 2, text_contains, deterministic=True)
        db.executescript(SCHEMA)
        self._db = db

    def _load_meta(self) -> None:
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if "model" in meta:
            self._active = EmbeddingSpec(meta["model"], int(meta["dimension"]))

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.close()  # the thread closes the connection
        self._db = None
        self._index = None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- embedding model and the index ----------------------------------------------------------

    async def active_model(self) -> EmbeddingSpec | None:
        await self._run(lambda: None)
        return self._active

    async def set_active_model(self, spec: EmbeddingSpec) -> None:
        await self._run(self._set_active_sync, spec)

    def _set_active_sync(self, spec: EmbeddingSpec) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [("model", spec.model), ("dimension", str(spec.dimension))],
            )
        if spec != self._active:
            self._active = spec
            self._index = None  # reloaded lazily with the vectors of the new model

    def _adopt_model(self, embedding: Embedding) -> None:
        if self._active is None:
            self._set_active_sync(embedding.spec)

    def _loaded_index(self) -> ExactVectorIndex | None:
        if self._active is None:
            return None
        if self._index is None:
            index = ExactVectorIndex(self._active.dimension)
            rows = self._conn.execute(
                "SELECT id, embedding FROM prompts WHERE embedding_model = ? AND embedding_dim = ?",
                (self._active.model, self._active.dimension),
            )
            index.add_many((row["id"], _vector(row["embedding"])) for row in rows)
            self._index = index
        return self._index

    def _index_put(self, prompt_id: str, model: str | None, vector: FloatVector | None) -> None:
        """Keep a loaded index in step with a committed write (not loading it if it is not)."""
        if self._index is None:
            return
        if vector is not None and self._active is not None and model == self._active.model:
            self._index.add(prompt_id, vector)
        else:
            self._index.remove(prompt_id)

    # -- reads ---------------------------------------------------------------------------------

    def _record(self, prompt_id: str) -> PromptRecord:
        row = self._conn.execute(f"SELECT {RECORD_COLUMNS} FROM prompts WHERE id = ?", (prompt_id,)).fetchone()
        if row is None:
            raise NotFound(f"no prompt with id {prompt_id!r}", details={"id": prompt_id})
        return row_to_record(row)

    def _records(self, prompt_ids: Sequence[str]) -> dict[str, PromptRecord]:
        found: dict[str, PromptRecord] = {}
        for chunk in _chunks(prompt_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(f"SELECT {RECORD_COLUMNS} FROM prompts WHERE id IN ({marks})", chunk):
                found[row["id"]] = row_to_record(row)
        return found

    def _history(self, prompt_id: str) -> list[PromptVersion]:
        rows = self._conn.execute(
            "SELECT version, content, content_hash, updated_us FROM prompt_versions WHERE prompt_id = ? "
            "ORDER BY version",
            (prompt_id,),
        )
        return [row_to_version(row) for row in rows]

    async def find_many_for_store(
        self, content_hashes: Sequence[str]
    ) -> tuple[list[PromptRecord | None], EmbeddingSpec | None]:
        existing = await self._run(lambda: [self._find_by_hash_sync(digest) for digest in content_hashes])
        return existing, self._active

    async def find_by_hash(self, content_hash: str) -> PromptRecord | None:
        return await self._run(self._find_by_hash_sync, content_hash)

    def _find_by_hash_sync(self, digest: str) -> PromptRecord | None:
        row = self._conn.execute(f"SELECT {RECORD_COLUMNS} FROM prompts WHERE content_hash = ?", (digest,)).fetchone()
        return None if row is None else row_to_record(row)

    async def get(self, request: GetRequest) -> GetReply:
        return await self._run(self._get_sync, request)

    def _get_sync(self, request: GetRequest) -> GetReply:
        try:
            record = self._record(request.id)
        except NotFound:  # a unique id prefix stands for its prompt
            rows = self._conn.execute(
                "SELECT id FROM prompts WHERE substr(id, 1, ?) = ? LIMIT 3", (len(request.id), request.id)
            )
            record = self._record(unique_prefix_match(request.id, [row["id"] for row in rows]))
        history = self._history(record.id) if request.include_history else []
        return GetReply(record=record, history=history)

    # -- writes --------------------------------------------------------------------------------

    async def store(self, request: StoreRequest, embedding: Embedding | None) -> StoreReply:
        return await self._run(self._store_sync, request, embedding)

    async def store_many(self, items: Sequence[tuple[StoreRequest, Embedding | None]]) -> list[StoreReply]:
        """``store`` for each item, in one trip to the store's thread."""
        return await self._run(lambda: [self._store_sync(request, embedding) for request, embedding in items])

    def _store_sync(self, request: StoreRequest, embedding: Embedding | None) -> StoreReply:
        existing = self._find_by_hash_sync(content_hash(request.content))
        if existing is not None:
            return StoreReply(id=existing.id, created=False, record=existing)
        if embedding is not None:
            self._adopt_model(embedding)
            check_embedding(self._active, embedding, vector_field="embedding")
        record = new_record(
            request,
            embedding_model=embedding.model if embedding else None,
            embedding_dim=int(embedding.vector.size) if embedding else None,
        )
        with self._transaction() as db:
            self._insert(db, record, embedding, [])
        self._index_put(record.id, record.embedding_model, embedding.vector if embedding else None)
        return StoreReply(id=record.id, created=True, record=record)

    @staticmethod
    def _insert(
        db: sqlite3.Connection, record: PromptRecord, embedding: Embedding | None, history: list[PromptVersion]
    ) -> None:
        db.execute(INSERT_PROMPT, record_params(record, _blob(embedding.vector) if embedding else None))
        db.executemany(INSERT_TAG, [(tag, record.id) for tag in record.tags])
        db.executemany(INSERT_VERSION, [version_params(record.id, version) for version in history])

    async def update(self, request: PromptEdit, embedding: Embedding | None) -> UpdateReply:
        return await self._run(self._update_sync, request, embedding)

    def _update_sync(self, request: PromptEdit, embedding: Embedding | None) -> UpdateReply:
        current = self._record(request.id)
        updated, previous = apply_update(current, request)
        if previous is not None:
            owner = self._find_by_hash_sync(updated.content_hash)
            if owner is not None and owner.id != updated.id:
                raise Conflict(
                    f"another prompt ({owner.id}) already has this content",
                    details={"field": "content", "id": owner.id},
                )
            if embedding is not None:
                self._adopt_model(embedding)
                check_embedding(self._active, embedding, vector_field="embedding")
            # New content: its vector replaces the old one (or none, if none was given).
            updated = updated.model_copy(
                update={
                    "embedding_model": embedding.model if embedding else None,
                    "embedding_dim": int(embedding.vector.size) if embedding else None,
                }
            )
        with self._transaction() as db:
            db.execute(UPDATE_PROMPT, record_params(updated, None))
            if previous is not None:
                blob = _blob(embedding.vector) if embedding else None
                db.execute(SET_EMBEDDING, (updated.embedding_model, updated.embedding_dim, blob, updated.id))
                db.execute(INSERT_VERSION, version_params(updated.id, previous))
            if isinstance(request, UpdateRequest) and request.tags is not None:
                db.execute("DELETE FROM prompt_tags WHERE prompt_id = ?", (updated.id,))
                db.executemany(INSERT_TAG, [(tag, updated.id) for tag in updated.tags])
        if previous is not None:
            self._index_put(updated.id, updated.embedding_model, embedding.vector if embedding else None)
        return UpdateReply(record=updated)

    async def delete(self, request: DeleteRequest) -> DeleteReply:
        return await self._run(self._delete_sync, request)

    def _delete_sync(self, request: DeleteRequest) -> DeleteReply:
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM prompts WHERE id = ?", (request.id,)).rowcount
        if not deleted:
            raise NotFound(f"no prompt with id {request.id!r}", details={"id": request.id})
        if self._index is not None:
            self._index.remove(request.id)
        return DeleteReply(id=request.id, deleted=True)

    # -- search --------------------------------------------------------------------------------

    async def search(self, request: SearchRequest, query: Embedding | None) -> SearchReply:
        return await self._run(self._search_sync, request, query)

    def _search_sync(self, request: SearchRequest, query: Embedding | None) -> SearchReply:
        fingerprint = query_fingerprint(request)
        after = Cursor.decode(request.cursor, fingerprint=fingerprint) if request.cursor else None
        conditions, params = filter_clause(request.filters, request.text)
        if query is None:
            return self._newest_first(request, conditions, params, after, fingerprint)
        if self._active is None:
            return SearchReply(hits=[], embedding_model=query.model)
        check_embedding(self._active, query, vector_field="vector")
        index = self._loaded_index()
        assert index is not None
        candidates = None
        if conditions:
            ids = [
                row[0]
                for row in self._conn.execute(
                    f"SELECT id FROM prompts WHERE {' AND '.join(conditions)} AND embedding_model = ?",
                    [*params, self._active.model],
                )
            ]
            candidates = index.rows_of(ids)
        ranked = index.search(
            query.vector,
            request.limit + 1,
            candidates=candidates,
            min_similarity=request.min_similarity,
            after=SearchAfter(after.sort_value, after.last_id) if after else None,
        )
        page = ranked[: request.limit]
        records = self._records([hit.id for hit in page])
        hits = [SearchHit(record=records[hit.id], similarity=hit.similarity) for hit in page if hit.id in records]
        next_cursor = None
        if len(ranked) > request.limit and page:
            delivered = (after.delivered if after else 0) + len(page)
            next_cursor = Cursor(fingerprint, page[-1].key, page[-1].id, delivered).encode()
        return SearchReply(hits=hits, next_cursor=next_cursor, embedding_model=self._active.model)

    def _newest_first(
        self,
        request: SearchRequest,
        conditions: list[str],
        params: list[Any],
        after: Cursor | None,
        fingerprint: str,
    ) -> SearchReply:
        conditions, params = list(conditions), list(params)
        if after is not None:
            conditions.append("(created_us < ? OR (created_us = ? AND id < ?))")
            params += [after.sort_value, after.sort_value, after.last_id]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM prompts {where} ORDER BY created_us DESC, id DESC LIMIT ?",
            [*params, request.limit + 1],
        ).fetchall()
        records = [row_to_record(row) for row in rows[: request.limit]]
        next_cursor = None
        if len(rows) > request.limit and records:
            last = records[-1]
            delivered = (after.delivered if after else 0) + len(records)
            next_cursor = Cursor(fingerprint, to_micros(last.created_at), last.id, delivered).encode()
        model = self._active.model if self._active else None
        return SearchReply(hits=[SearchHit(record=r) for r in records], next_cursor=next_cursor, embedding_model=model)

    # -- lineage -------------------------------------------------------------------------------

    async def lineage(self, request: LineageRequest) -> LineageReply:
        return await self._run(self._lineage_sync, request)

    def _lineage_sync(self, request: LineageRequest) -> LineageReply:
        root = self._record(request.id)
        ancestors: list[PromptRecord] = []
        descendants: list[PromptRecord] = []
        if request.direction in ("ancestors", "both"):
            seen = {root.id}
            parent_id = root.lineage.parent_id
            while parent_id and parent_id not in seen and len(ancestors) < request.max_depth:
                parent = self._records([parent_id]).get(parent_id)
                if parent is None:
                    break
                ancestors.append(parent)
                seen.add(parent.id)
                parent_id = parent.lineage.parent_id
        if request.direction in ("descendants", "both"):
            seen = {root.id}
            level = [root.id]
            for _depth in range(request.max_depth):
                children: list[PromptRecord] = []
                for chunk in _chunks(level):
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        f"SELECT {RECORD_COLUMNS} FROM prompts WHERE parent_id IN ({marks}) ORDER BY created_us, id",
                        chunk,
                    )
                    children += [row_to_record(row) for row in rows]
                children = [child for child in children if child.id not in seen]
                if not children:
                    break
                seen.update(child.id for child in children)
                descendants += children
                level = [child.id for child in children]
        return LineageReply(id=root.id, ancestors=ancestors, descendants=descendants)

    # -- export / import -----------------------------------------------------------------------

    async def export_page(self, request: ExportRequest) -> ExportPage:
        return await self._run(self._export_sync, request)

    def _export_sync(self, request: ExportRequest) -> ExportPage:
        fingerprint = query_fingerprint(request)
        after = Cursor.decode(request.cursor, fingerprint=fingerprint) if request.cursor else None
        conditions, params = filter_clause(request.filters, None)
        if after is not None:
            conditions.append("(created_us > ? OR (created_us = ? AND id > ?))")
            params += [after.sort_value, after.sort_value, after.last_id]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._conn.execute(
            f"SELECT {RECORD_COLUMNS}, embedding FROM prompts {where} ORDER BY created_us, id LIMIT ?",
            [*params, request.limit + 1],
        ).fetchall()
        prompts: list[StoredPrompt] = []
        for row in rows[: request.limit]:
            record = row_to_record(row)
            embedding = None
            if request.include_embeddings and row["embedding"] is not None and record.embedding_model:
                embedding = Embedding(record.embedding_model, _vector(row["embedding"]))
            prompts.append(StoredPrompt(record=record, history=self._history(record.id), embedding=embedding))
        next_cursor = None
        if len(rows) > request.limit and prompts:
            last = prompts[-1].record
            delivered = (after.delivered if after else 0) + len(prompts)
            next_cursor = Cursor(fingerprint, to_micros(last.created_at), last.id, delivered).encode()
        return ExportPage(prompts=prompts, next_cursor=next_cursor)

    async def import_prompts(self, prompts: Sequence[StoredPrompt]) -> list[ImportOutcome]:
        return await self._run(self._import_sync, list(prompts))

    def _import_sync(self, prompts: list[StoredPrompt]) -> list[ImportOutcome]:
        outcomes: list[ImportOutcome] = []
        indexed: list[tuple[str, str | None, FloatVector | None]] = []
        with self._transaction() as db:
            for prompt in prompts:
                record = prompt.record.model_copy(update={"content_hash": content_hash(prompt.record.content)})
                if db.execute("SELECT 1 FROM prompts WHERE content_hash = ?", (record.content_hash,)).fetchone():
                    outcomes.append(ImportOutcome(ImportStatus.DUPLICATE))
                    continue
                if db.execute("SELECT 1 FROM prompts WHERE id = ?", (record.id,)).fetchone():
                    outcomes.append(ImportOutcome(ImportStatus.REJECTED, f"id {record.id!r} exists with other content"))
                    continue
                embedding = prompt.embedding
                if embedding is not None:
                    self._adopt_model(embedding)
                    try:
                        check_embedding(self._active, embedding, vector_field="embedding")
                    except BadRequest as error:
                        outcomes.append(ImportOutcome(ImportStatus.REJECTED, error.message))
                        continue
                record = record.model_copy(
                    update={
                        "embedding_model": embedding.model if embedding else None,
                        "embedding_dim": int(embedding.vector.size) if embedding else None,
                    }
                )
                self._insert(db, record, embedding, prompt.history)
                indexed.append((record.id, record.embedding_model, embedding.vector if embedding else None))
                outcomes.append(ImportOutcome(ImportStatus.IMPORTED))
        for prompt_id, model, vector in indexed:
            self._index_put(prompt_id, model, vector)
        return outcomes

    # -- re-embedding --------------------------------------------------------------------------

    async def ids_not_embedded_with(self, model: str) -> list[str]:
        return await self._run(self._ids_not_embedded_with_sync, model)

    def _ids_not_embedded_with_sync(self, model: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT id FROM prompts WHERE embedding_model IS NULL OR embedding_model != ? ORDER BY id", (model,)
        )
        return [row[0] for row in rows]

    async def contents(self, prompt_ids: Sequence[str]) -> dict[str, str]:
        return await self._run(self._contents_sync, list(prompt_ids))

    def _contents_sync(self, prompt_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(prompt_ids):
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT id, content FROM prompts WHERE id IN ({marks})", chunk).fetchall())
        return found

    async def put_embeddings(self, vectors: Mapping[str, Embedding]) -> int:
        return await self._run(self._put_embeddings_sync, dict(vectors))

    def _put_embeddings_sync(self, vectors: dict[str, Embedding]) -> int:
        replaced = 0
        with self._transaction() as db:
            for prompt_id, embedding in vectors.items():
                replaced += db.execute(
                    SET_EMBEDDING, (embedding.model, int(embedding.vector.size), _blob(embedding.vector), prompt_id)
                ).rowcount
        for prompt_id, embedding in vectors.items():
            self._index_put(prompt_id, embedding.model, embedding.vector)
        return replaced

    # -- embedding cache -----------------------------------------------------------------------

    async def cached_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, FloatVector]:
        return await self._run(self._cached_sync, model, list(text_hashes))

    async def active_and_cached(
        self, default_model: str, text_hashes: Sequence[str]
    ) -> tuple[EmbeddingSpec | None, dict[str, FloatVector]]:
        return await self._run(self._active_and_cached_sync, default_model, list(text_hashes))

    def _active_and_cached_sync(
        self, default_model: str, text_hashes: list[str]
    ) -> tuple[EmbeddingSpec | None, dict[str, FloatVector]]:
        active = self._active
        return active, self._cached_sync(active.model if active else default_model, text_hashes)

    def _cached_sync(self, model: str, text_hashes: list[str]) -> dict[str, FloatVector]:
        found: dict[str, FloatVector] = {}
        for chunk in _chunks(text_hashes):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT text_hash, vector FROM embedding_cache WHERE model = ? AND text_hash IN ({marks})",
                [model, *chunk],
            )
            found.update((row["text_hash"], _vector(row["vector"])) for row in rows)
        return found

    async def cache_embeddings(self, model: str, vectors: Mapping[str, FloatVector]) -> None:
        await self._run(self._cache_sync, model, dict(vectors))

    def _cache_sync(self, model: str, vectors: dict[str, FloatVector]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embedding_cache (model, text_hash, vector) VALUES (?, ?, ?)",
                [(model, digest, _blob(vector)) for digest, vector in vectors.items()],
            )

    # -- stats and health ----------------------------------------------------------------------

    async def stats(self) -> StorageStats:
        return await self._run(self._stats_sync)

    def _stats_sync(self) -> StorageStats:
        db = self._conn
        models = dict(
            db.execute(
                "SELECT embedding_model, COUNT(*) FROM prompts WHERE embedding_model IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        size = sum(path.stat().st_size for path in (self.path, Path(f"{self.path}-wal")) if path.exists())
        return StorageStats(
            backend=self.backend,
            prompts=db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0],
            versions=db.execute("SELECT COUNT(*) FROM prompt_versions").fetchone()[0],
            embedding_models=models,
            embedding_cache_entries=db.execute("SELECT COUNT(*) FROM embedding_cache").fetchone()[0],
            size_bytes=size,
        )

    async def health(self) -> dict[str, CheckResult]:
        try:
            await self._run(self._ping_sync)
        except Unavailable as error:
            return {"sqlite": CheckResult(ok=False, message=error.message)}
        model = self._active.model if self._active else "none yet"
        return {"sqlite": CheckResult(ok=True, message=f"{self.path} (active model: {model})")}

    def _ping_sync(self) -> None:
        self._conn.execute("SELECT 1").fetchone()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *_rest: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
