"""Every provider call of the engine goes through here: one place for limits, deadline and fallback.

The providers worker retries and falls back on its own; the engine adds one thing it alone
knows: when a phase asked for a specific provider and that provider still fails, the phase is
retried once on the providers' default (and its fallback order) rather than lost, with a warning.
A provider the caller named that does not exist (404) or a malformed call (400) is not retried.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus
from prompt_alchemy.errors import ProviderError, RateLimited, RequestTimeout, Unavailable
from prompt_alchemy.schemas.providers import CompletionReply, CompletionRequest
from prompt_alchemy.workers.generation.deadline import Budget

__all__ = ["Completion", "ProviderCaller"]

_RETRY_ON_DEFAULT = (ProviderError, RateLimited, Unavailable, RequestTimeout)


@dataclass(frozen=True, slots=True)
class Completion:
    reply: CompletionReply
    warnings: list[str] = field(default_factory=list)


class ProviderCaller:
    """Sends ``providers.complete`` with at most ``max_in_flight`` calls of this replica at once."""

    def __init__(self, bus: Bus, *, timeout_s: float, max_in_flight: int) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)

    async def _send(self, request: CompletionRequest, budget: Budget, doing: str) -> CompletionReply:
        async with self._slots:
            budget.check(doing)  # waiting for a slot may have used the rest of the budget
            return await self.bus.request(schemas.PROVIDERS_COMPLETE, request, timeout=self.timeout_s)

    async def complete(self, request: CompletionRequest, budget: Budget, *, doing: str) -> Completion:
        budget.check(doing)
        try:
            reply = await self._send(request, budget, doing)
        except _RETRY_ON_DEFAULT as error:
            if request.provider is None or not request.fallback:
                raise
            reason = getattr(error, "message", str(error))
            retry = request.model_copy(update={"provider": None, "model": None})
            reply = await self._send(retry, budget, doing)
            warning = (
                f"{doing}: provider {request.provider!r} failed ({type(error).__name__}: {reason}); "
                f"answered by {reply.provider!r} instead"
            )
            return Completion(reply, [warning])
        warnings: list[str] = []
        if reply.fallback_from:
            warnings.append(
                f"{doing}: {', '.join(repr(name) for name in reply.fallback_from)} failed; "
                f"answered by {reply.provider!r} (fallback)"
            )
        return Completion(reply, warnings)
