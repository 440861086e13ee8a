"""The one shape of a worker: an async context manager with ``start``, ``stop`` and ``health``.

    async with StorageWorker(bus, store) as worker:   # start(): acquire, then serve
        ...
                                                       # stop(): stop serving, then release

A worker acquires its resources in ``_open`` and registers how to release each on the given
``AsyncExitStack``, in the order it acquired them; ``stop()`` releases them in reverse, and a
``start()`` that fails half-way releases what it had acquired before the error travels on (as
``contextlib.AsyncExitStack`` does for ``async with``). What a worker is handed at construction
(a store, a provider registry, a learning state, a stream) stays the caller's: the runtime puts
each on its own exit stack before the worker, so it outlives the worker's drain. Each worker is
versioned as the installed package.
"""

from __future__ import annotations

import abc
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from prompt_alchemy import __version__
from prompt_alchemy.bus import ServiceRunner
from prompt_alchemy.schemas.health import CheckResult

__all__ = ["WORKER_VERSION", "Worker"]

WORKER_VERSION = __version__
"""The version every worker announces in discovery and health: the installed package's."""


class Worker(abc.ABC):
    """Base of every worker: ``service`` is its ADR-32 service; subclasses implement ``_open`` and ``health``."""

    name: str
    service: ServiceRunner

    def __init__(self) -> None:
        self._resources: AsyncExitStack | None = None

    @property
    def version(self) -> str:
        return self.service.version

    @property
    def id(self) -> str:
        """This instance's id in discovery (``$SRV.PING.<name>.<id>``)."""
        return self.service.id

    @property
    def running(self) -> bool:
        return self._resources is not None

    async def start(self) -> None:
        """Acquire and serve; idempotent. On failure what was acquired is released first."""
        if self._resources is not None:
            return
        async with AsyncExitStack() as resources:
            await self._open(resources)
            self._resources = resources.pop_all()

    async def stop(self) -> None:
        """Stop serving (in-flight requests finish), then release in reverse order; idempotent."""
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()

    @abc.abstractmethod
    async def _open(self, resources: AsyncExitStack) -> None:
        """Acquire what the worker needs, registering each release on ``resources``; start serving last."""

    async def health(self) -> dict[str, CheckResult]:
        return {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
