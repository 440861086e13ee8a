"""How each worker is built from settings and started on a bus — the only place that knows them all.

Each ``*_worker`` function is an async context manager: it acquires what the worker needs (a
provider registry and its HTTP session, a store, a learning state), enters the worker, and on
exit drains the worker before releasing them — or releases them at once if the worker fails to
start. The runtime enters them on one ``AsyncExitStack`` (``enter_worker``): monolithic mode all
of them on one in-memory bus, microservice mode one per process on NATS. Given a ``Telemetry``,
each registers its ADR-32 service (discovery metadata) and what it can measure (provider replies, the
store, the learning state) with the process's metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.streams import DurableStream, open_stream, publish_event
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.private_files import private_dir
from prompt_alchemy.runtime.cache_metrics import GenerationCacheMetrics
from prompt_alchemy.runtime.provider_metrics import MeteredProviderRegistry
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.runtime.telemetry import Telemetry
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.workers.generation.settings import EngineLimits, EngineSettings, EngineTimeouts
from prompt_alchemy.workers.generation.worker import EngineWorker
from prompt_alchemy.workers.learning import (
    LearningSettings,
    LearningState,
    LearningWorker,
    RedisLearningState,
    SqliteLearningState,
    VotePolicy,
)
from prompt_alchemy.workers.learning.stream import FEEDBACK_STREAM
from prompt_alchemy.workers.lifecycle import Worker
from prompt_alchemy.workers.providers.service import ProvidersWorker
from prompt_alchemy.workers.providers.settings import from_env as providers_from_env
from prompt_alchemy.workers.storage import (
    Embedder,
    ProviderEmbedder,
    SqlitePromptStore,
    StorageWorker,
    WordLlamaEmbedder,
)
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.generation_cache import GenerationCacheStats

__all__ = [
    "FeedbackPublisher",
    "WorkerScope",
    "engine_settings",
    "engine_worker",
    "enter_worker",
    "learning_settings",
    "learning_worker",
    "open_feedback_stream",
    "providers_worker",
    "storage_worker",
]

log = logging.getLogger(__name__)


WorkerScope = AbstractAsyncContextManager[Worker]


async def enter_worker(stack: AsyncExitStack, scope: WorkerScope, telemetry: Telemetry | None) -> Worker:
    """Enter ``scope`` on ``stack`` (its resources, then the worker) and register its service."""
    worker = await stack.enter_async_context(scope)
    if telemetry is not None:
        telemetry.services.register(worker.service)
    return worker


@asynccontextmanager
async def providers_worker(
    bus: Bus, settings: Settings, environ: Mapping[str, str] | None = None, *, telemetry: Telemetry | None = None
) -> AsyncIterator[Worker]:
    """The providers worker with its registry (closed after the worker drains, or if it fails to start).

    Vendor keys are read from ``environ`` (default: the live environment) at call time; given an
    ``environ``, the provider options are read from it too instead of from ``settings``.
    """
    env = os.environ if environ is None else environ
    config = settings.providers_config() if environ is None else providers_from_env(environ)
    async with MeteredProviderRegistry(config, environ=env) as registry:
        if telemetry is not None and telemetry.metrics is not None:
            registry.report_to(telemetry.metrics.providers)
        async with ProvidersWorker(bus, registry) as worker:
            yield worker


def _embedder(bus: Bus, settings: Settings) -> Embedder:
    if settings.embedding_provider:
        if not settings.embedding_model:
            raise ConfigError("EMBEDDING_PROVIDER needs EMBEDDING_MODEL too")
        return ProviderEmbedder(bus, settings.embedding_provider, settings.embedding_model)
    return WordLlamaEmbedder()


def _store(settings: Settings) -> PromptStore:
    target = settings.redis_target
    if target is not None:
        from prompt_alchemy.workers.storage.redis_store import RedisPromptStore

        return RedisPromptStore(target)
    return SqlitePromptStore(_ensure_dir(settings.data_dir))


@asynccontextmanager
async def _closing(store: PromptStore) -> AsyncIterator[PromptStore]:
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def storage_worker(bus: Bus, settings: Settings, *, telemetry: Telemetry | None = None) -> AsyncIterator[Worker]:
    """The storage worker with its store (closed after the worker drains, or if it fails to start)."""
    embedder = _embedder(bus, settings)
    async with _closing(_store(settings)) as store:
        cache_stats = GenerationCacheStats()
        worker = StorageWorker(bus, store, embedder, cache_stats=cache_stats)
        if telemetry is not None and telemetry.metrics is not None:
            telemetry.metrics.state.watch_storage(store)
            GenerationCacheMetrics(cache_stats).register(telemetry.metrics.registry)
        async with worker:
            yield worker


def engine_settings(settings: Settings) -> EngineSettings:
    """ENGINE_CONCURRENCY bounds the generate requests one replica handles at once (and, unless
    ENGINE_PROVIDER_CALLS says otherwise, its provider calls); ENGINE_*_TIMEOUT bound its calls."""
    limits = EngineLimits(
        generate=settings.engine_concurrency,
        optimize=settings.engine_optimize_concurrency,
        batch=settings.engine_batch_concurrency,
        provider_calls=settings.engine_provider_calls or max(16, settings.engine_concurrency),
    )
    timeouts = EngineTimeouts(
        provider_s=settings.engine_provider_timeout,
        storage_s=settings.engine_storage_timeout,
        learning_s=settings.engine_learning_timeout,
        health_s=settings.engine_health_timeout,
        lookup_s=settings.engine_lookup_timeout,
        weights_retry_s=settings.engine_weights_retry,
    )
    return EngineSettings(
        default_provider=settings.engine_provider,
        judge_provider=settings.judge_provider,
        judge_model=settings.judge_model,
        learning_enabled=settings.enable_learning,
        limits=limits,
        timeouts=timeouts,
        cache_enabled=settings.generation_cache,
        cache_min_similarity=settings.cache_min_similarity,
        cache_ttl_s=settings.cache_ttl,
    )


def engine_worker(bus: Bus, settings: Settings) -> WorkerScope:
    return EngineWorker(bus, engine_settings(settings))


def learning_settings(settings: Settings) -> LearningSettings:
    return LearningSettings(
        enabled=settings.enable_learning,
        batch_size=settings.learning_batch_size,
        ack_wait=settings.learning_ack_wait,
        max_deliver=settings.learning_max_deliver,
        storage_timeout=settings.learning_storage_timeout,
        label_review_interval=settings.learning_label_review_interval,
    )


@asynccontextmanager
async def learning_worker(
    bus: Bus, settings: Settings, stream: DurableStream | None = None, *, telemetry: Telemetry | None = None
) -> AsyncIterator[Worker]:
    """The learning worker with its state, on ``stream`` (None: the feedback stream, opened and closed here).

    With learning disabled it still answers its subjects and leaves feedback in the stream, to be
    applied once it is enabled again.
    """
    async with AsyncExitStack() as stack:
        if stream is None:
            stream, _ = await open_feedback_stream(bus, settings)
            stack.push_async_callback(stream.close)
        votes = VotePolicy(votes_per_origin=settings.votes_per_origin)
        target = settings.redis_target
        state: LearningState
        if target is not None:
            state = await RedisLearningState.open(target, votes=votes)
        else:
            state = await SqliteLearningState.open(_ensure_dir(settings.data_dir), votes=votes)
        stack.push_async_callback(state.close)
        options = learning_settings(settings)
        worker = LearningWorker(bus, stream, state, options)
        if telemetry is not None and telemetry.metrics is not None:
            telemetry.metrics.state.watch_learning(state, stream, options.durable_name)
        yield await stack.enter_async_context(worker)


FeedbackPublisher = Callable[[FeedbackEvent], Awaitable[FeedbackAccepted]]


async def open_feedback_stream(bus: Bus, settings: Settings) -> tuple[DurableStream, FeedbackPublisher]:
    """The durable feedback stream for this bus and the publisher the front doors use."""
    data_dir = _ensure_dir(settings.data_dir) if not settings.nats_url else None
    stream = await open_stream(bus, FEEDBACK_STREAM, data_dir=data_dir, replicas=settings.stream_replicas)

    async def publish(event: FeedbackEvent) -> FeedbackAccepted:
        return await publish_event(stream, schemas.LEARNING_FEEDBACK, event)

    return stream, publish


def _ensure_dir(path: Path) -> Path:
    try:
        private_dir(path)
    except OSError as error:
        raise ConfigError(f"cannot create the data dir {path}: {error.strerror}") from error
    return path
