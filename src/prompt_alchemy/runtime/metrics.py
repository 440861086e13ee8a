"""The Prometheus metrics of one process, in one ``CollectorRegistry`` of its own.

What a process measures depends on what it runs: every process counts the bus requests it
serves; the providers worker adds tokens, cost, retries and circuits; storage and learning add
their stores' numbers. Where they are scraped:

- a worker in microservice mode: its own ``/metrics`` listener (``METRICS_HOST``/``METRICS_PORT``,
  port 0 picks a free one; the URL is printed and put in the worker's discovery metadata);
- a process with the HTTP gateway (``serve --all``, ``serve api``): the gateway's ``/metrics``,
  which then shows the gateway's HTTP metrics and these side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Info, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from prompt_alchemy import __version__
from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.http import HttpServer
from prompt_alchemy.runtime.bus_metrics import BusMetrics
from prompt_alchemy.runtime.listeners import listen
from prompt_alchemy.runtime.provider_metrics import ProviderMetrics
from prompt_alchemy.runtime.state_metrics import StateGauges

__all__ = ["REFRESH_INTERVAL_S", "ProcessMetrics"]

REFRESH_INTERVAL_S = 5.0


class _Bridge(Collector):
    """Shows one registry's metrics inside another (the gateway's)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()


class ProcessMetrics:
    def __init__(self, role: str, mode: str) -> None:
        self.registry = CollectorRegistry()
        Info("alchemy_process", "What this process runs", registry=self.registry).info(
            {"role": role, "mode": mode, "version": __version__, "python": platform.python_version()}
        )
        self.bus = BusMetrics(self.registry)
        self.state = StateGauges(self.registry)
        self._providers: ProviderMetrics | None = None

    @property
    def providers(self) -> ProviderMetrics:
        if self._providers is None:
            self._providers = ProviderMetrics(self.registry)
        return self._providers

    def attach(self, bus: Bus) -> None:
        self.bus.attach(bus)

    async def refresh(self) -> None:
        await self.state.refresh()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def show_in(self, registry: CollectorRegistry) -> None:
        """Make ``registry`` (e.g. the HTTP gateway's) expose this process's metrics too."""
        registry.register(_Bridge(self.registry))

    def app(self) -> web.Application:
        async def metrics(_request: web.Request) -> web.Response:
            await self.refresh()
            return web.Response(body=self.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        return app

    @contextlib.asynccontextmanager
    async def listener(self, host: str, port: int) -> AsyncIterator[str]:
        """Serve ``/metrics`` on ``host:port`` (0: any free port); yields its URL."""
        server = HttpServer(self.app(), host, port)
        await listen("the metrics listener", server, host, port)
        try:
            yield f"{server.url}/metrics"
        finally:
            await server.stop()

    @contextlib.asynccontextmanager
    async def refreshing(self, interval: float = REFRESH_INTERVAL_S) -> AsyncIterator[None]:
        """Refresh the stores' numbers every ``interval`` seconds, for scrapes that do not ask first."""

        async def loop() -> None:
            while True:
                await self.refresh()
                await asyncio.sleep(interval)

        task = asyncio.create_task(loop(), name="metrics-refresh")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
