"""Prometheus metrics of one HTTP app, in a registry of its own.

A private ``CollectorRegistry`` per app means two apps in one process (tests, or HTTP next to
a worker's metrics) never collide. Routes are labelled by their template (``/prompts/{id}``),
never by the concrete path, so ids cannot blow up the label cardinality.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["HttpMetrics", "route_label"]

UNMATCHED = "unmatched"


def route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else UNMATCHED


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "alchemy_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "alchemy_http_request_duration_seconds",
            "Time to answer an HTTP request (a whole SSE stream for streamed ones).",
            ["method", "route"],
            registry=self.registry,
        )
        # Counted in a plain int and read at scrape time: a gauge's inc/dec each take its lock,
        # twice per request on the hot path, for a number only a scrape looks at.
        self._in_flight = 0
        self.in_flight = Gauge(
            "alchemy_http_requests_in_flight", "HTTP requests being answered now.", registry=self.registry
        )
        self.in_flight.set_function(lambda: self._in_flight)
        self.rate_limited = Counter(
            "alchemy_http_rate_limited", "Requests refused by the per-caller rate limit.", registry=self.registry
        )
        self._labelled: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.sse_events = Counter(
            "alchemy_http_sse_events", "Server-sent events written, by event name.", ["event"], registry=self.registry
        )

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def started(self) -> float:
        """A request is being answered: counted in flight; returns its start for ``answered``."""
        self._in_flight += 1
        return time.perf_counter()

    def answered(self, method: str, route: str, status: int, started: float) -> None:
        """The request that ``started`` at ``started`` is answered (or failed) with ``status``;
        ``route`` is its ``route_label``."""
        self._in_flight -= 1
        answered, duration = self._children(method, route, status)
        answered.inc()
        duration.observe(time.perf_counter() - started)

    def _children(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The labelled counter and histogram of one (method, route, status), looked up once:
        ``labels()`` builds and locks its key on every call (prometheus_client's docs suggest
        keeping the child). As many as the metrics' own children, no more."""
        key = (method, route, status)
        children = self._labelled.get(key)
        if children is None:
            children = self._labelled[key] = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
        return children
