"""Monolithic mode: every worker in this process on one in-memory bus, embedded storage, no server.

This is what ``prompt-alchemy generate "..."`` runs by default and what ``serve --all`` serves.
Workers start in dependency order and stop in reverse, each draining its in-flight requests.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from prompt_alchemy.bus import Bus, InMemoryBus
from prompt_alchemy.runtime.components import (
    FeedbackPublisher,
    WorkerScope,
    engine_worker,
    enter_worker,
    learning_worker,
    open_feedback_stream,
    providers_worker,
    storage_worker,
)
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.runtime.telemetry import Telemetry, bus_middleware
from prompt_alchemy.workers.lifecycle import Worker

__all__ = ["EmbeddedRuntime"]


class EmbeddedRuntime:
    """``async with EmbeddedRuntime(settings) as runtime:`` gives ``runtime.bus`` and ``runtime.feedback``."""

    def __init__(self, settings: Settings, *, bus: Bus | None = None, telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.bus: Bus = bus or InMemoryBus(
            default_timeout=settings.request_timeout,
            liveness=settings.liveness,
            middleware=bus_middleware(
                telemetry.metrics if telemetry is not None else None, deadline_margin_s=settings.engine_deadline_margin
            ),
        )
        self.telemetry = telemetry
        self._stack: AsyncExitStack | None = None
        self._workers: list[Worker] = []
        self._publish: FeedbackPublisher | None = None

    @property
    def feedback(self) -> FeedbackPublisher:
        if self._publish is None:
            raise RuntimeError("the embedded runtime is not started")
        return self._publish

    @property
    def workers(self) -> list[str]:
        return [worker.name for worker in self._workers]

    async def start(self) -> None:
        """The bus (drained last), the feedback stream, then the workers in dependency order.

        If one fails to start, those already started stop and everything acquired is released.
        """
        if self._stack is not None:
            return
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.bus.drain)
            stack.callback(self._workers.clear)
            stream, self._publish = await open_feedback_stream(self.bus, self.settings)
            stack.push_async_callback(stream.close)
            bus, settings, telemetry = self.bus, self.settings, self.telemetry
            scopes: tuple[Callable[[], WorkerScope], ...] = (
                lambda: providers_worker(bus, settings, telemetry=telemetry),
                lambda: storage_worker(bus, settings, telemetry=telemetry),
                lambda: learning_worker(bus, settings, stream, telemetry=telemetry),
                lambda: engine_worker(bus, settings),
            )
            for scope in scopes:  # each built only once those before it run
                self._workers.append(await enter_worker(stack, scope(), telemetry))
            self._stack = stack.pop_all()

    async def stop(self) -> None:
        """Stop workers in reverse order (each drains), then close the stream and drain the bus."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
