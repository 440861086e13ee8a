"""The caller's deadline as a work budget: stop spending provider calls once it is gone.

The bus already clips every nested request to the caller's deadline; this adds the engine's own
part: no new provider call starts after the deadline, the whole operation is cancelled when it
passes, and the answer is a clear ``DeadlineExceeded`` sent a little *before* the deadline (the
margin) so the caller receives it instead of a bare timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prompt_alchemy.bus import RequestContext
from prompt_alchemy.errors import DeadlineExceeded

__all__ = ["Budget"]

_MARGIN_SHARE = 0.1  # never reserve more than a tenth of what the caller gave


@dataclass(frozen=True, slots=True)
class Budget:
    """Unix-time point after which the engine does no more work (None: no deadline)."""

    stop_at: float | None
    what: str = "the request"

    @classmethod
    def from_context(cls, context: RequestContext | None, margin_s: float, what: str = "the request") -> Budget:
        if context is None or context.deadline is None:
            return cls(None, what)
        remaining = context.deadline - time.time()
        margin = min(margin_s, max(0.0, remaining) * _MARGIN_SHARE)
        return cls(context.deadline - margin, what)

    def remaining(self) -> float | None:
        return None if self.stop_at is None else self.stop_at - time.time()

    def exceeded(self, doing: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the caller's deadline passed before {doing}; {self.what} stopped without finishing",
            details={"stage": doing},
        )

    def check(self, doing: str) -> None:
        """Raise DeadlineExceeded if no time is left to start ``doing``."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise self.exceeded(doing)

    @asynccontextmanager
    async def scope(self, doing: str) -> AsyncIterator[None]:
        """Cancel the enclosed work when the budget runs out and raise DeadlineExceeded instead."""
        remaining = self.remaining()
        if remaining is None:
            yield
            return
        self.check(doing)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + remaining) as timeout:
                yield
        except TimeoutError as error:
            if timeout.expired():
                raise self.exceeded(doing) from error
            raise
