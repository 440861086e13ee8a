"""Applying one fetched batch of feedback: validate, de-duplicate, learn, ack, sync, announce.

For each batch, in this order:

1. decode every delivery; an invalid one is dead-lettered at once with the validation message;
2. skip events applied before (redeliveries after a crash or a lost ack) — acked, counted;
3. resolve the features of the prompts involved (cache, else ``storage.get``); an event naming a
   prompt storage does not know (or refuses to return) is nak'd with a delay and dead-lettered
   after ``max_deliver``;
4. ``state.apply`` the rest in one atomic step (aggregates, counters, online weight update), then ack;
5. write the changed aggregates back with one ``storage.update`` per prompt;
6. publish ``events.weights.updated`` once if the weights changed.

A dependency outage (storage or state unreachable) is not the events' fault: the batch is held
(``in_progress`` keeps the stream from redelivering it) and retried until it goes through or the
worker stops. An unexpected failure of the whole batch is retried event by event, so one poison
event is nak'd (and eventually dead-lettered) without holding up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.streams import Delivery, decode_delivery
from prompt_alchemy.errors import AlchemyError, BadRequest, NotFound, ServiceError
from prompt_alchemy.schemas.learning import Weights, WeightsUpdated
from prompt_alchemy.schemas.registry import EVENTS_WEIGHTS_UPDATED, LEARNING_FEEDBACK, STORAGE_AGGREGATES
from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.outages import OUTAGES
from prompt_alchemy.workers.learning.prompt_features import PromptFeatures
from prompt_alchemy.workers.learning.settings import LearningSettings
from prompt_alchemy.workers.learning.state import LearningState, OnlineTrainer
from prompt_alchemy.workers.learning.training import build_examples, online_update

__all__ = ["BatchReport", "FeedbackApplier", "publish_weights"]

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0
T = TypeVar("T")
Pending = list[tuple[Delivery, FeedbackFact]]


@dataclass(frozen=True, slots=True)
class BatchReport:
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0  # dead-lettered or nak'd for a retry
    held: bool = False  # the worker stopped during an outage: left for redelivery


async def publish_weights(bus: Bus, weights: Weights) -> None:
    """Tell every engine replica to reload; a failure is logged (they also read ``learning.weights``)."""
    try:
        await bus.publish(
            EVENTS_WEIGHTS_UPDATED,
            WeightsUpdated(
                version=weights.version, weights=weights.weights, bias=weights.bias, trained_on=weights.trained_on
            ),
        )
    except AlchemyError as error:
        log.warning("could not announce weights version %d: %s", weights.version, error)


class FeedbackApplier:
    def __init__(
        self,
        bus: Bus,
        state: LearningState,
        features: PromptFeatures,
        settings: LearningSettings,
        stopping: asyncio.Event,
    ) -> None:
        self._bus = bus
        self._state = state
        self._features = features
        self._settings = settings
        self._stopping = stopping
        self._storage_slots = asyncio.Semaphore(settings.storage_concurrency)

    async def process(self, deliveries: Sequence[Delivery]) -> BatchReport:
        pending: Pending = []
        rejected = 0
        for delivery in deliveries:
            try:
                event = decode_delivery(LEARNING_FEEDBACK, delivery)
            except BadRequest as error:
                await delivery.term(f"invalid feedback event: {error.message}")
                rejected += 1
                continue
            pending.append((delivery, FeedbackFact.from_event(event, received_at=time.time())))
        if not pending:
            return BatchReport(rejected=rejected)
        held = [delivery for delivery, _ in pending]
        report = await self._through_outages(held, lambda: self._apply(pending))
        if report is None:
            return BatchReport(rejected=rejected, held=True)
        await self.sync_aggregates()
        return BatchReport(report.applied, report.duplicates, report.rejected + rejected)

    async def _apply(self, pending: Pending) -> BatchReport:
        unseen = await self._state.unseen([fact.event_id for _, fact in pending])
        seen_before = [delivery for delivery, fact in pending if fact.event_id not in unseen]
        fresh = [(delivery, fact) for delivery, fact in pending if fact.event_id in unseen]
        lookup = await self._features.resolve(pid for _, fact in fresh for pid in fact.prompt_ids)
        unknown = [(d, f) for d, f in fresh if any(pid in lookup.unresolved for pid in f.prompt_ids)]
        ready = [(d, f) for d, f in fresh if not any(pid in lookup.unresolved for pid in f.prompt_ids)]

        trainer = self._trainer(lookup.features)
        try:
            outcome = await self._state.apply([fact for _, fact in ready], trainer)
            applied, duplicates, weights = outcome.applied, outcome.duplicates, outcome.weights
            failed: list[tuple[Delivery, Exception]] = []
        except OUTAGES:
            raise
        except Exception as error:  # a poison event among them: find it, apply the others
            log.exception("applying a batch of %d failed; retrying event by event", len(ready))
            applied, duplicates, weights, failed = await self._apply_one_by_one(ready, trainer, error)

        await self._state.count_duplicates(len(seen_before))
        failed_ids = {id(delivery) for delivery, _ in failed}
        done = seen_before + [delivery for delivery, _ in ready if id(delivery) not in failed_ids]
        await asyncio.gather(*(delivery.ack() for delivery in done))
        for delivery, fact in unknown:
            reason = "; ".join(
                f"prompt {pid} {lookup.unresolved[pid]}" for pid in fact.prompt_ids if pid in lookup.unresolved
            )
            await delivery.nak(self._settings.retry_delay, reason=reason)
        for delivery, failure in failed:
            reason = f"processing failed: {type(failure).__name__}: {failure}"
            await delivery.nak(self._settings.retry_delay, reason=reason)
        if weights is not None:
            await publish_weights(self._bus, weights)
        return BatchReport(applied, duplicates + len(seen_before), len(unknown) + len(failed))

    async def _apply_one_by_one(
        self, ready: Pending, trainer: OnlineTrainer, first_error: Exception
    ) -> tuple[int, int, Weights | None, list[tuple[Delivery, Exception]]]:
        applied = duplicates = 0
        weights: Weights | None = None
        failed: list[tuple[Delivery, Exception]] = []
        for delivery, fact in ready:
            try:
                outcome = await self._state.apply([fact], trainer)
            except OUTAGES:
                raise
            except Exception as error:
                failed.append((delivery, error))
                continue
            applied += outcome.applied
            duplicates += outcome.duplicates
            weights = outcome.weights or weights
        if len(failed) == len(ready) and ready:
            log.error("every event of the batch failed alike (%s): a bug rather than poison?", first_error)
        return applied, duplicates, weights, failed

    def _trainer(self, features: dict[str, dict[str, float]]) -> OnlineTrainer:
        training = self._settings.training

        def train(current: Weights, facts: Sequence[FeedbackFact]) -> Weights | None:
            return online_update(current, build_examples(facts, features), training)

        return train

    async def _through_outages(self, held: Sequence[Delivery], attempt: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``attempt`` until no dependency outage stops it; None if the worker stops first."""
        backoff = self._settings.outage_backoff
        while True:
            try:
                return await attempt()
            except OUTAGES as error:
                log.warning("learning is waiting for a dependency: %s", error)
            if self._stopping.is_set():
                return None
            for delivery in held:
                with contextlib.suppress(AlchemyError):
                    await delivery.in_progress()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    # -- writing aggregates back to storage ----------------------------------------------------
    async def sync_aggregates(self) -> bool:
        """Write every changed aggregate to storage; False if storage or the state is unreachable."""
        try:
            while True:
                changed = await self._state.unsynced(self._settings.sync_batch)
                if not changed:
                    return True
                now = time.time()
                written = await asyncio.gather(*(self._write(aggregate, now) for aggregate in changed))
                await self._state.mark_synced(
                    {
                        aggregate.prompt_id: aggregate.revision
                        for aggregate, ok in zip(changed, written, strict=True)
                        if ok
                    }
                )
                if not all(written):
                    return False
        except OUTAGES as error:
            log.warning("aggregates not synced to storage yet: %s", error)
            return False

    async def _write(self, aggregate: PromptAggregate, now: float) -> bool:
        request = aggregate.update_request(now, self._state.half_life)
        async with self._storage_slots:
            try:
                await self._bus.request(STORAGE_AGGREGATES, request, timeout=self._settings.storage_timeout)
            except NotFound:
                log.warning("prompt %s is gone from storage; its aggregates stay here only", aggregate.prompt_id)
            except OUTAGES:
                return False
            except ServiceError as error:
                log.error("storage refused the aggregates of %s: %s", aggregate.prompt_id, error)
        return True
