"""Distributed backend: Redis with the Search module through redisvl's AsyncSearchIndex.

All state is in Redis (prompts, versions, dedupe keys, the active model, the embedding cache),
so any number of storage replicas share it. A new prompt is written by one Lua script (the
active model checked, the content claimed, the hash written: one round trip, atomic); the other
read-modify-write operations are optimistic transactions (WATCH/MULTI) and retry on conflict.
redisvl's AsyncSearchIndex manages the index and runs the filter scans; the KNN is the query
redisvl builds, sent as a plain FT.SEARCH so that it can share a pipeline with the read of the
active model. Vectors live in an HNSW cosine index filtered by tag and numeric fields; ``text``
(a substring, which RediSearch's tokenised text search cannot express) is checked on the
candidates the index returns.

Every command has a socket timeout and each operation an overall one, so Redis being down is a
retriable ``Unavailable`` within seconds, never a hang; redis-py reconnects on the next call.
Behind Sentinels (``RedisTarget``) that next call reaches the promoted primary, and a write is
acknowledged only once the replicas the target asks for hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import numpy as np
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.search import reducers
from redis.commands.search.aggregation import AggregateRequest
from redisvl.exceptions import RedisSearchError, RedisVLError
from redisvl.index import AsyncSearchIndex
from redisvl.query import FilterQuery, VectorQuery
from redisvl.query.filter import FilterExpression, Num, Tag

from prompt_alchemy.errors import BadRequest, Conflict, NotFound, Unavailable
from prompt_alchemy.redis_target import RedisTarget, WriteProof, close_client
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
)
from prompt_alchemy.workers.storage.backend import (
    Embedding,
    EmbeddingSpec,
    ExportPage,
    ImportOutcome,
    ImportStatus,
    StoredPrompt,
    check_embedding,
)
from prompt_alchemy.workers.storage.cursor import MAX_DELIVERED, Cursor, query_fingerprint
from prompt_alchemy.workers.storage.embedders import FloatVector
from prompt_alchemy.workers.storage.records import (
    MIN_ID_PREFIX,
    PromptEdit,
    apply_update,
    content_hash,
    edited_content,
    glob_escaped,
    new_record,
    to_micros,
    unique_prefix_match,
)
from prompt_alchemy.workers.storage.redis_schema import (
    RECORD_FIELDS,
    HnswParams,
    RedisKeys,
    decode_record,
    decode_version,
    encode_record,
    encode_version,
    filter_expression,
    index_schema,
    sort_key,
    vector_bytes,
)
from prompt_alchemy.workers.storage.vector_index import RankedHit, SearchAfter, similarity_key

log = logging.getLogger(__name__)

__all__ = ["RedisPromptStore"]

_SCAN_BATCH = 200
_NO_PROOF = WriteProof(None)  # what a read's guard yields
_VECTOR_FIELDS = ("embedding_model", "embedding_dim", "embedding")
_MAX_KNN = 10_000
_LINEAGE_CHUNK = 100
# Replace a prompt's vector only if the prompt still exists (a delete may have raced us).
_SET_EMBEDDING_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'embedding_model', ARGV[1], 'embedding_dim', ARGV[2], 'embedding', ARGV[3])
  return 1
end
return 0
"""


# Store a new prompt in one round trip: check the active model, claim the content, write the hash.
# KEYS: content claim, prompt hash, meta. ARGV: prompt id, model ('' when there is no vector),
# dimension, then the hash's field/value pairs. Replies {'stored'}, {'inactive'} (no active model
# yet), {'model', model, dimension} (the vector is not of the active model) or {'owner', id}.
_STORE_NEW = """
if ARGV[2] ~= '' then
  local active = redis.call('HMGET', KEYS[3], 'model', 'dimension')
  if not active[1] or not active[2] then
    return {'inactive'}
  end
  if active[1] ~= ARGV[2] or tonumber(active[2]) ~= tonumber(ARGV[3]) then
    return {'model', active[1], active[2]}
  end
end
local owner = redis.call('GET', KEYS[1])
if owner then
  return {'owner', owner}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('HINCRBY', KEYS[3], 'prompts', 1)
return {'stored'}
"""


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


