"""What the storage worker does, without the bus: embed where needed, then ask the store.

``PromptMemory`` turns contract requests into store calls: it embeds prompt contents and query
texts with the embedder of the store's active model (through the embedding cache), validates
caller-supplied vectors, formats export lines and parses import lines, and moves a store to
another model. The service module only maps subjects onto these methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from prompt_alchemy.errors import BadRequest, ConfigError, Unavailable
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.storage import (
    AggregatesRequest,
    DeleteReply,
    DeleteRequest,
    EmbeddingsReply,
    EmbeddingsRequest,
    ExportReply,
    ExportRequest,
    GetReply,
    GetRequest,
    ImportLineError,
    ImportReply,
    ImportRequest,
    LineageReply,
    LineageRequest,
    ReembedReply,
    ReembedRequest,
    SearchBatchReply,
    SearchBatchRequest,
    SearchReply,
    SearchRequest,
    StorageStats,
    StoreBatchReply,
    StoreBatchRequest,
    StoreReply,
    StoreRequest,
    UpdateReply,
    UpdateRequest,
)
from prompt_alchemy.workers.storage.backend import (
    Embedding,
    EmbeddingSpec,
    ImportStatus,
    PromptStore,
    StoredPrompt,
)
from prompt_alchemy.workers.storage.embedders import Embedder, FloatVector, ProviderEmbedder, as_unit_vector
from prompt_alchemy.workers.storage.jsonl import LineError, decode_line, encode_line
from prompt_alchemy.workers.storage.records import content_hash, text_hash

if TYPE_CHECKING:
    from prompt_alchemy.bus import Bus

__all__ = ["PromptMemory"]

_REEMBED_BATCH = 256


class PromptMemory:
    """The storage operations of every STORAGE_* contract, over one ``PromptStore``.

    ``embedder`` is the model a new store starts with. A store that already has an active
    model keeps it; its embedder is found among ``embedder`` and ``extra_embedders`` by name,
    or, for ``<provider>/<model>`` names, built as a ``ProviderEmbedder`` on ``bus``.
    """

    def __init__(
        self,
        store: PromptStore,
        embedder: Embedder,
        *,
        bus: Bus | None = None,
        extra_embedders: Sequence[Embedder] = (),
    ) -> None:
        self.store = store
        self.default_embedder = embedder
        self._bus = bus
        self._embedders: dict[str, Embedder] = {e.name: e for e in (embedder, *extra_embedders)}
        self._started = False
        self._start_lock = asyncio.Lock()

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and give a fresh store its first active model. Idempotent.

        Called once, before serving (``StorageWorker``). The operations below do not call it: both
        stores open lazily and adopt the first embedding's model on the first write, so a store
        that was down at start-up serves once it is back.
        """
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            await self.store.open()
            if await self.store.active_model() is None:
                await self.store.set_active_model(await self._spec_of(self.default_embedder))
            self._started = True

    async def close(self) -> None:
        await self.store.close()
        self._started = False

    @staticmethod
    async def _spec_of(embedder: Embedder) -> EmbeddingSpec:
        try:
            dimension = embedder.dimension
        except ConfigError:
            await embedder.load()
            dimension = embedder.dimension
        return EmbeddingSpec(embedder.name, dimension)

    # -- embedders -----------------------------------------------------------------------------

    def resolve_embedder(self, model: str, *, field: str = "model") -> Embedder:
        known = self._embedders.get(model)
        if known is not None:
            return known
        provider, slash, provider_model = model.partition("/")
        if slash and provider and provider_model and self._bus is not None:
            embedder = ProviderEmbedder(self._bus, provider, provider_model)
            self._embedders[model] = embedder
            return embedder
        raise BadRequest(
            f"unknown embedding model {model!r}: use one of {sorted(self._embedders)} or <provider>/<model>",
            details={"field": field},
        )

    async def active_embedder(self) -> Embedder:
        return self._embedder_of(await self.store.active_model())

    def _embedder_of(self, active: EmbeddingSpec | None) -> Embedder:
        """The embedder of the active model ``active`` (the default one for a store without a model)."""
        return self.default_embedder if active is None else self.resolve_embedder(active.model, field="embedding_model")

    async def _embed(
        self, embedder: Embedder, texts: Sequence[str], *, remember: bool
    ) -> tuple[list[FloatVector], list[bool]]:
        """Unit vectors for ``texts`` and whether each came from the cache (model + text hash)."""
        digests = [text_hash(text) for text in texts]
        cached = await self.store.cached_embeddings(embedder.name, sorted(set(digests)))
        return await self._embed_missing(embedder, texts, digests, cached, remember=remember)

    async def _embed_active(self, texts: Sequence[str]) -> tuple[Embedder, list[FloatVector], list[bool]]:
        """``_embed`` with the active model's embedder, read together with the cache (one store round trip)."""
        digests = [text_hash(text) for text in texts]
        unique = sorted(set(digests))
        active, cached = await self.store.active_and_cached(self.default_embedder.name, unique)
        embedder = self._embedder_of(active)
        if embedder.name != (active.model if active else self.default_embedder.name):
            cached = await self.store.cached_embeddings(embedder.name, unique)  # not the cache that was read
        vectors, hits = await self._embed_missing(embedder, texts, digests, cached, remember=True)
        return embedder, vectors, hits

    async def _embed_missing(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        digests: Sequence[str],
        cached: dict[str, FloatVector],
        *,
        remember: bool,
    ) -> tuple[list[FloatVector], list[bool]]:
        missing = list(dict.fromkeys(text for text, digest in zip(texts, digests, strict=True) if digest not in cached))
        fresh: dict[str, FloatVector] = {}
        if missing:
            raw = await embedder.embed(missing)
            for text, vector in zip(missing, raw, strict=True):
                fresh[text_hash(text)] = as_unit_vector(vector, field="texts")
            if remember:
                await self.store.cache_embeddings(embedder.name, fresh)
        vectors = [cached[digest] if digest in cached else fresh[digest] for digest in digests]
        return vectors, [digest in cached for digest in digests]

    async def _embed_contents(self, contents: Sequence[str], active: EmbeddingSpec | None) -> list[Embedding]:
        """Prompts' vectors, by the model ``active`` names, computed without the embedding cache.

        The cache serves texts that come back (search queries, ``storage.embeddings``); a prompt's
        content is stored once (the content hash deduplicates), so looking it up there would cost
        a round trip to the store on every write for a hit that practically never happens.
        """
        embedder = self._embedder_of(active)
        return [Embedding(embedder.name, as_unit_vector(raw, field="texts")) for raw in await embedder.embed(contents)]

    # -- prompts -------------------------------------------------------------------------------

    async def store_prompt(self, request: StoreRequest) -> StoreReply:
        (reply,) = await self._store_family([(request, None)], vector_field=lambda _index: "embedding")
        return reply

    async def store_batch(self, request: StoreBatchRequest) -> StoreBatchReply:
        """Each item as ``store_prompt`` would store it, a parent before its children."""
        items = [(item.prompt, item.parent) for item in request.items]
        replies = await self._store_family(items, vector_field=lambda index: f"items[{index}].prompt.embedding")
        return StoreBatchReply(results=replies)

    async def _store_family(
        self, items: Sequence[tuple[StoreRequest, int | None]], *, vector_field: Callable[[int], str]
    ) -> list[StoreReply]:
        """Prompts, each with the index of an earlier one as its parent (or None): one read for every
        item, one embedder call for the new ones, then one ``store_many`` per generation of the
        family (a 3-phase generation: 3 writes, not 9)."""
        found, active = await self.store.find_many_for_store([content_hash(prompt.content) for prompt, _ in items])
        vectors: dict[int, Embedding] = {}
        computed: list[int] = []
        for index, (prompt, _parent) in enumerate(items):  # a caller's vector is checked before anything is stored
            if found[index] is not None:
                continue
            if prompt.embedding is None:
                computed.append(index)
                continue
            assert prompt.embedding_model is not None  # the schema requires it with an embedding
            vectors[index] = Embedding(
                prompt.embedding_model, as_unit_vector(prompt.embedding, field=vector_field(index))
            )
        if computed:
            embeddings = await self._embed_contents([items[index][0].content for index in computed], active)
            vectors.update(zip(computed, embeddings, strict=True))
        replies: dict[int, StoreReply] = {
            index: StoreReply(id=existing.id, created=False, record=existing)
            for index, existing in enumerate(found)
            if existing is not None
        }
        depth: list[int] = []
        for _prompt, parent in items:  # a parent comes first (the schema checks), so its depth is known
            depth.append(0 if parent is None else depth[parent] + 1)
        for level in range(max(depth) + 1):
            batch = [index for index in range(len(items)) if depth[index] == level and index not in replies]
            writes = []
            for index in batch:
                prompt, parent = items[index]
                if parent is not None:
                    lineage = prompt.lineage.model_copy(update={"parent_id": replies[parent].id})
                    prompt = prompt.model_copy(update={"lineage": lineage})
                writes.append((prompt, vectors[index]))
            if writes:
                replies.update(zip(batch, await self.store.store_many(writes), strict=True))
        return [replies[index] for index in range(len(items))]

    async def get(self, request: GetRequest) -> GetReply:
        return await self.store.get(request)

    async def update(self, request: UpdateRequest) -> UpdateReply:
        embedding = None
        if request.content is not None:
            (embedding,) = await self._embed_contents([request.content], await self.store.active_model())
        return await self.store.update(request, embedding)

    async def set_aggregates(self, request: AggregatesRequest) -> UpdateReply:
        """Learning's aggregates of a prompt (``storage.aggregates``): no content, nothing to embed."""
        return await self.store.update(request, None)

    async def delete(self, request: DeleteRequest) -> DeleteReply:
        return await self.store.delete(request)

    async def search(self, request: SearchRequest) -> SearchReply:
        (reply,) = await self._searches([request], vector_field=lambda _index: "vector")
        return reply

    async def search_batch(self, request: SearchBatchRequest) -> SearchBatchReply:
        """Each search as ``storage.search`` runs it; the distinct query texts embedded together."""
        replies = await self._searches(request.searches, vector_field=lambda index: f"searches[{index}].vector")
        return SearchBatchReply(replies=replies)

    async def _searches(
        self, searches: Sequence[SearchRequest], *, vector_field: Callable[[int], str]
    ) -> list[SearchReply]:
        texts = list(dict.fromkeys(search.query for search in searches if search.query is not None))
        by_text: dict[str, Embedding] = {}
        if texts:
            embedder, vectors, _ = await self._embed_active(texts)
            by_text = {text: Embedding(embedder.name, vector) for text, vector in zip(texts, vectors, strict=True)}
        queries: list[Embedding | None] = []
        for index, search in enumerate(searches):  # every given vector is checked before any search runs
            if search.query is not None:
                queries.append(by_text[search.query])
            elif search.vector is not None:
                assert search.embedding_model is not None  # the schema requires it with a vector
                vector = as_unit_vector(search.vector, field=vector_field(index))
                queries.append(Embedding(search.embedding_model, vector))
            else:
                queries.append(None)
        return [await self.store.search(search, query) for search, query in zip(searches, queries, strict=True)]

    async def lineage(self, request: LineageRequest) -> LineageReply:
        return await self.store.lineage(request)

    # -- embeddings ----------------------------------------------------------------------------

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsReply:
        if request.model:
            embedder = self.resolve_embedder(request.model)
            vectors, cached = await self._embed(embedder, request.texts, remember=True)
        else:
            embedder, vectors, cached = await self._embed_active(request.texts)
        return EmbeddingsReply(
            model=embedder.name,
            dimension=int(vectors[0].size),
            vectors=[vector.tolist() for vector in vectors],
            cached=cached,
        )

    # -- export / import -----------------------------------------------------------------------

    async def export(self, request: ExportRequest) -> ExportReply:
        page = await self.store.export_page(request)
        return ExportReply(lines=[encode_line(prompt) for prompt in page.prompts], next_cursor=page.next_cursor)

    async def import_lines(self, request: ImportRequest) -> ImportReply:
        errors: list[ImportLineError] = []
        parsed: list[tuple[int, StoredPrompt]] = []
        for number, line in enumerate(request.lines, start=1):
            try:
                parsed.append((number, decode_line(line)))
            except LineError as error:
                errors.append(ImportLineError(line=number, message=str(error)))
        await self._embed_for_import([prompt for _, prompt in parsed])
        outcomes = await self.store.import_prompts([prompt for _, prompt in parsed])
        imported = duplicates = 0
        for (number, _prompt), outcome in zip(parsed, outcomes, strict=True):
            if outcome.status is ImportStatus.IMPORTED:
                imported += 1
            elif outcome.status is ImportStatus.DUPLICATE:
                duplicates += 1
            else:
                errors.append(ImportLineError(line=number, message=outcome.message))
        errors.sort(key=lambda error: error.line)
        return ImportReply(imported=imported, duplicates=duplicates, errors=errors)

    async def _embed_for_import(self, prompts: list[StoredPrompt]) -> None:
        """Keep vectors of the active model; embed the others (or absent ones) with it."""
        active = await self.store.active_model()
        stale = [
            prompt
            for prompt in prompts
            if prompt.embedding is None or active is None or prompt.embedding.spec != active
        ]
        if not stale:
            return
        embedder = await self.active_embedder()
        vectors, _ = await self._embed(embedder, [prompt.record.content for prompt in stale], remember=False)
        for prompt, vector in zip(stale, vectors, strict=True):
            prompt.embedding = Embedding(embedder.name, vector)

    # -- re-embedding --------------------------------------------------------------------------

    async def reembed(self, request: ReembedRequest) -> ReembedReply:
        """Embed every prompt with ``request.model`` and make it the searched model."""
        target = self.resolve_embedder(request.model)
        spec = await self._spec_of(target)
        moved = await self._move_vectors(target)
        await self.store.set_active_model(spec)
        moved += await self._move_vectors(target)  # prompts stored while the first pass ran
        return ReembedReply(model=spec.model, dimension=spec.dimension, reembedded=moved)

    async def _move_vectors(self, target: Embedder) -> int:
        moved = 0
        stale = await self.store.ids_not_embedded_with(target.name)
        for start in range(0, len(stale), _REEMBED_BATCH):
            contents = await self.store.contents(stale[start : start + _REEMBED_BATCH])
            ids = list(contents)
            vectors, _ = await self._embed(target, [contents[prompt_id] for prompt_id in ids], remember=False)
            moved += await self.store.put_embeddings(
                {prompt_id: Embedding(target.name, vector) for prompt_id, vector in zip(ids, vectors, strict=True)}
            )
        return moved

    # -- stats and health ----------------------------------------------------------------------

    async def stats(self) -> StorageStats:
        return await self.store.stats()

    async def health(self) -> dict[str, CheckResult]:
        checks = await self.store.health()
        try:
            embedder = await self.active_embedder()
        except Unavailable:
            embedder = self.default_embedder  # the store check already says why
        except BadRequest as error:
            checks["embedder"] = CheckResult(ok=False, message=error.message)
            return checks
        state = "loaded" if getattr(embedder, "loaded", True) else "loads on first use"
        checks["embedder"] = CheckResult(ok=True, message=f"{embedder.name} ({state})")
        return checks
