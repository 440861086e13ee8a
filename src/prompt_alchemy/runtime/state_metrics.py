"""Metrics only a store can tell: prompts and bytes stored, feedback processed and waiting.

Reading them takes I/O (a Redis round trip, an SQLite query), which a Prometheus collector
cannot do (``collect()`` is synchronous), so ``StateGauges.refresh()`` reads them ahead: on
every scrape of a worker's own ``/metrics``, and periodically where the gateway serves the
scrape. A store that cannot answer leaves the last values and raises ``alchemy_state_read_errors``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from prompt_alchemy.bus.streams import DurableStream
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.workers.learning import LearningState
from prompt_alchemy.workers.learning.ledger import DUPLICATES, EVENTS_PROCESSED
from prompt_alchemy.workers.storage.backend import PromptStore

__all__ = ["StateGauges"]

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0

Probe = Callable[[], Awaitable[None]]


class StateGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._probes: dict[str, Probe] = {}
        self._gauges: dict[str, Gauge] = {}
        self.read_errors = Counter(
            "alchemy_state_read_errors", "Reads of a store's numbers that failed, by store", ["store"],
            registry=registry,
        )  # fmt: skip

    def _gauge(self, name: str, documentation: str) -> Gauge:
        if name not in self._gauges:
            self._gauges[name] = Gauge(name, documentation, registry=self.registry)
        return self._gauges[name]

    def watch_storage(self, store: PromptStore) -> None:
        prompts = self._gauge("alchemy_storage_prompts", "Prompts stored (latest versions)")
        versions = self._gauge("alchemy_storage_versions", "Prompt versions stored, earlier ones included")
        size = self._gauge("alchemy_storage_size_bytes", "Bytes the store occupies (-1: the backend cannot tell)")

        async def probe() -> None:
            stats = await store.stats()
            prompts.set(stats.prompts)
            versions.set(stats.versions)
            size.set(-1 if stats.size_bytes is None else stats.size_bytes)

        self._probes["storage"] = probe

    def watch_learning(self, state: LearningState, stream: DurableStream, durable_name: str) -> None:
        processed = self._gauge("alchemy_learning_feedback_processed", "Feedback events applied (all time)")
        duplicates = self._gauge("alchemy_learning_feedback_duplicates", "Redelivered events recognised and skipped")
        weights = self._gauge("alchemy_learning_weights_version", "Version of the ranking weights")
        waiting = self._gauge("alchemy_feedback_waiting", "Feedback events in the stream not yet acked by learning")
        dead = self._gauge("alchemy_feedback_dead_letters", "Feedback events parked after too many failures")

        async def probe_state() -> None:
            stats = await state.stats()
            processed.set(stats.counters.get(EVENTS_PROCESSED, 0))
            duplicates.set(stats.counters.get(DUPLICATES, 0))
            weights.set(stats.weights_version)

        async def probe_stream() -> None:
            info = await stream.info()
            consumer = info.consumers.get(durable_name)
            waiting.set(consumer.pending + consumer.ack_pending if consumer else info.messages)
            dead.set(info.dead_letters)

        self._probes["learning"] = probe_state
        self._probes["feedback_stream"] = probe_stream

    async def refresh(self) -> None:
        """Read every watched store once, each bounded by ``READ_TIMEOUT_S``."""
        await asyncio.gather(*(self._read(name, probe) for name, probe in self._probes.items()))

    async def _read(self, name: str, probe: Probe) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                await probe()
        except (AlchemyError, TimeoutError, OSError) as error:
            self.read_errors.labels(name).inc()
            log.debug("metrics: reading %s failed: %s", name, error)
