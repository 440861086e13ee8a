"""Semantic generation cache metrics: hits, misses, entries stored and invalidated.

The storage worker counts them in ``GenerationCacheStats``; this collector reads the counts at
scrape time, so the worker needs no Prometheus of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from prompt_alchemy.workers.storage.generation_cache import GenerationCacheStats

__all__ = ["GenerationCacheMetrics"]


class GenerationCacheMetrics(Collector):
    def __init__(self, stats: GenerationCacheStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, documentation, value in (
            ("alchemy_generation_cache_hits", "Generations answered from the semantic cache", self._stats.hits),
            ("alchemy_generation_cache_misses", "Cache lookups that found no near-identical idea", self._stats.misses),
            ("alchemy_generation_cache_stored", "Generations remembered by the cache", self._stats.stored),
            (
                "alchemy_generation_cache_invalidated",
                "Cache entries dropped because a source prompt was deleted",
                self._stats.invalidated,
            ),
        ):
            yield CounterMetricFamily(name, documentation, value=value)

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)
