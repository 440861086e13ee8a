"""Prometheus metrics of the requests a process's bus serves: count, errors, latency, in flight.

Labelled by subject (``alchemy.v1.engine.generate``), never by anything a caller chooses, so the
label cardinality is the registry's size. Errors are also counted by status code, so a
dashboard can tell a client's 400s from a dependency's 503s.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prompt_alchemy.bus import Bus
from prompt_alchemy.bus.middleware import Middleware, ServeNext, Serving
from prompt_alchemy.errors import ServiceError

__all__ = ["LATENCY_BUCKETS", "BusMetrics"]

MetricT = TypeVar("MetricT", Counter, Histogram)

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _InFlight(Collector):
    """Reads the in-flight tally at scrape time: handlers running now, by subject."""

    def __init__(self, in_flight: Tally[str]) -> None:
        self._in_flight = in_flight

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "alchemy_bus_requests_in_flight", "Requests being handled now, by subject", labels=["subject"]
        )
        for subject, count in sorted(self._in_flight.items()):
            family.add_metric([subject], count)
        yield family


class BusMetrics(Middleware):
    """A layer of the bus's chain: counts and times every request served, by subject and outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.in_flight: Tally[str] = Tally()  # requests being handled now, by subject
        registry.register(_InFlight(self.in_flight))
        self.requests = Counter(
            "alchemy_bus_requests", "Requests served, by subject and status code", ["subject", "code"],
            registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            "alchemy_bus_errors", "Requests answered with an error, by subject and status code", ["subject", "code"],
            registry=registry,
        )  # fmt: skip
        self._children: dict[tuple[object, ...], Counter | Histogram] = {}
        self.latency = Histogram(
            "alchemy_bus_request_seconds", "Time to handle a request, by subject", ["subject"], registry=registry,
            buckets=LATENCY_BUCKETS,
        )  # fmt: skip

    async def serve(self, call: Serving, call_next: ServeNext) -> bytes:
        subject, code = call.contract.subject, "200"
        started = time.perf_counter()
        self.in_flight[subject] += 1
        try:
            return await call_next(call)
        except ServiceError as error:
            code = str(error.code)
            self._child(self.errors, subject, code).inc()
            raise
        finally:
            self.in_flight[subject] -= 1
            self._child(self.requests, subject, code).inc()
            self._child(self.latency, subject).observe(time.perf_counter() - started)

    def _child(self, metric: MetricT, *labels: str) -> MetricT:
        """``metric.labels(*labels)``, kept: prometheus-client checks and locks on every lookup, and
        the label sets are few (the registry's subjects times the status codes)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return cast(MetricT, child)

    def attach(self, bus: Bus) -> None:
        bus.use(self)