class RedisPromptStore:
    """Prompts in Redis hashes under ``prefix``, searched through one RediSearch index."""

    def __init__(
        self,
        target: RedisTarget | str,
        *,
        prefix: str = "alchemy",
        socket_timeout: float = 2.0,
        operation_timeout: float = 10.0,
        hnsw: HnswParams | None = None,
    ) -> None:
        self.target = RedisTarget(url=target) if isinstance(target, str) else target
        self.keys = RedisKeys(prefix)
        self.hnsw = hnsw or HnswParams()
        self._socket_timeout = socket_timeout
        self._operation_timeout = operation_timeout
        self._client: aioredis.Redis | None = None
        self._unreachable_since: float | None = None  # monotonic time Redis was first seen unreachable
        self._index: AsyncSearchIndex | None = None
        self._index_dimension: int | None = None
        self._index_lock = asyncio.Lock()
        # The active model this replica read last: a guess of which embedding cache to read in the
        # same round trip as the model itself, never taken for the active model.
        self._last_model: str | None = None

    @property
    def backend(self) -> str:
        return "redis"

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = self.target.client(
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
                health_check_interval=15,
            )
        return self._client

    @contextlib.asynccontextmanager
    async def _guard(self, *, bounded: bool = True, write: bool = False) -> AsyncIterator[WriteProof]:
        """Translate redis and redisvl failures; bound the whole operation in time.

        ``bounded=False`` is for re-indexing after a model change, which takes as long as the
        store is large; each command still has its socket timeout. ``write=True``: the operation
        succeeds only once the target's replicas hold it — on the node that took it: the write
        executes its last pipeline (its transaction) through the proof yielded here
        (``RedisTarget.confirm_written``).
        """
        proof = self.target.write_proof() if write else _NO_PROOF
        try:
            async with asyncio.timeout(self._operation_timeout if bounded else None):
                yield proof
                if write:
                    await self.target.confirm_written(self.client, proof)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError) as error:
            self._lost(error)
            raise Unavailable(f"Redis at {self._safe_url} is unreachable: {error}") from error
        except RedisVLError as error:
            cause = _root_cause(error)
            if isinstance(cause, redis_errors.ConnectionError | redis_errors.TimeoutError | OSError):
                self._lost(cause)
                raise Unavailable(f"Redis at {self._safe_url} is unreachable: {cause}") from error
            raise
        if self._unreachable_since is not None:
            down_for = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            log.warning("Redis at %s is reachable again (after %.1fs)", self._safe_url, down_for)

    def _lost(self, error: BaseException) -> None:
        """One warning when Redis becomes unreachable (and one when it is back, in ``_guard``)."""
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            log.warning(
                "Redis at %s is unreachable: %s; answering 'unavailable' until it is back", self._safe_url, error
            )

    @property
    def _safe_url(self) -> str:
        """Where Redis is, without credentials, for messages."""
        return self.target.describe()

    async def open(self) -> None:
        async with self._guard():
            await self.client.ping()
            active = await self._active()
            if active is not None:
                await self._ensure_index(active.dimension)

    async def close(self) -> None:
        if self._index is not None:
            await self._index.disconnect()
            self._index = None
        if self._client is not None:
            await close_client(self._client)
            self._client = None

    async def drop(self) -> None:
        """Delete the index and every key under the prefix: the store is empty afterwards."""
        async with self._guard(bounded=False):
            async with self._index_lock:
                probe = AsyncSearchIndex(
                    index_schema(self.keys, 1, self.hnsw), redis_client=self.client, owns_client=False
                )
                if await probe.exists():
                    await probe.delete(drop=False)
                await probe.disconnect()
                self._index, self._index_dimension = None, None
            batch: list[Any] = []
            async for key in self.client.scan_iter(match=f"{self.keys.prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                await self.client.unlink(*batch)

    async def _ensure_index(self, dimension: int) -> AsyncSearchIndex:
        """The search index for vectors of ``dimension``; re-created when the dimension changes."""
        async with self._index_lock:
            if self._index is not None and self._index_dimension == dimension:
                return self._index
            index = AsyncSearchIndex(
                index_schema(self.keys, dimension, self.hnsw), redis_client=self.client, owns_client=False
            )
            if await index.exists():
                info = await index.info()
                if self._indexed_dimension(info) != dimension:
                    await index.delete(drop=False)
                    await index.create()
                    await self._wait_indexed(index)
            else:
                await index.create()
                await self._wait_indexed(index)
            self._index, self._index_dimension = index, dimension
            return index

    @staticmethod
    def _indexed_dimension(info: dict[str, Any]) -> int | None:
        for attribute in info.get("attributes", []):
            pairs = dict(zip(attribute[::2], attribute[1::2], strict=False))
            if pairs.get("attribute") == "embedding" or pairs.get("identifier") == "embedding":
                raw = pairs.get("dim")
                return int(raw) if raw is not None else None
        return None

    @staticmethod
    async def _wait_indexed(index: AsyncSearchIndex) -> None:
        """A new index scans existing keys in the background: wait until it has seen them all."""
        while True:
            info = await index.info()
            if float(info.get("percent_indexed", 1)) >= 1.0 and int(info.get("indexing", 0)) == 0:
                return
            await asyncio.sleep(0.02)

    async def _search_index(self) -> AsyncSearchIndex | None:
        active = await self._active()
        if active is None:
            return None
        return await self._ensure_index(active.dimension)

    async def _query(self, query: Any) -> list[dict[str, Any]]:
        """Run ``query`` on the index (the filter scans; the KNN goes through ``_knn``)."""
        index = await self._search_index()
        if index is None:
            return []
        try:
            results: list[dict[str, Any]] = await index.query(query)
        except RedisVLError as error:
            if "no such index" not in str(_root_cause(error)).lower():
                raise
            # Redis lost the index (a restart without persistence, a flush): build it again once.
            self._index = None
            index = await self._search_index()
            if index is None:
                return []
            results = await index.query(query)
        return results

    # -- embedding model -----------------------------------------------------------------------

    async def _active(self) -> EmbeddingSpec | None:
        return self._seen(await self.client.hmget(self.keys.meta, ["model", "dimension"]))

    def _seen(self, meta: Sequence[bytes | str | None]) -> EmbeddingSpec | None:
        """The active model from an HMGET of meta's model and dimension (remembered as a guess only)."""
        model, dimension = meta
        if model is None or dimension is None:
            return None
        self._last_model = _text(model)
        return EmbeddingSpec(self._last_model, int(dimension))

    async def active_model(self) -> EmbeddingSpec | None:
        async with self._guard():
            return await self._active()

    async def set_active_model(self, spec: EmbeddingSpec) -> None:
        async with self._guard(bounded=False, write=True) as proof:
            await self._set_active(spec, proof)

    async def _set_active(self, spec: EmbeddingSpec, proof: WriteProof = _NO_PROOF) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.meta, mapping={"model": spec.model, "dimension": spec.dimension})
            await proof.execute(pipe)
        await self._ensure_index(spec.dimension)

    async def _checked_active(self, embedding: Embedding, *, vector_field: str) -> EmbeddingSpec:
        active = await self._active()
        if active is None:
            await self._set_active(embedding.spec)
            return embedding.spec
        check_embedding(active, embedding, vector_field=vector_field)
        return active

    # -- reads ---------------------------------------------------------------------------------

    async def _records(self, prompt_ids: Sequence[str]) -> dict[str, PromptRecord]:
        if not prompt_ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for prompt_id in prompt_ids:
                pipe.hmget(self.keys.prompt(prompt_id), list(RECORD_FIELDS))
            rows = await pipe.execute()
        found: dict[str, PromptRecord] = {}
        for prompt_id, row in zip(prompt_ids, rows, strict=True):
            record = decode_record(row)
            if record is not None:
                found[prompt_id] = record
        return found

    async def _record(self, prompt_id: str) -> PromptRecord:
        record = (await self._records([prompt_id])).get(prompt_id)
        if record is None:
            raise NotFound(f"no prompt with id {prompt_id!r}", details={"id": prompt_id})
        return record

    async def _history(self, prompt_id: str) -> list[PromptVersion]:
        return [decode_version(raw) for raw in await self.client.lrange(self.keys.versions(prompt_id), 0, -1)]

    async def find_many_for_store(
        self, content_hashes: Sequence[str]
    ) -> tuple[list[PromptRecord | None], EmbeddingSpec | None]:
        """The owners of the contents and the active model in one pipeline; their records in a second."""
        async with self._guard():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(self.keys.meta, ["model", "dimension"])
                for digest in content_hashes:
                    pipe.get(self.keys.content(digest))
                meta, *owners = await pipe.execute()
            active = self._seen(meta)
            ids = [None if owner is None else _text(owner) for owner in owners]
            records = await self._records([prompt_id for prompt_id in ids if prompt_id is not None])
            return [None if prompt_id is None else records.get(prompt_id) for prompt_id in ids], active

    async def find_by_hash(self, content_hash: str) -> PromptRecord | None:
        async with self._guard():
            owner = await self.client.get(self.keys.content(content_hash))
            if owner is None:
                return None
            return (await self._records([_text(owner)])).get(_text(owner))

    async def get(self, request: GetRequest) -> GetReply:
        async with self._guard():
            try:
                record = await self._record(request.id)
            except NotFound:  # a unique id prefix stands for its prompt
                record = await self._record(unique_prefix_match(request.id, await self._ids_starting(request.id)))
            history = await self._history(record.id) if request.include_history else []
            return GetReply(record=record, history=history)

    async def _ids_starting(self, prefix: str) -> list[str]:
        if len(prefix) < MIN_ID_PREFIX:
            return []
        pattern = self.keys.prompt(glob_escaped(prefix)) + "*"
        found: list[str] = []
        async for key in self.client.scan_iter(match=pattern, count=1000):
            found.append(self.keys.prompt_id_of(key.decode() if isinstance(key, bytes) else key))
            if len(found) > 2:
                break
        return found

    # -- writes --------------------------------------------------------------------------------

    async def store(self, request: StoreRequest, embedding: Embedding | None) -> StoreReply:
        (reply,) = await self.store_many([(request, embedding)])
        return reply

    async def store_many(self, items: Sequence[tuple[StoreRequest, Embedding | None]]) -> list[StoreReply]:
        """One script per prompt checks the model, claims the content and writes the prompt,
        atomically; the scripts of every item go in one pipeline (one round trip), a transaction
        with the write's proof when writes wait for replicas.

        The model check is part of each write, so a model changed by another replica in between
        cannot slip a vector of the old model into the index. With a proof, the writes are
        confirmed on the node that ran them (see ``_guard``).
        """
        async with self._guard(write=True) as proof:
            records = [
                new_record(
                    request,
                    embedding_model=embedding.model if embedding else None,
                    embedding_dim=int(embedding.vector.size) if embedding else None,
                )
                for request, embedding in items
            ]
            replies: dict[int, StoreReply] = {}
            pending = list(range(len(items)))
            while pending:
                # A transaction only when the proof joins the writes: each script alone is atomic,
                # and the items are independent of one another.
                async with self.client.pipeline(transaction=not proof.inert) as pipe:
                    for index in pending:
                        # EVAL, not a registered script: redis-py loads a pipelined script over another
                        # pooled connection first, which may reach another node during a failover
                        pipe.eval(
                            _STORE_NEW, 3, *self._store_keys(records[index]), *self._store_args(records, items, index)
                        )
                    outcomes = await proof.execute(pipe)
                owners: dict[int, str] = {}
                adopt: EmbeddingSpec | None = None
                for index, outcome in zip(pending, outcomes, strict=True):
                    status, embedding = _text(outcome[0]), items[index][1]
                    if status == "stored":
                        replies[index] = StoreReply(id=records[index].id, created=True, record=records[index])
                    elif status == "inactive":
                        assert embedding is not None  # the script checks the model only for a vector
                        adopt = adopt or embedding.spec  # a fresh store adopts the first vector's model
                    elif status == "model":
                        assert embedding is not None
                        active = EmbeddingSpec(_text(outcome[1]), int(outcome[2]))
                        check_embedding(active, embedding, vector_field="embedding")
                        raise BadRequest(f"embedding is not of the store's model {active.model!r}")  # unreachable
                    else:
                        owners[index] = _text(outcome[1])
                ours = {records[index].id: records[index] for index in replies}  # a repeat inside the batch
                found = await self._records([owner for owner in owners.values() if owner not in ours])
                for index, owner in owners.items():
                    existing = ours.get(owner) or found.get(owner)
                    if existing is not None:
                        replies[index] = StoreReply(id=existing.id, created=False, record=existing)
                    # else: the owner was deleted between the script and our read: claim the content again
                if adopt is not None:
                    await self._set_active(adopt)
                pending = [index for index in pending if index not in replies]
            return [replies[index] for index in range(len(items))]

    def _store_keys(self, record: PromptRecord) -> list[str]:
        return [self.keys.content(record.content_hash), self.keys.prompt(record.id), self.keys.meta]

    @staticmethod
    def _store_args(
        records: Sequence[PromptRecord], items: Sequence[tuple[StoreRequest, Embedding | None]], index: int
    ) -> list[Any]:
        embedding = items[index][1]
        fields, _empty = encode_record(records[index], embedding.vector if embedding else None)
        model, dimension = (embedding.model, int(embedding.vector.size)) if embedding else ("", 0)
        args: list[Any] = [records[index].id, model, dimension]
        for name, value in fields.items():
            args += (name, value)
        return args

    async def update(self, request: PromptEdit, embedding: Embedding | None) -> UpdateReply:
        async with self._guard(write=True) as proof:
            if edited_content(request) is not None and embedding is not None:
                await self._checked_active(embedding, vector_field="embedding")
            key = self.keys.prompt(request.id)
            while True:
                async with self.client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        current = decode_record(await pipe.hmget(key, list(RECORD_FIELDS)))
                        if current is None:
                            raise NotFound(f"no prompt with id {request.id!r}", details={"id": request.id})
                        updated, previous = apply_update(current, request)
                        vector = None
                        if previous is not None:
                            claim = self.keys.content(updated.content_hash)
                            await pipe.watch(claim)
                            owner = await pipe.get(claim)
                            if owner is not None and _text(owner) != updated.id:
                                raise Conflict(
                                    f"another prompt ({_text(owner)}) already has this content",
                                    details={"field": "content", "id": _text(owner)},
                                )
                            updated = updated.model_copy(
                                update={
                                    "embedding_model": embedding.model if embedding else None,
                                    "embedding_dim": int(embedding.vector.size) if embedding else None,
                                }
                            )
                            vector = embedding.vector if embedding else None
                        fields, empty = encode_record(updated, vector)
                        if previous is None:
                            # The vector stays as it is: touch neither it nor its model fields.
                            empty = [name for name in empty if name not in _VECTOR_FIELDS]
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                        pipe.hset(key, mapping=fields)
                        if empty:
                            pipe.hdel(key, *empty)
                        if previous is not None:
                            pipe.set(self.keys.content(updated.content_hash), updated.id)
                            pipe.delete(self.keys.content(previous.content_hash))
                            pipe.rpush(self.keys.versions(updated.id), encode_version(previous))
                            pipe.hincrby(self.keys.meta, "versions", 1)
                        await proof.execute(pipe)
                        return UpdateReply(record=updated)
                    except redis_errors.WatchError:
                        continue

    async def delete(self, request: DeleteRequest) -> DeleteReply:
        async with self._guard(write=True) as proof:
            key = self.keys.prompt(request.id)
            versions = self.keys.versions(request.id)
            while True:
                async with self.client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key, versions)
                        digest = await pipe.hget(key, "content_hash")
                        if digest is None:
                            raise NotFound(f"no prompt with id {request.id!r}", details={"id": request.id})
                        version_count = await pipe.llen(versions)
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                        pipe.delete(key, versions, self.keys.content(_text(digest)))
                        pipe.hincrby(self.keys.meta, "prompts", -1)
                        pipe.hincrby(self.keys.meta, "versions", -int(version_count))
                        await proof.execute(pipe)
                        return DeleteReply(id=request.id, deleted=True)
                    except redis_errors.WatchError:
                        continue

    # -- search --------------------------------------------------------------------------------

    async def search(self, request: SearchRequest, query: Embedding | None) -> SearchReply:
        async with self._guard():
            # The fingerprint only when a cursor is read or written (it hashes the whole request).
            after = Cursor.decode(request.cursor, fingerprint=query_fingerprint(request)) if request.cursor else None
            if query is None:
                return await self._newest_first(request, after, await self._active())
            return await self._nearest_page(request, query, after)

    async def _nearest_page(self, request: SearchRequest, query: Embedding, after: Cursor | None) -> SearchReply:
        """Up to limit hits ranked after the cursor: KNN with the filters, widened until enough pass.

        The first KNN goes in one pipeline with the read of the active model (checked before any of
        its rows is used): one round trip where reading the model and searching took two. The
        records are read for the page only: returning them with the KNN's rows costs more to parse
        than the round trip it saves.
        """
        wanted = request.limit + 1
        position = SearchAfter(after.sort_value, after.last_id) if after else None
        k = min((after.delivered if after else 0) + wanted, MAX_DELIVERED)  # RediSearch's result cap
        floor = similarity_key(request.min_similarity)
        blob = vector_bytes(query.vector)
        expression = filter_expression(request.filters, model=query.model)
        needle = request.text.casefold() if request.text else None
        fields = ["prompt_id", "content"] if needle else ["prompt_id"]
        active, rows = await self._active_and_knn(self._knn_command(blob, expression, fields, k), query)
        if active is None:
            return SearchReply(hits=[], embedding_model=query.model)
        while True:
            if rows is None:
                rows = await self._knn(self._knn_command(blob, expression, fields, k), active)
            ranked: list[RankedHit] = []
            lowest = None
            for row in rows:
                hit = RankedHit(_text(row[b"prompt_id"]), 1.0 - float(row[b"vector_distance"]))
                lowest = hit.key if lowest is None else min(lowest, hit.key)
                if hit.key < floor or (needle is not None and needle not in _text(row.get(b"content", b"")).casefold()):
                    continue
                if position is not None and not _ranks_after(hit, position):
                    continue
                ranked.append(hit)
            ranked.sort(key=lambda hit: (-hit.key, hit.id))
            exhausted = len(rows) < k or k >= _MAX_KNN or (lowest is not None and lowest < floor)
            if len(ranked) >= wanted or exhausted:
                break
            k, rows = min(k * 4, _MAX_KNN), None
        page = ranked[: request.limit]
        records = await self._records([hit.id for hit in page])
        hits = [SearchHit(record=records[hit.id], similarity=hit.similarity) for hit in page if hit.id in records]
        next_cursor = None
        if len(ranked) > request.limit and page:
            delivered = (after.delivered if after else 0) + len(page)
            next_cursor = Cursor(query_fingerprint(request), page[-1].key, page[-1].id, delivered).encode()
        return SearchReply(hits=hits, next_cursor=next_cursor, embedding_model=active.model)

    def _knn_command(self, blob: bytes, expression: FilterExpression | None, fields: list[str], k: int) -> list[Any]:
        """FT.SEARCH as redisvl's ``index.query(VectorQuery(...))`` sends it.

        redisvl builds the query; redis-py sends it as a plain command, without redisvl's and
        redis-py's per-query result objects (a third of a search's CPU went there).
        """
        knn = VectorQuery(
            vector=blob,
            vector_field_name="embedding",
            return_fields=fields,
            filter_expression=expression,
            num_results=k,
            ef_runtime=max(k, self.hnsw.ef_runtime),
        )
        params: list[Any] = []
        for name, value in knn.params.items():
            params += (name, value)
        return ["FT.SEARCH", self.keys.index_name, *knn.get_args(), "PARAMS", len(params), *params]

    async def _active_and_knn(
        self, command: list[Any], query: Embedding
    ) -> tuple[EmbeddingSpec | None, list[dict[bytes, bytes]] | None]:
        """The active model, ``query`` checked against it, and, if this replica knows the index of its
        dimension, the KNN's rows (None: the caller runs the KNN once the index is ensured)."""
        index_dimension = self._index_dimension if self._index is not None else None
        if index_dimension is None:
            active = await self._active()
            if active is not None:
                check_embedding(active, query, vector_field="vector")
            return active, None
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.meta, ["model", "dimension"])
            pipe.execute_command(*command)
            meta, reply = await pipe.execute(raise_on_error=False)
        if isinstance(meta, Exception):
            raise meta
        active = self._seen(meta)
        if active is None:
            return None, None
        check_embedding(active, query, vector_field="vector")  # before the KNN's reply means anything
        if active.dimension != index_dimension:
            return active, None
        if isinstance(reply, redis_errors.ResponseError):
            if _lost_index(reply):
                return active, None  # the caller's KNN rebuilds it
            raise RedisSearchError(f"Error while searching: {reply}") from reply
        return active, _search_rows(reply)

    async def _knn(self, command: list[Any], active: EmbeddingSpec) -> list[dict[bytes, bytes]]:
        await self._ensure_index(active.dimension)
        try:
            reply = await self.client.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        except redis_errors.ResponseError as error:
            if not _lost_index(error):
                raise RedisSearchError(f"Error while searching: {error}") from error
            # Redis lost the index (a restart without persistence, a flush): build it again once.
            self._index = None
            if await self._search_index() is None:
                return []
            reply = await self.client.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        return _search_rows(reply)

    async def _scan_ordered(
        self,
        expression: FilterExpression | None,
        *,
        descending: bool,
        after_key: str | None,
        wanted: int,
        needle: str | None,
    ) -> list[str]:
        """Ids in sort_key order after ``after_key``, filtered, until ``wanted`` are found."""
        found: list[str] = []
        offset = 0
        fields = ["prompt_id", "sort_key", "content"] if needle else ["prompt_id", "sort_key"]
        while len(found) < wanted:
            scan = FilterQuery(
                filter_expression=expression,
                return_fields=fields,
                num_results=_SCAN_BATCH,
                sort_by=("sort_key", "DESC" if descending else "ASC"),
            )
            scan.paging(offset, _SCAN_BATCH)
            rows = await self._query(scan)
            for row in rows:
                key = str(row["sort_key"])
                if after_key is not None and (key >= after_key if descending else key <= after_key):
                    continue
                if needle is not None and needle not in str(row.get("content", "")).casefold():
                    continue
                found.append(str(row["prompt_id"]))
            if len(rows) < _SCAN_BATCH:
                break
            offset += _SCAN_BATCH
        return found[:wanted]

    async def _newest_first(
        self, request: SearchRequest, after: Cursor | None, active: EmbeddingSpec | None
    ) -> SearchReply:
        expression = filter_expression(request.filters)
        after_key = None
        if after is not None:
            after_key = sort_key(after.sort_value, after.last_id)
            expression = _and(expression, Num("created_us") <= after.sort_value)
        ids = await self._scan_ordered(
            expression,
            descending=True,
            after_key=after_key,
            wanted=request.limit + 1,
            needle=request.text.casefold() if request.text else None,
        )
        page_ids = ids[: request.limit]
        records = await self._records(page_ids)
        page = [records[prompt_id] for prompt_id in page_ids if prompt_id in records]
        next_cursor = None
        if len(ids) > request.limit and page:
            last = page[-1]
            delivered = (after.delivered if after else 0) + len(page)
            next_cursor = Cursor(query_fingerprint(request), to_micros(last.created_at), last.id, delivered).encode()
        model = active.model if active else None
        return SearchReply(hits=[SearchHit(record=r) for r in page], next_cursor=next_cursor, embedding_model=model)

    # -- lineage -------------------------------------------------------------------------------

    async def lineage(self, request: LineageRequest) -> LineageReply:
        async with self._guard():
            root = await self._record(request.id)
            ancestors: list[PromptRecord] = []
            descendants: list[PromptRecord] = []
            if request.direction in ("ancestors", "both"):
                seen = {root.id}
                parent_id = root.lineage.parent_id
                while parent_id and parent_id not in seen and len(ancestors) < request.max_depth:
                    parent = (await self._records([parent_id])).get(parent_id)
                    if parent is None:
                        break
                    ancestors.append(parent)
                    seen.add(parent.id)
                    parent_id = parent.lineage.parent_id
            if request.direction in ("descendants", "both"):
                seen = {root.id}
                level = [root.id]
                for _depth in range(request.max_depth):
                    child_ids: list[str] = []
                    for start in range(0, len(level), _LINEAGE_CHUNK):
                        expression = Tag("parent_id") == level[start : start + _LINEAGE_CHUNK]
                        child_ids += await self._scan_ordered(
                            expression, descending=False, after_key=None, wanted=1_000_000, needle=None
                        )
                    child_ids = [child for child in dict.fromkeys(child_ids) if child not in seen]
                    if not child_ids:
                        break
                    children = await self._records(child_ids)
                    ordered = [children[child] for child in child_ids if child in children]
                    seen.update(child_ids)
                    descendants += ordered
                    level = child_ids
            return LineageReply(id=root.id, ancestors=ancestors, descendants=descendants)

    # -- export / import -----------------------------------------------------------------------

    async def export_page(self, request: ExportRequest) -> ExportPage:
        async with self._guard():
            fingerprint = query_fingerprint(request)
            after = Cursor.decode(request.cursor, fingerprint=fingerprint) if request.cursor else None
            expression = filter_expression(request.filters)
            after_key = None
            if after is not None:
                after_key = sort_key(after.sort_value, after.last_id)
                expression = _and(expression, Num("created_us") >= after.sort_value)
            ids = await self._scan_ordered(
                expression, descending=False, after_key=after_key, wanted=request.limit + 1, needle=None
            )
            page_ids = ids[: request.limit]
            async with self.client.pipeline(transaction=False) as pipe:
                for prompt_id in page_ids:
                    pipe.hmget(self.keys.prompt(prompt_id), [*RECORD_FIELDS, "embedding"])
                    pipe.lrange(self.keys.versions(prompt_id), 0, -1)
                replies = await pipe.execute()
            prompts: list[StoredPrompt] = []
            for position in range(len(page_ids)):
                values, versions = replies[2 * position], replies[2 * position + 1]
                record = decode_record(values[:-1])
                if record is None:
                    continue
                embedding = None
                if request.include_embeddings and values[-1] is not None and record.embedding_model:
                    embedding = Embedding(record.embedding_model, _vector(values[-1]))
                history = [decode_version(raw) for raw in versions]
                prompts.append(StoredPrompt(record=record, history=history, embedding=embedding))
            next_cursor = None
            if len(ids) > request.limit and prompts:
                last = prompts[-1].record
                delivered = (after.delivered if after else 0) + len(prompts)
                next_cursor = Cursor(fingerprint, to_micros(last.created_at), last.id, delivered).encode()
            return ExportPage(prompts=prompts, next_cursor=next_cursor)

    async def import_prompts(self, prompts: Sequence[StoredPrompt]) -> list[ImportOutcome]:
        async with self._guard(write=True) as proof:
            return await self._import(list(prompts), proof)

    async def _import(self, prompts: list[StoredPrompt], proof: WriteProof) -> list[ImportOutcome]:
        outcomes: list[ImportOutcome | None] = [None] * len(prompts)
        records = [p.record.model_copy(update={"content_hash": content_hash(p.record.content)}) for p in prompts]
        active = await self._active()
        for position, prompt in enumerate(prompts):
            if prompt.embedding is None:
                continue
            if active is None:
                active = await self._checked_active(prompt.embedding, vector_field="embedding")
            try:
                check_embedding(active, prompt.embedding, vector_field="embedding")
            except BadRequest as error:
                outcomes[position] = ImportOutcome(ImportStatus.REJECTED, error.message)
        async with self.client.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.exists(self.keys.content(record.content_hash))
                pipe.exists(self.keys.prompt(record.id))
            seen = await pipe.execute()
        async with self.client.pipeline(transaction=False) as pipe:
            claimed_at: list[int] = []
            for position, record in enumerate(records):
                if outcomes[position] is not None:
                    continue
                if seen[2 * position]:
                    outcomes[position] = ImportOutcome(ImportStatus.DUPLICATE)
                    continue
                if seen[2 * position + 1]:
                    outcomes[position] = ImportOutcome(
                        ImportStatus.REJECTED, f"id {record.id!r} exists with other content"
                    )
                    continue
                pipe.set(self.keys.content(record.content_hash), record.id, nx=True)
                claimed_at.append(position)
            claims = await pipe.execute() if claimed_at else []
        async with self.client.pipeline(transaction=False) as pipe:
            written = 0
            for position, won in zip(claimed_at, claims, strict=True):
                if not won:
                    outcomes[position] = ImportOutcome(ImportStatus.DUPLICATE)
                    continue
                prompt, embedding = prompts[position], prompts[position].embedding
                record = records[position].model_copy(
                    update={
                        "embedding_model": embedding.model if embedding else None,
                        "embedding_dim": int(embedding.vector.size) if embedding else None,
                    }
                )
                fields, _empty = encode_record(record, embedding.vector if embedding else None)
                pipe.hset(self.keys.prompt(record.id), mapping=fields)
                if prompt.history:
                    pipe.rpush(self.keys.versions(record.id), *(encode_version(v) for v in prompt.history))
                    pipe.hincrby(self.keys.meta, "versions", len(prompt.history))
                outcomes[position] = ImportOutcome(ImportStatus.IMPORTED)
                written += 1
            if written:
                pipe.hincrby(self.keys.meta, "prompts", written)
                await proof.execute(pipe)
        return [outcome or ImportOutcome(ImportStatus.REJECTED, "not processed") for outcome in outcomes]

    # -- re-embedding --------------------------------------------------------------------------

    async def ids_not_embedded_with(self, model: str) -> list[str]:
        # SCAN, not the index: prompts whose vector no longer fits the index are not in it.
        async with self._guard(bounded=False):
            ids: set[str] = set()
            async for key in self.client.scan_iter(match=f"{self.keys.prompt_prefix}*", count=1000):
                ids.add(self.keys.prompt_id_of(_text(key)))
            ordered = sorted(ids)
            stale: list[str] = []
            for start in range(0, len(ordered), _SCAN_BATCH):
                chunk = ordered[start : start + _SCAN_BATCH]
                async with self.client.pipeline(transaction=False) as pipe:
                    for prompt_id in chunk:
                        pipe.hget(self.keys.prompt(prompt_id), "embedding_model")
                    models = await pipe.execute()
                stale += [
                    prompt_id
                    for prompt_id, current in zip(chunk, models, strict=True)
                    if current is None or _text(current) != model
                ]
            return stale

    async def contents(self, prompt_ids: Sequence[str]) -> dict[str, str]:
        async with self._guard():
            async with self.client.pipeline(transaction=False) as pipe:
                for prompt_id in prompt_ids:
                    pipe.hget(self.keys.prompt(prompt_id), "content")
                values = await pipe.execute()
            return {
                prompt_id: _text(value)
                for prompt_id, value in zip(prompt_ids, values, strict=True)
                if value is not None
            }

    async def put_embeddings(self, vectors: Mapping[str, Embedding]) -> int:
        async with self._guard(write=True) as proof:
            if not vectors:
                return 0
            async with self.client.pipeline(transaction=False) as pipe:
                for prompt_id, embedding in vectors.items():
                    pipe.eval(
                        _SET_EMBEDDING_IF_EXISTS,
                        1,
                        self.keys.prompt(prompt_id),
                        embedding.model,
                        int(embedding.vector.size),
                        vector_bytes(embedding.vector),
                    )
                results = await proof.execute(pipe)
            return sum(int(result) for result in results)

    # -- embedding cache -----------------------------------------------------------------------

    async def cached_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, FloatVector]:
        if not text_hashes:
            return {}
        async with self._guard():
            values = await self.client.hmget(self.keys.embedding_cache(model), list(text_hashes))
        return {digest: _vector(value) for digest, value in zip(text_hashes, values, strict=True) if value is not None}

    async def active_and_cached(
        self, default_model: str, text_hashes: Sequence[str]
    ) -> tuple[EmbeddingSpec | None, dict[str, FloatVector]]:
        """The model and the cache of the model this replica saw last, in one pipeline; a second
        read of the cache only when the model turns out to be another one (it changed)."""
        if not text_hashes:
            return await self.active_model(), {}
        async with self._guard():
            guess = self._last_model or default_model
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(self.keys.meta, ["model", "dimension"])
                pipe.hmget(self.keys.embedding_cache(guess), list(text_hashes))
                meta, values = await pipe.execute()
            active = self._seen(meta)
            model = active.model if active else default_model
            if model != guess:
                values = await self.client.hmget(self.keys.embedding_cache(model), list(text_hashes))
        return active, {
            digest: _vector(value) for digest, value in zip(text_hashes, values, strict=True) if value is not None
        }

    async def cache_embeddings(self, model: str, vectors: Mapping[str, FloatVector]) -> None:
        if not vectors:
            return
        async with self._guard():
            mapping: dict[Any, Any] = {digest: vector_bytes(vector) for digest, vector in vectors.items()}
            await self.client.hset(self.keys.embedding_cache(model), mapping=mapping)

    # -- stats and health ----------------------------------------------------------------------

    async def stats(self) -> StorageStats:
        async with self._guard():
            prompts, versions = await self.client.hmget(self.keys.meta, ["prompts", "versions"])
            models: dict[str, int] = {}
            index = await self._search_index()
            if index is not None:
                for model_name, count in await self._count_by_model():
                    models[model_name] = count
            cache_entries = 0
            async for key in self.client.scan_iter(match=self.keys.embedding_cache_pattern, count=1000):
                cache_entries += int(await self.client.hlen(key))
            return StorageStats(
                backend=self.backend,
                prompts=int(prompts or 0),
                versions=int(versions or 0),
                embedding_models=models,
                embedding_cache_entries=cache_entries,
                size_bytes=None,
            )

    async def _count_by_model(self) -> list[tuple[str, int]]:
        request = AggregateRequest("*").group_by("@embedding_model", reducers.count().alias("n"))
        result = await self.client.ft(self.keys.index_name).aggregate(request)  # type: ignore[arg-type]  # redis-py stub
        counts: list[tuple[str, int]] = []
        for row in result.rows:
            pairs = {_text(name): value for name, value in zip(row[::2], row[1::2], strict=False)}
            name = pairs.get("embedding_model")
            if name:
                counts.append((_text(name), int(pairs.get("n", 0))))
        return counts

    async def health(self) -> dict[str, CheckResult]:
        try:
            async with self._guard():
                await self.client.ping()
                active = await self._active()
        except Unavailable as error:
            return {"redis": CheckResult(ok=False, message=error.message)}
        model = active.model if active else "none yet"
        return {"redis": CheckResult(ok=True, message=f"{self._safe_url} prefix {self.keys.prefix} ({model})")}


def _ranks_after(hit: RankedHit, position: SearchAfter) -> bool:
    """Whether ``hit`` comes after the cursor in (similarity key desc, id asc) order."""
    return hit.key < position.key or (hit.key == position.key and hit.id > position.id)


def _and(left: FilterExpression | None, right: FilterExpression) -> FilterExpression:
    return right if left is None else left & right


def _lost_index(error: redis_errors.ResponseError) -> bool:
    return "no such index" in str(error).lower()


def _search_rows(reply: Any) -> list[dict[bytes, bytes]]:
    """The returned fields of each document of a raw FT.SEARCH reply, RESP3 (a map) or RESP2 (a list)."""
    if isinstance(reply, dict):
        return [result[b"extra_attributes"] for result in reply[b"results"]]
    return [dict(zip(fields[::2], fields[1::2], strict=True)) for fields in reply[2::2] if fields]


def _text(value: bytes | str) -> str:
    """Replies are bytes (the client does not decode, vectors are binary); text fields are UTF-8."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _vector(raw: bytes | str) -> FloatVector:
    if isinstance(raw, str):
        raise TypeError("a vector must be read as bytes")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
