"""Monolithic mode: every worker in this process on one in-memory bus, embedded storage, no server.

This is what ``prompt-alchemy generate "..."`` runs by default and what ``serve --all`` serves.
Workers start in dependency order and stop in reverse, each draining its in-flight requests.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.bus.streams import DurableStream
from prompt_alchemy.runtime.components import (
    FeedbackPublisher,
    Running,
    open_feedback_stream,
    start_engine,
    start_learning,
    start_providers,
    start_storage,
)
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.runtime.telemetry import Telemetry, bus_middleware

__all__ = ["EmbeddedRuntime"]

log = logging.getLogger(__name__)


class EmbeddedRuntime:
    """``async with EmbeddedRuntime(settings) as runtime:`` gives ``runtime.bus`` and ``runtime.feedback``."""

    def __init__(self, settings: Settings, *, bus: Bus | None = None, telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.bus: Bus = bus or InMemoryBus(
            default_timeout=settings.request_timeout,
            liveness=settings.liveness,
            middleware=bus_middleware(telemetry.metrics if telemetry is not None else None),
        )
        self.telemetry = telemetry
        self._running: list[Running] = []
        self._stream: DurableStream | None = None
        self._publish: FeedbackPublisher | None = None

    @property
    def feedback(self) -> FeedbackPublisher:
        if self._publish is None:
            raise RuntimeError("the embedded runtime is not started")
        return self._publish

    @property
    def workers(self) -> list[str]:
        return [running.name for running in self._running]

    async def start(self) -> None:
        try:
            telemetry = self.telemetry
            self._stream, self._publish = await open_feedback_stream(self.bus, self.settings)
            self._running.append(await start_providers(self.bus, self.settings, telemetry=telemetry))
            self._running.append(await start_storage(self.bus, self.settings, telemetry=telemetry))
            self._running.append(await start_learning(self.bus, self.settings, self._stream, telemetry=telemetry))
            self._running.append(await start_engine(self.bus, self.settings, telemetry=telemetry))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop workers in reverse order (each drains), then close the stream and the bus."""
        while self._running:
            running = self._running.pop()
            try:
                await running.stop()
            except Exception:
                log.exception("stopping %s failed", running.name)
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        await self.bus.drain()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
