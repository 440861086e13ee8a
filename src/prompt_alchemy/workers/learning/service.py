"""The learning worker: a durable consumer of ``learning.feedback`` plus the ``learning.*`` endpoints.

    worker = build_learning_worker(bus, stream, state, LearningSettings())
    await worker.start()   # serve learning.weights|update_weights|stats|recommendations|health, consume
    await worker.stop()    # stop fetching, finish and ack the batch in hand, stop serving

The caller owns ``stream`` and ``state`` and closes them after ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack

from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus.streams import Delivery, DurableConsumer, DurableStream
from prompt_alchemy.errors import AlchemyError, Unavailable
from prompt_alchemy.schemas.health import CheckResult
from prompt_alchemy.schemas.labels import LabelStatsReply, LabelStatsRequest
from prompt_alchemy.schemas.learning import (
    LearningStats,
    LearningStatsRequest,
    RecommendationsReply,
    RecommendationsRequest,
    UpdateWeightsRequest,
    Weights,
    WeightsRequest,
)
from prompt_alchemy.schemas.registry import (
    LEARNING_HEALTH,
    LEARNING_LABEL_STATS,
    LEARNING_RECOMMENDATIONS,
    LEARNING_STATS,
    LEARNING_UPDATE_WEIGHTS,
    LEARNING_WEIGHTS,
)
from prompt_alchemy.workers.learning.applier import FeedbackApplier, publish_weights
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.label_stats import label_stats, review_policies
from prompt_alchemy.workers.learning.ledger import (
    DUPLICATES,
    EVENTS_PROCESSED,
    IGNORED_VOTES,
    PAIRWISE,
    RATING_PREFIX,
    SOURCE_PREFIX,
    counted_votes,
)
from prompt_alchemy.workers.learning.prompt_features import PromptFeatures
from prompt_alchemy.workers.learning.recommendations import recommend
from prompt_alchemy.workers.learning.settings import LearningSettings
from prompt_alchemy.workers.learning.state import LearningState
from prompt_alchemy.workers.learning.training import build_examples, fit
from prompt_alchemy.workers.lifecycle import WORKER_VERSION, Worker

__all__ = ["LEARNING_SERVICE_NAME", "LearningWorker", "build_learning_worker"]

log = logging.getLogger(__name__)

LEARNING_SERVICE_NAME = "learning"


class LearningWorker(Worker):
    """See the module docstring. ``running`` is True between ``start()`` and ``stop()``."""

    name = LEARNING_SERVICE_NAME

    def __init__(self, bus: Bus, stream: DurableStream, state: LearningState, settings: LearningSettings) -> None:
        super().__init__()
        self.bus = bus
        self.stream = stream
        self.state = state
        self.settings = settings
        self._stopping = asyncio.Event()
        self._features = PromptFeatures(
            bus, state, timeout=settings.storage_timeout, concurrency=settings.storage_concurrency
        )
        self._applier = FeedbackApplier(bus, state, self._features, settings, self._stopping)
        self._task: asyncio.Task[None] | None = None
        self._reviewer: asyncio.Task[None] | None = None
        self._refit_lock = asyncio.Lock()
        self.service = ServiceRunner(
            bus,
            name=LEARNING_SERVICE_NAME,
            version=WORKER_VERSION,
            description="Learns ranking weights and prompt aggregates from durable feedback events.",
            metadata={"stream": stream.spec.name, "consumer": settings.durable_name, "enabled": str(settings.enabled)},
            health=self.health,
            health_contract=LEARNING_HEALTH,
            default_concurrency=settings.endpoint_concurrency,
        )
        self.service.add_endpoint(LEARNING_WEIGHTS, self._weights)
        self.service.add_endpoint(LEARNING_UPDATE_WEIGHTS, self._update_weights, concurrency=1)
        self.service.add_endpoint(LEARNING_STATS, self._stats)
        self.service.add_endpoint(LEARNING_RECOMMENDATIONS, self._recommendations)
        self.service.add_endpoint(LEARNING_LABEL_STATS, self._label_stats)

    async def _open(self, resources: AsyncExitStack) -> None:
        """Serve, then consume; stopping undoes it in reverse: stop fetching, finish (and ack) the
        batch in hand, then stop serving."""
        self._stopping.clear()
        await self.service.start()
        resources.push_async_callback(self.service.stop)
        if not self.settings.enabled:
            return
        consumer = await self.stream.consumer(
            self.settings.durable_name, ack_wait=self.settings.ack_wait, max_deliver=self.settings.max_deliver
        )
        resources.push_async_callback(consumer.close)
        self._task = asyncio.create_task(self._consume(consumer), name="learning-consumer")
        resources.push_async_callback(self._finish, self._task)
        if self.settings.label_review_interval > 0:
            self._reviewer = asyncio.create_task(self._review_labels(), name="learning-label-review")
            resources.push_async_callback(self._finish, self._reviewer)

    async def _finish(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        await task

    async def _consume(self, consumer: DurableConsumer) -> None:
        needs_sync = True  # aggregates a previous run applied but never wrote back
        while not self._stopping.is_set():
            try:
                deliveries = await self._fetch_unless_stopping(consumer)
                if deliveries is None:
                    return
                if deliveries:
                    report = await self._applier.process(deliveries)
                    needs_sync = report.held
                elif needs_sync:
                    needs_sync = not await self._applier.sync_aggregates()
            except AlchemyError as error:
                log.warning("learning consumer: %s; retrying", error)
                await self._pause()
            except Exception:
                log.exception("learning consumer failed on a batch; it will be redelivered")
                await self._pause()

    async def _fetch_unless_stopping(self, consumer: DurableConsumer) -> list[Delivery] | None:
        """The next batch, or None when ``stop()`` came first: an idle long-poll does not delay it.

        A fetch abandoned that way leaves nothing half-processed: on the SQLite log a fetch whose take
        had already run hands its batch over (processed as the batch in hand); on JetStream, messages
        that reach an abandoned pull are delivered again after ack_wait.
        """
        fetch = asyncio.ensure_future(consumer.fetch(self.settings.batch_size, timeout=self.settings.fetch_timeout))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            if fetch.cancelled():
                return None
        return fetch.result()  # a fetch that had already taken its batch hands it over: the batch in hand

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.settings.outage_backoff)

    # -- endpoints -----------------------------------------------------------------------------
    async def _weights(self, _request: WeightsRequest, _context: RequestContext) -> Weights:
        return await self.state.weights()

    async def _update_weights(self, request: UpdateWeightsRequest, _context: RequestContext) -> Weights:
        if not self.settings.enabled:
            raise Unavailable("learning is disabled (ENABLE_LEARNING=false)", retriable=False)
        async with self._refit_lock:
            facts = await self.state.facts()
            lookup = await self._features.resolve(pid for fact in facts for pid in fact.prompt_ids)
            training, epochs = self.settings.training, request.epochs

            def refit(all_facts: Sequence[FeedbackFact], version: int) -> Weights:
                votes = counted_votes(all_facts)
                return fit(build_examples(votes, lookup.features), training, epochs=epochs, version=version)

            weights = await self.state.refit(refit)
        await publish_weights(self.bus, weights)
        return weights

    async def _stats(self, _request: LearningStatsRequest, _context: RequestContext) -> LearningStats:
        stats = await self.state.stats()
        try:
            dead_lettered = (await self.stream.info()).dead_letters
        except AlchemyError:
            dead_lettered = 0
        counters = stats.counters
        return LearningStats(
            enabled=self.settings.enabled,
            events_processed=counters.get(EVENTS_PROCESSED, 0),
            duplicates=counters.get(DUPLICATES, 0),
            ignored_votes=counters.get(IGNORED_VOTES, 0),
            dead_lettered=dead_lettered,
            pairwise_preferences=counters.get(PAIRWISE, 0),
            by_source={
                name.removeprefix(SOURCE_PREFIX): value
                for name, value in counters.items()
                if name.startswith(SOURCE_PREFIX)
            },
            rating_distribution={
                name.removeprefix(RATING_PREFIX): value
                for name, value in counters.items()
                if name.startswith(RATING_PREFIX)
            },
            weights_version=stats.weights_version,
        )

    async def _recommendations(self, request: RecommendationsRequest, context: RequestContext) -> RecommendationsReply:
        remaining = context.remaining()
        timeout = self.settings.storage_timeout if remaining is None else min(remaining, self.settings.storage_timeout)
        return await recommend(self.bus, await self.state.weights(), request, timeout=timeout)

    async def _review_labels(self) -> None:
        """Every ``label_review_interval`` s, apply the labels' auto_promote policies; until stop."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.label_review_interval)
                return
            try:
                await review_policies(self.bus, self.state, timeout=self.settings.storage_timeout)
            except AlchemyError as error:
                log.info("auto_promote review skipped: %s", error)

    async def _label_stats(self, request: LabelStatsRequest, context: RequestContext) -> LabelStatsReply:
        remaining = context.remaining()
        timeout = self.settings.storage_timeout if remaining is None else min(remaining, self.settings.storage_timeout)
        return await label_stats(self.bus, self.state, request, timeout=timeout)

    async def health(self) -> dict[str, CheckResult]:
        checks: dict[str, CheckResult] = {}
        try:
            stats = await self.state.stats()
            checks["state"] = CheckResult(ok=True, message=f"weights v{stats.weights_version}, {stats.prompts} prompts")
        except AlchemyError as error:
            checks["state"] = CheckResult(ok=False, message=str(error))
        try:
            info = await self.stream.info()
            consumer = info.consumers.get(self.settings.durable_name)
            waiting = consumer.pending + consumer.ack_pending if consumer else info.messages
            checks["stream"] = CheckResult(ok=True, message=f"{waiting} feedback events waiting")
        except AlchemyError as error:
            checks["stream"] = CheckResult(ok=False, message=str(error))
        if not self.settings.enabled:
            checks["consumer"] = CheckResult(ok=True, message="learning disabled: feedback is kept, not applied")
        else:
            alive = self._task is not None and not self._task.done()
            checks["consumer"] = CheckResult(ok=alive, message="consuming" if alive else "not consuming")
        return checks


def build_learning_worker(
    bus: Bus, stream: DurableStream, state: LearningState, settings: LearningSettings | None = None
) -> LearningWorker:
    """The learning worker over ``stream`` (``stream.FEEDBACK_STREAM``) and ``state``; ``start()`` it."""
    return LearningWorker(bus, stream, state, settings or LearningSettings())
