"""The ranking weights this engine replica uses, kept in step with the learning worker.

Loaded from ``learning.weights`` at start, replaced on every ``events.weights.updated``; the
hand-set defaults (version 0) serve while learning is off or unreachable, and the engine asks
again now and then until learning answers. A stale event (older version) never wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.schemas.learning import Weights, WeightsRequest, WeightsUpdated
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS

__all__ = ["WeightsBook"]

log = logging.getLogger(__name__)


class WeightsBook:
    """Current weights plus where they came from."""

    def __init__(self, bus: Bus, *, enabled: bool = True, timeout_s: float = 3.0, retry_s: float = 30.0) -> None:
        self.bus = bus
        self.enabled = enabled
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._weights = DEFAULT_WEIGHTS
        self._source = "defaults (learning disabled)" if not enabled else "defaults (not loaded yet)"
        self._last_attempt = float("-inf")
        self._reload: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def current(self) -> Weights:
        return self._weights

    @property
    def version(self) -> int:
        return self._weights.version

    @property
    def source(self) -> str:
        return self._source

    @property
    def learned(self) -> bool:
        return self._weights.version > 0 or self._source.startswith("learning")

    def apply(self, weights: Weights, source: str) -> bool:
        """Adopt ``weights`` unless they are older than the current ones; features they omit keep defaults."""
        if weights.version < self._weights.version:
            return False
        merged = {**DEFAULT_WEIGHTS.weights, **weights.weights}
        self._weights = weights.model_copy(update={"weights": merged})
        self._source = source
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return True

    async def wait_for_version(self, version: int) -> Weights:
        """Return once weights of at least ``version`` are in use (for start-up checks and tests)."""
        while self._weights.version < version:
            await self._changed.wait()
        return self._weights

    async def load(self) -> None:
        """Ask learning for its weights; on any failure keep what we have."""
        if not self.enabled:
            return
        self._last_attempt = time.monotonic()
        try:
            weights = await self.bus.request(schemas.LEARNING_WEIGHTS, WeightsRequest(), timeout=self.timeout_s)
        except AlchemyError as error:
            if not self.learned:
                self._source = f"defaults (learning unreachable: {type(error).__name__})"
            log.info("ranking weights not loaded from learning: %s", error)
            return
        self.apply(weights, f"learning (version {weights.version})")

    async def on_updated(self, event: WeightsUpdated, _context: RequestContext) -> None:
        weights = Weights(version=event.version, weights=event.weights, bias=event.bias, trained_on=event.trained_on)
        if self.apply(weights, f"learning (version {event.version}, pushed)"):
            log.info("ranking weights updated to version %d", event.version)

    def refresh_if_stale(self) -> None:
        """Still on defaults and learning may be back: ask again in the background, rate-limited."""
        if not self.enabled or self.learned or (self._reload is not None and not self._reload.done()):
            return
        if time.monotonic() - self._last_attempt < self.retry_s:
            return
        # A fresh context: the reload must not inherit (and die with) the current request's deadline.
        self._reload = asyncio.create_task(self.load(), name="engine-weights-reload", context=contextvars.Context())

    async def close(self) -> None:
        if self._reload is not None and not self._reload.done():
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload
        self._reload = None
