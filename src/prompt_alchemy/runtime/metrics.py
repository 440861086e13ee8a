"""Prometheus metrics of a process: bus requests per subject, and a /metrics listener for workers.

The HTTP gateway serves its own ``/metrics``; workers in microservice mode expose theirs on
``METRICS_PORT``. Each process owns one ``CollectorRegistry``.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import ServiceError

__all__ = ["BusMetrics", "metrics_app"]


class BusMetrics:
    """Counts and times every request a bus serves, by subject and outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "alchemy_bus_requests_total", "Requests served, by subject and status code", ["subject", "code"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "alchemy_bus_request_seconds", "Time to handle a request, by subject", ["subject"], registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip

    def observe(self, subject: str, elapsed_ns: int, error: ServiceError | None) -> None:
        self.requests.labels(subject, str(error.code) if error else "200").inc()
        self.latency.labels(subject).observe(elapsed_ns / 1e9)

    def attach(self, bus: Bus) -> None:
        bus.observers.append(self.observe)


def metrics_app(registry: CollectorRegistry) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
