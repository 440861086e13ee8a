"""How each worker is built from settings and started on a bus — the only place that knows them all.

Each ``start_*`` function returns a ``Running`` whose ``stop()`` drains the worker and releases
what it owns (HTTP sessions, store connections). Monolithic mode starts all of them on one
in-memory bus; microservice mode starts one per process on NATS. Both call the same functions.
Given a ``Telemetry``, each registers its ADR-32 service (discovery metadata) and what it can
measure (provider replies, the store, the learning state) with the process's metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.streams import FEEDBACK_STREAM, DurableStream, open_stream, publish_event
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.private_files import private_dir
from prompt_alchemy.runtime.cache_metrics import GenerationCacheMetrics
from prompt_alchemy.runtime.provider_metrics import MeteredProviderRegistry
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.runtime.telemetry import Telemetry
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.workers.generation.settings import EngineLimits, EngineSettings
from prompt_alchemy.workers.generation.worker import build_engine_worker
from prompt_alchemy.workers.learning import (
    LearningSettings,
    LearningState,
    RedisLearningState,
    SqliteLearningState,
    VotePolicy,
    build_learning_worker,
)
from prompt_alchemy.workers.providers.service import build_providers_service
from prompt_alchemy.workers.providers.settings import from_env as providers_from_env
from prompt_alchemy.workers.storage import (
    Embedder,
    ProviderEmbedder,
    SqlitePromptStore,
    WordLlamaEmbedder,
    build_storage_service,
)
from prompt_alchemy.workers.storage.backend import PromptStore
from prompt_alchemy.workers.storage.generation_cache import GenerationCacheStats

__all__ = [
    "FeedbackPublisher",
    "Running",
    "engine_settings",
    "learning_settings",
    "open_feedback_stream",
    "start_engine",
    "start_learning",
    "start_providers",
    "start_storage",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Running:
    """A started worker: its name and how to stop it gracefully."""

    name: str
    stop: Callable[[], Awaitable[None]]


async def start_providers(
    bus: Bus, _settings: Settings, environ: Mapping[str, str] | None = None, *, telemetry: Telemetry | None = None
) -> Running:
    env = os.environ if environ is None else environ
    registry = MeteredProviderRegistry(providers_from_env(env), environ=env)
    service = build_providers_service(bus, registry)
    if telemetry is not None:
        telemetry.services.register(service)
        if telemetry.metrics is not None:
            registry.report_to(telemetry.metrics.providers)
    await service.start()

    async def stop() -> None:
        await service.stop()
        await registry.aclose()

    return Running("providers", stop)


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


async def start_storage(bus: Bus, settings: Settings, *, telemetry: Telemetry | None = None) -> Running:
    store = _store(settings)
    cache_stats = GenerationCacheStats()
    service = build_storage_service(bus, store, _embedder(bus, settings), cache_stats=cache_stats)
    if telemetry is not None:
        telemetry.services.register(service)
        if telemetry.metrics is not None:
            telemetry.metrics.state.watch_storage(store)
            GenerationCacheMetrics(cache_stats).register(telemetry.metrics.registry)
    await service.start()

    async def stop() -> None:
        await service.stop()
        await store.close()

    return Running("storage", stop)


def engine_settings(settings: Settings) -> EngineSettings:
    """ENGINE_CONCURRENCY bounds the generate requests one replica handles at once (and its provider calls)."""
    limits = EngineLimits(generate=settings.engine_concurrency, provider_calls=max(16, settings.engine_concurrency))
    return EngineSettings(
        default_provider=settings.engine_provider,
        judge_provider=settings.judge_provider,
        judge_model=settings.judge_model,
        learning_enabled=settings.enable_learning,
        limits=limits,
        cache_enabled=settings.generation_cache,
        cache_min_similarity=settings.cache_min_similarity,
        cache_ttl_s=settings.cache_ttl,
    )


async def start_engine(bus: Bus, settings: Settings, *, telemetry: Telemetry | None = None) -> Running:
    worker = build_engine_worker(bus, engine_settings(settings))
    if telemetry is not None:
        telemetry.services.register(worker.service)
    await worker.start()
    return Running("engine", worker.stop)


def learning_settings(settings: Settings) -> LearningSettings:
    return LearningSettings(enabled=settings.enable_learning)


async def start_learning(
    bus: Bus, settings: Settings, stream: DurableStream, *, telemetry: Telemetry | None = None
) -> Running:
    """The learning worker on ``stream``; with learning disabled it still answers its subjects and
    leaves feedback in the stream, to be applied once it is enabled again."""
    state: LearningState
    votes = VotePolicy(votes_per_origin=settings.votes_per_origin)
    target = settings.redis_target
    if target is not None:
        state = await RedisLearningState.open(target, votes=votes)
    else:
        state = await SqliteLearningState.open(_ensure_dir(settings.data_dir), votes=votes)
    options = learning_settings(settings)
    worker = build_learning_worker(bus, stream, state, options)
    if telemetry is not None:
        telemetry.services.register(worker.service)
        if telemetry.metrics is not None:
            telemetry.metrics.state.watch_learning(state, stream, options.durable_name)
    try:
        await worker.start()
    except BaseException:
        await state.close()
        raise

    async def stop() -> None:
        await worker.stop()
        await state.close()

    return Running("learning", stop)


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
